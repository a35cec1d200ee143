// Small pieces shared by the pages: notices, tabs, key/value tables, status badges.

import { h, replace } from "../dom.js";

/** A short notice at the bottom of the window; kind: 'info' or 'error'. */
export function toast(message, kind = "info") {
  const note = h(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, message);
  document.getElementById("toasts").append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 3500);
}

/** Run an action, reporting an error as a notice; resolves to the action's result or undefined. */
export async function attempt(action, done) {
  try {
    const result = await action();
    if (done) toast(done);
    return result;
  } catch (error) {
    toast(errorText(error), "error");
    return undefined;
  }
}

/** An error as the user reads it: a refusal (403, with auth on) says so first. */
export function errorText(error) {
  const message = error.message || String(error);
  if (error.status !== 403) return message;
  if (/^permission denied\.?$/i.test(message)) return "Permission denied: you may not do this here. Ask an admin or whoever manages it.";
  return /^permission denied/i.test(message) ? message : `Permission denied: ${message}`;
}

/** Tabs as links: [{label, href}], the one with `current` marked. */
export function tabs(items, current) {
  return h("nav.tabs", { "aria-label": "Sections" },
    items.map(({ label, href, id }) => h("a.tab", { href, "aria-current": id === current ? "page" : null }, label)));
}

/** A two-column table; rows: [[key, value node or text], ...]. */
export function kvTable(rows, { empty = "None", caption } = {}) {
  if (!rows.length) return h("p.muted", empty);
  return h("table.kv", caption ? h("caption", caption) : null,
    h("tbody", rows.map(([key, value, extra]) => h("tr", h("th", { scope: "row" }, key), h("td", value), extra ? h("td.actions", extra) : null))));
}

const STATUS_CLASS = { FINISHED: "ok", RUNNING: "run", SCHEDULED: "run", FAILED: "bad", KILLED: "bad" };

export function statusBadge(status) {
  return h(`span.badge.${STATUS_CLASS[status] || "neutral"}`, { title: status }, status ? status.toLowerCase() : "unknown");
}

/** A panel whose body loads asynchronously; errors show in place. */
export function lazyPanel(title, load) {
  const body = h("div.panel-body", h("p.loading", "Loading…"));
  Promise.resolve().then(load).then((content) => replace(body, content), (error) => replace(body, h("p.error-box", error.message)));
  return h("section.panel", h("h2", title), body);
}

/** A button: button('Label', onClick, {kind: 'primary'|'danger'|'ghost', title, label}); `label`
 *  names it for assistive technology when the text alone is ambiguous (a row's "Revoke"). */
export function button(text, onClick, { kind = "", title, label, type = "button", disabled } = {}) {
  return h(`button.btn${kind ? `.${kind}` : ""}`, { type, title, "aria-label": label, disabled, on: { click: onClick } }, text);
}

export function pageHeader(crumbs, title, ...actions) {
  document.title = `${title} · MLflow`;
  return h("header.page-header",
    crumbs.length ? h("nav.crumbs", { "aria-label": "Breadcrumb" }, crumbs.map((c) => [c, h("span.sep", { "aria-hidden": "true" }, "/")])) : null,
    h("div.title-row", h("h1", title), h("div.actions", actions)));
}
