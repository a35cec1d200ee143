// What the admin pages share: only admins open them, and they have tabs for users and roles.

import { signedIn } from "../auth/session.js";
import { pageHeader, tabs } from "../components/widgets.js";
import { h } from "../dom.js";
import { showNotFound } from "../router.js";

/** The signed-in admin; otherwise null, once the page says why (no auth: there is no such page). */
export async function requireAdmin(main) {
  const user = await signedIn();
  if (!user) { showNotFound(); return null; }
  if (user.is_admin) return user;
  main.replaceChildren(h("section.page", pageHeader([], "Admin"),
    h("p.error-box", { role: "alert" }, "Permission denied: only admins manage users and roles. You are signed in as ",
      h("strong", user.username), ", who is not an admin."),
    h("a", { href: "#/experiments" }, "Go to the experiments")));
  return null;
}

export function adminTabs(current) {
  return tabs([{ id: "users", label: "Users", href: "#/admin/users" }, { id: "roles", label: "Roles", href: "#/admin/roles" }], current);
}

export const adminCrumb = () => h("a", { href: "#/admin/users" }, "Admin");
