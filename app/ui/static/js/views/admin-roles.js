// #/admin/roles (admins): the roles, each a set of permissions that its users hold; create and
// delete them (one role's page changes it).

import { createRole, deleteRole, listRoles } from "../auth/auth-api.js";
import { resourceCell } from "../auth/grant-table.js";
import { askFields, confirm } from "../components/dialog.js";
import { attempt, button, errorText, pageHeader } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import { adminTabs, requireAdmin } from "./admin-frame.js";

export const roleHref = (id) => `#/admin/roles/${enc(id)}`;

/** Ask for a role's name and description; null when cancelled. */
export function askRole(title, role = {}, okLabel = "Save") {
  return askFields(title, [
    { name: "name", label: "Name", value: role.name || "", required: true, autocomplete: "off" },
    { name: "description", label: "Description", type: "textarea", value: role.description || "", maxlength: 1000 },
  ], okLabel);
}

/** Delete a role after asking; true when deleted. */
export async function removeRole(role) {
  if (!await confirm("Delete role", `Delete the role ${role.name}? Its users lose what it grants.`)) return false;
  return await attempt(() => deleteRole(role.id), `Deleted ${role.name}`) !== undefined;
}

export async function adminRolesView(main) {
  if (!await requireAdmin(main)) return;
  const body = h("div", h("p.loading", "Loading…"));
  main.replaceChildren(h("section.page",
    pageHeader([], "Admin", button("New role", create, { kind: "primary" })),
    adminTabs("roles"),
    h("p.muted", "A role is a set of permissions on experiments, models and prompts; assign it to users to give them all of them."),
    body));

  async function load() {
    try {
      const roles = await listRoles();
      replace(body, roles.length ? h("div.table-wrap", h("table.grid", { "aria-label": "Roles" },
        h("thead", h("tr", h("th", "Name"), h("th", "Description"), h("th", "Permissions"), h("th", h("span.sr-only", "Actions")))),
        h("tbody", roles.map((role) => h("tr",
          h("td", h("a", { href: roleHref(role.id) }, role.name)),
          h("td.clip", role.description || ""),
          h("td", role.permissions.length ? role.permissions.map((p) => h("span.chip", resourceCell(p.resource_type, p.resource_pattern), `: ${p.permission}`))
            : h("span.muted", "none")),
          h("td.actions", button("Delete", async () => { if (await removeRole(role)) load(); },
            { kind: "ghost danger", label: `Delete ${role.name}` })))))))
        : h("p.muted", "No roles yet."));
    } catch (error) {
      replace(body, h("p.error-box", errorText(error)));
    }
  }

  async function create() {
    const values = await askRole("New role", {}, "Create");
    if (!values) return;
    const role = await attempt(() => createRole(values.name.trim(), values.description.trim()), `Created ${values.name.trim()}`);
    if (role) location.hash = roleHref(role.id);
  }

  await load();
}
