// #/admin/roles/<id> (admins): one role: rename or describe it, delete it, add, change and
// remove its permissions, assign it to users and unassign them.

import {
  RESOURCE_TYPES, addRolePermission, assignRole, getRole, removeRolePermission, roleUsers, unassignRole, updateRole,
  updateRolePermission,
} from "../auth/auth-api.js";
import { resourceCell, resourceText, typeLabel } from "../auth/grant-table.js";
import { permissionSelect, usernameInput } from "../auth/inputs.js";
import { confirm } from "../components/dialog.js";
import { attempt, button, errorText, pageHeader } from "../components/widgets.js";
import { h, replace } from "../dom.js";
import { adminCrumb, requireAdmin } from "./admin-frame.js";
import { askRole, removeRole } from "./admin-roles.js";
import { userHref } from "./admin-users.js";

export async function adminRoleView(main, params) {
  if (!await requireAdmin(main)) return;
  const role = await getRole(params.id);
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  main.replaceChildren(h("section.page",
    pageHeader([adminCrumb(), h("a", { href: "#/admin/roles" }, "Roles")], role.name,
      button("Rename or describe", async () => {
        const values = await askRole("Edit role", role);
        if (values && await attempt(() => updateRole(role.id, values.name.trim(), values.description), "Saved") !== undefined) reload();
      }),
      button("Delete", async () => { if (await removeRole(role)) location.hash = "#/admin/roles"; }, { kind: "danger" })),
    role.description ? h("p.meta", role.description) : null,
    rolePermissionsPanel(role),
    roleUsersPanel(role)));
}

function rolePermissionsPanel(role) {
  const list = h("div");
  const type = h("select.input", { "aria-label": "Resource type" }, RESOURCE_TYPES.map(([value, label]) => h("option", { value }, label)));
  const pattern = h("input.input", { type: "text", required: true, autocomplete: "off", "aria-label": "Resource",
    placeholder: "experiment ID, model name, or * for every one" });
  const level = permissionSelect("READ", "Permission");
  type.addEventListener("change", () => {  // a workspace grant is USE or MANAGE on '*'
    const workspace = type.value === "workspace";
    pattern.readOnly = workspace;
    if (workspace) { pattern.value = "*"; level.value = "MANAGE"; }
  });
  const form = h("form.grant-form", { on: { submit: (e) => { e.preventDefault(); add(); } } },
    type, pattern, level, h("button.btn.primary", { type: "submit" }, "Add permission"));

  function draw(permissions) {
    replace(list, permissions.length ? h("div.table-wrap", h("table.grid.compact", { "aria-label": "Permissions of the role" },
      h("thead", h("tr", h("th", "Type"), h("th", "Resource"), h("th", "Permission"), h("th", h("span.sr-only", "Actions")))),
      h("tbody", permissions.map((p) => h("tr",
        h("td", typeLabel(p.resource_type)),
        h("td", resourceCell(p.resource_type, p.resource_pattern)),
        h("td", permissionSelect(p.permission, `Permission on ${resourceText(p.resource_type, p.resource_pattern)}`, async (value) => {
          await attempt(() => updateRolePermission(p.id, value), "Permission changed");
          load();
        })),
        h("td.actions", button("Remove", async () => {
          if (await attempt(() => removeRolePermission(p.id), "Permission removed") !== undefined) load();
        }, { kind: "ghost danger", label: `Remove the grant on ${resourceText(p.resource_type, p.resource_pattern)}` })))))))
      : h("p.muted", "This role grants nothing yet."));
  }

  async function load() {
    try {
      draw((await getRole(role.id)).permissions);
    } catch (error) {
      replace(list, h("p.error-box", errorText(error)));
    }
  }

  async function add() {
    if (await attempt(() => addRolePermission(role.id, type.value, pattern.value.trim(), level.value), "Permission added") === undefined) return;
    if (type.value !== "workspace") pattern.value = "";
    load();
  }

  draw(role.permissions);
  return h("section.panel", h("h2", "Permissions"), list, h("h3.form-title", "Add a permission"), form);
}

function roleUsersPanel(role) {
  const list = h("div", h("p.loading", "Loading…"));
  const userBox = usernameInput("User to assign the role to");
  const form = h("form.grant-form", { on: { submit: (e) => { e.preventDefault(); assign(); } } },
    userBox, h("button.btn.primary", { type: "submit" }, "Assign"));

  async function load() {
    try {
      const assignments = await roleUsers(role.id);
      replace(list, assignments.length ? h("ul.plain", { "aria-label": "Users with the role" }, assignments.map((a) => h("li.role-row",
        h("a", { href: userHref(a.username) }, a.username),
        button("Unassign", () => unassign(a.username), { kind: "ghost danger", label: `Unassign ${a.username}` }))))
        : h("p.muted", "No user has this role."));
    } catch (error) {
      replace(list, h("p.error-box", errorText(error)));
    }
  }

  async function assign() {
    const input = userBox.querySelector("input");
    const username = input.value.trim();
    if (username && await attempt(() => assignRole(username, role.id), `Assigned ${role.name} to ${username}`) !== undefined) {
      input.value = "";
      load();
    }
  }

  async function unassign(username) {
    if (!await confirm("Unassign role", `Take the role ${role.name} from ${username}?`, "Unassign", true)) return;
    if (await attempt(() => unassignRole(username, role.id), `Unassigned ${username}`) !== undefined) load();
  }

  load();
  return h("section.panel", h("h2", "Users"), list, h("h3.form-title", "Assign to a user"), form);
}
