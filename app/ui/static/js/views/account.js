// #/account (with auth on): who is signed in, their access tokens, a new password (with the
// current one) and what they may do.

import { myPermissions, setPassword } from "../auth/auth-api.js";
import { grantTable } from "../auth/grant-table.js";
import { signedIn } from "../auth/session.js";
import { tokensPanel } from "../auth/tokens-panel.js";
import { attempt, lazyPanel, pageHeader } from "../components/widgets.js";
import { h } from "../dom.js";
import { showNotFound } from "../router.js";

const MIN_PASSWORD = 12;  // the server's rule

export async function accountView(main) {
  const user = await signedIn();
  if (!user) return showNotFound();
  main.replaceChildren(h("section.page",
    pageHeader([], "My account"),
    h("p.meta", "Signed in as ", h("strong", user.username), user.is_admin ? [" ", h("span.badge.admin-badge", "admin")] : null),
    tokensPanel(),
    h("div.two-col",
      passwordPanel(user),
      lazyPanel("My permissions", async () => {
        const { permissions } = await myPermissions();
        if (user.is_admin && !permissions.length) return h("p", "As an admin you may do everything, on every resource.");
        return h("div",
          user.is_admin ? h("p", "As an admin you may do everything, on every resource; your roles grant:") : null,
          grantTable(permissions, { linkRoles: user.is_admin, empty: "No grants: you have the server's default permission on everything." }));
      }))));
  return undefined;
}

function passwordPanel(user) {
  const field = (label, autocomplete) => h("input.input", { type: "password", required: true, autocomplete, "aria-label": label,
    minlength: autocomplete === "new-password" ? MIN_PASSWORD : null });
  const current = field("Current password", "current-password");
  const next = field("New password", "new-password");
  const again = field("New password again", "new-password");
  again.addEventListener("input", () => again.setCustomValidity(""));
  const form = h("form.password-form", { on: { submit: async (e) => {
    e.preventDefault();
    if (next.value !== again.value) { again.setCustomValidity("The two new passwords differ."); again.reportValidity(); return; }
    if (await attempt(() => setPassword(user.username, next.value, current.value),
      "Password changed. Your browser will ask you to sign in with the new one.") !== undefined) form.reset();
  } } },
  // for password managers: whose password this is
  h("input", { type: "text", name: "username", autocomplete: "username", value: user.username, hidden: true, readonly: true }),
  h("label.field", h("span", "Current password"), current),
  h("label.field", h("span", `New password (at least ${MIN_PASSWORD} characters)`), next),
  h("label.field", h("span", "New password again"), again),
  h("button.btn.primary", { type: "submit" }, "Change password"));
  return h("section.panel", h("h2", "Change password"), form);
}
