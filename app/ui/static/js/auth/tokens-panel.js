// Access tokens: create one (its secret is shown once, to copy), list them (names and dates
// only: the server keeps no secret) and revoke them. A user's own, or an admin's view of
// another user's.

import { confirm } from "../components/dialog.js";
import { attempt, button, errorText, toast } from "../components/widgets.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { createToken, deleteToken, listTokens } from "./auth-api.js";

/** username: another user's tokens (admins); left out, the signed-in user's own. */
export function tokensPanel(username) {
  const nameInput = h("input.input", { type: "text", required: true, maxlength: 255, placeholder: "e.g. ci-pipeline", "aria-label": "Token name" });
  const daysInput = h("input.input.days", { type: "number", min: 1, max: 3650, value: 90, required: true, "aria-label": "Expires in days" });
  const form = h("form.token-form", { on: { submit: (e) => { e.preventDefault(); create(); } } },
    h("label.field", h("span", "Name"), nameInput),
    h("label.field", h("span", "Expires in (days)"), daysInput),
    h("button.btn.primary", { type: "submit" }, "Create token"));
  const secretSlot = h("div");
  const list = h("div", h("p.loading", "Loading…"));

  async function load() {
    try {
      const tokens = await listTokens(username);
      replace(list, tokens.length ? tokenTable(tokens) : h("p.muted", "No access tokens."));
    } catch (error) {
      replace(list, h("p.error-box", errorText(error)));
    }
  }

  function tokenTable(tokens) {
    const now = Date.now();
    return h("div.table-wrap", h("table.grid.compact", { "aria-label": "Access tokens" },
      h("thead", h("tr", h("th", "Name"), h("th", "Created"), h("th", "Expires"), h("th", h("span.sr-only", "Actions")))),
      h("tbody", tokens.map((t) => h("tr",
        h("td", t.name),
        h("td", { title: fmt.time(t.creation_time) }, fmt.ago(t.creation_time)),
        h("td", fmt.time(t.expiration_time), t.expiration_time <= now ? [" ", h("span.badge.bad", "expired")] : null),
        h("td.actions", button("Revoke", () => revoke(t), { kind: "ghost danger", label: `Revoke ${t.name}` })))))));
  }

  async function create() {
    const name = nameInput.value.trim();
    const result = await attempt(() => createToken(name, Number(daysInput.value), username));
    if (!result) return;
    nameInput.value = "";
    replace(secretSlot, secretBox(result.token.name, result.secret, () => replace(secretSlot)));
    secretSlot.querySelector("input").select();
    load();
  }

  async function revoke(token) {
    if (!await confirm("Revoke access token", `Revoke “${token.name}”? Clients that use it are refused from now on.`, "Revoke", true)) return;
    if (await attempt(() => deleteToken(token.id, username), "Token revoked") !== undefined) load();
  }

  load();
  return h("section.panel", { id: "tokens" },
    h("h2", "Access tokens"),
    h("p.muted", "A client sends a token as ", h("code", "MLFLOW_TRACKING_TOKEN"), " (or as the password) and acts as ",
      username ? username : "you", " until it expires or is revoked."),
    form, secretSlot, list);
}

/** The new token's secret, once: selectable, copyable, gone when dismissed or the page changes. */
function secretBox(name, secret, dismiss) {
  const input = h("input.input.secret", { type: "text", readonly: true, value: secret, spellcheck: "false", "aria-label": "New token secret" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {  // no clipboard API outside secure contexts (plain http to another host)
      input.select();
      if (!document.execCommand("copy")) { toast("Select the token and copy it by hand", "error"); return; }
    }
    toast("Copied");
  };
  return h("div.secret-box", { role: "status" },
    h("p", h("strong", `Token “${name}” created. `), "Copy it now: it will not be shown again."),
    h("div.secret-row", input, button("Copy", copy, { kind: "primary" }), button("Done", dismiss, { kind: "ghost" })),
    h("p.muted.small", "Use it with ", h("code", "export MLFLOW_TRACKING_TOKEN=<token>"), "."));
}
