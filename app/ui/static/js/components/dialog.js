// Modal dialogs on the native <dialog> element: focus is trapped in them and Escape cancels.

import { h } from "../dom.js";

function open(title, body, okLabel, danger = false) {
  return new Promise((resolve) => {
    const form = h("form.dialog-form", { method: "dialog" },
      h("h2", title), body,
      h("div.dialog-actions",
        h("button.btn", { type: "button", value: "cancel", on: { click: () => dialog.close("cancel") } }, "Cancel"),
        h(`button.btn.${danger ? "danger" : "primary"}`, { type: "submit", value: "ok" }, okLabel)));
    const dialog = h("dialog.dialog", form);
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ask for a line of text; resolves to the text, or null when cancelled. */
export async function ask(title, label, value = "", okLabel = "Save") {
  const input = h("input.input", { type: "text", value, required: true, "aria-label": label });
  const body = h("label.field", h("span", label), input);
  queueMicrotask(() => { input.focus(); input.select(); });
  return (await open(title, body, okLabel)) ? input.value.trim() : null;
}

/** Ask for a key and a value (tags). */
export async function askPair(title, key = "", value = "") {
  const keyInput = h("input.input", { type: "text", value: key, required: true, readonly: Boolean(key) });
  const valueInput = h("textarea.input", { rows: 3 }, value);
  const body = h("div", h("label.field", h("span", "Key"), keyInput), h("label.field", h("span", "Value"), valueInput));
  queueMicrotask(() => (key ? valueInput : keyInput).focus());
  return (await open(title, body, "Save")) ? { key: keyInput.value.trim(), value: valueInput.value } : null;
}

/**
 * Ask for several fields at once; resolves to {name: value} (a checkbox's: true or false), or
 * null when cancelled. fields: [{name, label, type ('text', 'password', 'number', 'textarea',
 * 'checkbox' or 'select' with options [[value, label]]), value, ...attributes}].
 */
export async function askFields(title, fields, okLabel = "Save") {
  const inputs = {};
  const body = h("div", fields.map(({ name, label, type = "text", value = "", options, ...attributes }) => {
    if (type === "checkbox") {
      inputs[name] = h("input", { type, checked: Boolean(value), ...attributes });
      return h("label.check-label.field-check", inputs[name], label);
    }
    inputs[name] = type === "textarea" ? h("textarea.input", { rows: 3, ...attributes }, value)
      : type === "select" ? h("select.input", attributes, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)))
        : h("input.input", { type, value, ...attributes });
    return h("label.field", h("span", label), inputs[name]);
  }));
  queueMicrotask(() => Object.values(inputs)[0]?.focus());
  if (!await open(title, body, okLabel)) return null;
  return Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.type === "checkbox" ? input.checked : input.value]));
}

export function confirm(title, text, okLabel = "Delete", danger = okLabel === "Delete") {
  return open(title, h("p", text), okLabel, danger);
}
