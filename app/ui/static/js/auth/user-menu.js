// The top bar with auth on: an Admin link for admins, and on the right who is signed in (an
// admin badge when they are one) with a menu to their account. Without auth: nothing.

import { h } from "../dom.js";
import { signedIn } from "./session.js";

export async function showSignedInUser(topbar) {
  const user = await signedIn().catch(() => null);
  if (!user) return;
  if (user.is_admin) topbar.querySelector("nav").append(h("a", { href: "#/admin/users", dataset: { nav: "admin" } }, "Admin"));
  const menu = h("details.menu.user-menu",
    h("summary.user-button", { title: `Signed in as ${user.username}` },
      h("span.sr-only", "Signed in as "), h("span.user-name", user.username),
      user.is_admin ? h("span.badge.admin-badge", "admin") : null),
    h("div.menu-panel",
      h("p.muted.small", "Signed in as ", h("strong", user.username)),
      h("a", { href: "#/account" }, "My account"),
      user.is_admin ? h("a", { href: "#/admin/users" }, "Users and roles") : null));
  window.addEventListener("hashchange", () => { menu.open = false; });
  topbar.append(menu);
  // the current section's link is marked as the page renders; it may have rendered already
  if (/^#\/admin\b/.test(location.hash)) topbar.querySelector("[data-nav=admin]")?.setAttribute("aria-current", "page");
}
