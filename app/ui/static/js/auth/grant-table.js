// A user's grants as a table: what each names (a link to the experiment or model, or every
// resource of its type), the permission, and the role that carries it.

import { enc, h } from "../dom.js";
import { RESOURCE_TYPES } from "./auth-api.js";

const TYPE_LABEL = Object.fromEntries(RESOURCE_TYPES.map(([type, label]) => [type, label]));
export const OWN_ROLE = /^__user_\d+__$/;  // a user's own role: what was granted to them directly

/** The resource a grant names: a link to it, or "every …" for the pattern '*'. */
export function resourceCell(type, pattern) {
  if (pattern === "*") return h("span", h("em", "every"), ` ${(TYPE_LABEL[type] || type).toLowerCase()}`);
  if (type === "experiment") return h("a", { href: `#/experiments/${enc(pattern)}` }, `Experiment ${pattern}`);
  if (type === "registered_model" || type === "prompt") return h("a", { href: `#/models/${enc(pattern)}` }, pattern);
  return `${type} ${pattern}`;
}

export const typeLabel = (type) => TYPE_LABEL[type] || type;

/** The resource a grant names, as words: "every experiment", "registered model iris". */
export const resourceText = (type, pattern) => `${pattern === "*" ? "every " : ""}${typeLabel(type).toLowerCase()}${pattern === "*" ? "" : ` ${pattern}`}`;

/** rows: [{role_id, role_name, resource_type, resource_pattern, permission}]; linkRoles: to the
 *  admin's role pages. */
export function grantTable(rows, { linkRoles = false, empty = "No permissions granted." } = {}) {
  if (!rows.length) return h("p.muted", empty);
  return h("div.table-wrap", h("table.grid.compact",
    h("thead", h("tr", h("th", "Type"), h("th", "Resource"), h("th", "Permission"), h("th", "Through"))),
    h("tbody", rows.map((row) => h("tr",
      h("td", typeLabel(row.resource_type)),
      h("td", resourceCell(row.resource_type, row.resource_pattern)),
      h("td", h("span.badge.neutral", row.permission)),
      h("td", OWN_ROLE.test(row.role_name) ? h("span.muted", "granted directly")
        : linkRoles ? h("a", { href: `#/admin/roles/${enc(row.role_id)}` }, `role ${row.role_name}`) : `role ${row.role_name}`))))));
}
