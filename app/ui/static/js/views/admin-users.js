// #/admin/users (admins): every user with their roles; create one, set a password, make or
// unmake an admin, delete one.

import { createUser, deleteUser, listUsers, setAdmin, setPassword } from "../auth/auth-api.js";
import { restart } from "../auth/session.js";
import { askFields, confirm } from "../components/dialog.js";
import { attempt, button, errorText, pageHeader } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import { adminTabs, requireAdmin } from "./admin-frame.js";

const MIN_PASSWORD = 12;  // the server's rule
const passwordField = (name, label, autocomplete = "new-password") =>
  ({ name, label, type: "password", required: true, minlength: autocomplete === "new-password" ? MIN_PASSWORD : null, autocomplete });

export const userHref = (username) => `#/admin/users/${enc(username)}`;

export async function adminUsersView(main) {
  const me = await requireAdmin(main);
  if (!me) return;
  const body = h("div", h("p.loading", "Loading…"));
  main.replaceChildren(h("section.page",
    pageHeader([], "Admin", button("New user", create, { kind: "primary" })),
    adminTabs("users"),
    body));

  async function load() {
    try {
      const users = await listUsers();
      replace(body, h("div.table-wrap", h("table.grid", { "aria-label": "Users" },
        h("thead", h("tr", h("th", "Username"), h("th", "Kind"), h("th", "Roles"), h("th", h("span.sr-only", "Actions")))),
        h("tbody", users.map((user) => h("tr",
          h("td", h("a", { href: userHref(user.username) }, user.username), user.username === me.username ? h("span.muted", " (you)") : null),
          h("td", user.is_admin ? h("span.badge.admin-badge", "admin") : h("span.muted", "user")),
          h("td", user.roles.length ? user.roles.map((r) => h("a.chip", { href: `#/admin/roles/${enc(r.id)}` }, r.name)) : h("span.muted", "—")),
          h("td.actions", userActions(user, me, load))))))));
    } catch (error) {
      replace(body, h("p.error-box", errorText(error)));
    }
  }

  async function create() {
    const values = await askFields("New user", [
      { name: "username", label: "Username", required: true, autocomplete: "off", maxlength: 255 },
      passwordField("password", `Password (at least ${MIN_PASSWORD} characters)`),
      { name: "admin", label: "Admin (may do everything)", type: "checkbox" },
    ], "Create");
    if (!values) return;
    const username = values.username.trim();
    if (await attempt(() => createUser(username, values.password), `Created ${username}`) === undefined) return;
    if (values.admin) await attempt(() => setAdmin(username, true));
    load();
  }

  await load();
}

/** Set password, make or unmake admin, delete: buttons for one user; done() after a change. */
export function userActions(user, me, done, { afterDelete = done } = {}) {
  const self = user.username === me.username;
  return [
    button("Set password", async () => {
      const values = await askFields(`New password for ${user.username}`, [
        ...(self ? [passwordField("current", "Your current password", "current-password")] : []),
        passwordField("password", `New password (at least ${MIN_PASSWORD} characters)`),
      ], "Set password");
      if (values) await attempt(() => setPassword(user.username, values.password, values.current),
        self ? "Password changed. Your browser will ask you to sign in with the new one." : `Password of ${user.username} set`);
    }, { kind: "ghost", label: `Set password of ${user.username}` }),
    user.is_admin
      ? button("Remove admin", async () => {
        const text = self ? "You will no longer be an admin, and lose this page." : `${user.username} will have only what their roles grant.`;
        if (!await confirm("Remove admin", text, "Remove admin", true)) return;
        if (await attempt(() => setAdmin(user.username, false), `${user.username} is no longer an admin`) !== undefined) {
          if (self) restart(); else done();
        }
      }, { kind: "ghost", label: `Remove admin: ${user.username}` })
      : button("Make admin", async () => {
        if (!await confirm("Make admin", `${user.username} will be able to do everything: every resource, users and roles.`, "Make admin")) return;
        if (await attempt(() => setAdmin(user.username, true), `${user.username} is now an admin`) !== undefined) done();
      }, { kind: "ghost", label: `Make admin: ${user.username}` }),
    button("Delete", async () => {
      if (!await confirm("Delete user", `Delete ${user.username}? They can no longer sign in, and their access tokens stop working.`)) return;
      if (await attempt(() => deleteUser(user.username), `Deleted ${user.username}`) !== undefined) afterDelete();
    }, { kind: "ghost danger", label: `Delete ${user.username}`, title: self ? "You cannot delete yourself" : null, disabled: self }),
  ];
}
