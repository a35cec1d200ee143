// The page's entry point: the routes, and the shortcuts that work on every page.

import { showSignedInUser } from "./auth/user-menu.js";
import { route, start } from "./router.js";
import { accountView } from "./views/account.js";
import { adminRoleView } from "./views/admin-role.js";
import { adminRolesView } from "./views/admin-roles.js";
import { adminUserView } from "./views/admin-user.js";
import { adminUsersView } from "./views/admin-users.js";
import { compareView } from "./views/compare.js";
import { experimentPermissionsView } from "./views/experiment-permissions.js";
import { experimentsView } from "./views/experiments.js";
import { experimentModelsView, loggedModelView } from "./views/logged-models.js";
import { modelView, modelsView, runRedirect, versionView } from "./views/models.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";
import { traceView } from "./views/trace.js";
import { tracesView } from "./views/traces.js";

route("/", experimentsView);
route("/experiments", experimentsView);
route("/experiments/:id", runsView);
route("/experiments/:id/models", experimentModelsView);
route("/experiments/:id/models/:modelId", loggedModelView);  // the official UI's form
route("/experiments/:id/runs/:runId", runView);
route("/experiments/:id/runs/:runId/:tab", runView);
route("/experiments/:id/traces", tracesView);  // also ?selectedTraceId=, the official UI's form
route("/experiments/:id/traces/:traceId", traceView);
// the link mlflow.genai.evaluate prints: the evaluation run's traces and scores
route("/experiments/:id/evaluation-runs", (main, params, query) => (query.get("selectedRunUuid")
  ? runView(main, { runId: query.get("selectedRunUuid"), tab: "traces" }, query) : runsView(main, params, query)));
route("/experiments/:id/permissions", experimentPermissionsView);  // with auth on; else the runs
route("/experiments/:id/:section", runsView);  // other sections of the official UI's links
route("/runs", runsView);  // ?experiments=1,2
route("/runs/:runId", runRedirect);
route("/compare-runs", compareView);  // ?runs=a,b
route("/models", modelsView);
route("/models/:name", modelView);
route("/models/:name/versions/:version", versionView);
route("/logged-models/:modelId", loggedModelView);
// with auth on (basic-auth): the signed-in user's account, and the admins' pages
route("/account", accountView);
route("/admin", adminUsersView);
route("/admin/users", adminUsersView);
route("/admin/users/:username", adminUserView);
route("/admin/roles", adminRolesView);
route("/admin/roles/:id", adminRoleView);

// '/' focuses the page's search or filter box (unless one is typing already).
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  const box = document.querySelector("[data-shortcut='/']");
  if (box) { event.preventDefault(); box.focus(); }
});

// Open menus close on a click elsewhere and on Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) if (!menu.contains(event.target)) menu.open = false;
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const menu = event.target.closest?.("details.menu[open]");
  if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
});

// Each page starts with focus on its content, for keyboard and screen-reader users.
window.addEventListener("hashchange", () => document.getElementById("main").focus({ preventScroll: true }));

start(document.getElementById("main"), "#/experiments");
showSignedInUser(document.querySelector(".topbar"));
