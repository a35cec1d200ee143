// Form controls of the auth pages: a permission level, a username.

import { h } from "../dom.js";
import { PERMISSIONS, listUsers } from "./auth-api.js";

/** A <select> of the permission levels. */
export function permissionSelect(value, label, onChange) {
  const select = h("select.input", { "aria-label": label, on: onChange ? { change: () => onChange(select.value) } : null },
    PERMISSIONS.map(([level, meaning]) => h("option", { value: level, selected: level === value, title: meaning }, level)));
  return select;
}

/** A text box for a username, offering the users the server knows. */
export function usernameInput(label = "Username") {
  const id = `users-${Math.random().toString(36).slice(2)}`;
  const list = h("datalist", { id });
  listUsers().then((users) => list.append(...users.map((u) => h("option", { value: u.username }))), () => {});
  return h("span.username-input", h("input.input", { type: "text", required: true, list: id, autocomplete: "off", "aria-label": label, placeholder: "username" }), list);
}
