// #/admin/users/<username> (admins): one user's roles (assign, unassign), what they may do and
// their access tokens.

import { assignRole, listRoles, listUsers, unassignRole, userPermissions, userRoles } from "../auth/auth-api.js";
import { OWN_ROLE, grantTable } from "../auth/grant-table.js";
import { tokensPanel } from "../auth/tokens-panel.js";
import { confirm } from "../components/dialog.js";
import { attempt, button, errorText, lazyPanel, pageHeader } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import { adminCrumb, requireAdmin } from "./admin-frame.js";
import { userActions } from "./admin-users.js";

export async function adminUserView(main, params) {
  const me = await requireAdmin(main);
  if (!me) return;
  const user = (await listUsers()).find((u) => u.username === params.username);
  if (!user) throw new Error(`There is no user named ${params.username}.`);
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  main.replaceChildren(h("section.page",
    pageHeader([adminCrumb(), h("a", { href: "#/admin/users" }, "Users")], user.username,
      user.is_admin ? h("span.badge.admin-badge", "admin") : null,
      userActions(user, me, reload, { afterDelete: () => { location.hash = "#/admin/users"; } })),
    h("div.two-col", rolesPanel(user.username), lazyPanel("Permissions", async () => {
      const { permissions } = await userPermissions(user.username);
      if (user.is_admin && !permissions.length) return h("p", "An admin may do everything, on every resource.");
      return h("div",
        user.is_admin ? h("p", "An admin may do everything, on every resource; their roles grant:") : null,
        grantTable(permissions, { linkRoles: true, empty: "No grants: the server's default permission on everything." }));
    })),
    tokensPanel(user.username)));
}

function rolesPanel(username) {
  const body = h("div", h("p.loading", "Loading…"));
  const select = h("select.input", { "aria-label": "Role to assign", required: true });
  const form = h("form.grant-form", { on: { submit: (e) => { e.preventDefault(); assign(); } } },
    select, h("button.btn.primary", { type: "submit" }, "Assign role"));

  async function load() {
    try {
      const [held, all] = await Promise.all([userRoles(username), listRoles()]);
      const roles = held.filter((r) => !OWN_ROLE.test(r.name));
      const ids = new Set(roles.map((r) => r.id));
      replace(select, h("option", { value: "" }, "Choose a role"), all.filter((r) => !ids.has(r.id)).map((r) => h("option", { value: r.id }, r.name)));
      replace(body, roles.length ? h("ul.plain", roles.map((role) => h("li.role-row",
        h("a", { href: `#/admin/roles/${enc(role.id)}` }, role.name),
        role.description ? h("span.muted", ` — ${role.description}`) : null,
        button("Unassign", () => unassign(role), { kind: "ghost danger", label: `Unassign ${role.name}` }))))
        : h("p.muted", "No roles."));
    } catch (error) {
      replace(body, h("p.error-box", errorText(error)));
    }
  }

  async function assign() {
    const role = select.selectedOptions[0];
    if (role?.value && await attempt(() => assignRole(username, Number(role.value)), `Assigned ${role.textContent}`) !== undefined) load();
  }

  async function unassign(role) {
    if (!await confirm("Unassign role", `Take the role ${role.name} from ${username}?`, "Unassign", true)) return;
    if (await attempt(() => unassignRole(username, role.id), `Unassigned ${role.name}`) !== undefined) load();
  }

  load();
  return h("section.panel", h("h2", "Roles"), body, form);
}
