// The permissions of one experiment, registered model or prompt, for those who manage it:
// who holds a grant of their own on it, changing or revoking each, and granting one to a user.
// (What roles grant is managed by admins under Admin → Roles.)

import { confirm } from "../components/dialog.js";
import { attempt, button, errorText } from "../components/widgets.js";
import { h, replace } from "../dom.js";
import { PERMISSIONS, changeGrant, grant, grantsOn, revoke } from "./auth-api.js";
import { permissionSelect, usernameInput } from "./inputs.js";
import { manages, signedIn } from "./session.js";

const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));  // the page, as it is now allowed
const WHAT = { experiment: "experiment", registered_model: "model", prompt: "prompt" };

/** Append the panel to `page` once it is known that the signed-in user manages the resource. */
export async function addPermissionsPanel(page, resourceType, resourceId) {
  if (await manages(resourceType, resourceId)) page.append(permissionsPanel(resourceType, resourceId));
}

export function permissionsPanel(resourceType, resourceId) {
  const what = WHAT[resourceType] || resourceType;
  const body = h("div", h("p.loading", "Loading…"));
  const userBox = usernameInput("User to grant a permission to");
  const levelSelect = permissionSelect("READ", "Permission to grant");
  const form = h("form.grant-form", { on: { submit: (e) => { e.preventDefault(); grantTo(); } } },
    userBox, levelSelect, h("button.btn.primary", { type: "submit" }, "Grant"));
  let holders = [];

  async function load() {
    try {
      holders = await grantsOn(resourceType, resourceId);
      replace(body, holders.length ? table() : h("p.muted", `No user holds a permission of their own on this ${what}.`));
    } catch (error) {
      replace(body, h("p.error-box", errorText(error)));
    }
  }

  function table() {
    return h("div.table-wrap", h("table.grid.compact", { "aria-label": "Users' permissions" },
      h("thead", h("tr", h("th", "User"), h("th", "Permission"), h("th", h("span.sr-only", "Actions")))),
      h("tbody", holders.map(({ username, permission }) => h("tr",
        h("td", username),
        h("td", permissionSelect(permission, `Permission of ${username}`, (level) => change(username, permission, level))),
        h("td.actions", button("Revoke", () => remove(username), { kind: "ghost danger", label: `Revoke ${username}` })))))));
  }

  async function grantTo() {
    const input = userBox.querySelector("input");
    const username = input.value.trim();
    if (!username) return;
    const existing = holders.find((x) => x.username === username);
    const done = existing
      ? await attempt(() => changeGrant(username, resourceType, resourceId, levelSelect.value), `${username} now has ${levelSelect.value}`)
      : await attempt(() => grant(username, resourceType, resourceId, levelSelect.value), `Granted ${levelSelect.value} to ${username}`);
    if (done !== undefined) { input.value = ""; load(); }
  }

  async function change(username, from, level) {
    const losing = from === "MANAGE" && level !== "MANAGE";
    const self = losing && await isSelf(username);
    if (self && !await confirm("Give up managing", `You will no longer manage this ${what} unless a role lets you.`, "Change", true)) return load();
    const done = await attempt(() => changeGrant(username, resourceType, resourceId, level), `${username} now has ${level}`);
    return done !== undefined && self ? rerender() : load();
  }

  async function remove(username) {
    const self = await isSelf(username);
    const text = self ? `Revoke your own permission on this ${what}? You will no longer manage it unless a role lets you.`
      : `Revoke the permission ${username} holds on this ${what}? Their roles may still grant some.`;
    if (!await confirm("Revoke permission", text, "Revoke", true)) return;
    if (await attempt(() => revoke(username, resourceType, resourceId), `Revoked the permission of ${username}`) !== undefined) {
      if (self) rerender(); else load();
    }
  }

  /** Whether the user is the signed-in one, who loses the panel with MANAGE (admins never do). */
  async function isSelf(username) {
    const user = await signedIn();
    return !user.is_admin && user.username === username;
  }

  load();
  return h("section.panel.permissions-panel", { "aria-labelledby": "permissions-title" },
    h("h2", { id: "permissions-title" }, "Permissions"),
    h("p.muted", `Users with a permission of their own on this ${what}; admins may do everything, and roles may grant more (Admin → Roles).`),
    body,
    h("h3.form-title", "Grant a permission"),
    form,
    h("details.help", h("summary", "What each permission allows"),
      h("ul", PERMISSIONS.map(([level, meaning]) => h("li", h("strong", level), `: ${meaning}`)))));
}
