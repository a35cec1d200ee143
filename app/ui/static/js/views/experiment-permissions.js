// #/experiments/<id>/permissions: the Permissions panel of an experiment, for those who manage
// it. Without auth this address is one of the official UI's experiment sections: the runs.

import * as api from "../api.js";
import { permissionsPanel } from "../auth/permissions-panel.js";
import { manages, signedIn } from "../auth/session.js";
import { pageHeader } from "../components/widgets.js";
import { h } from "../dom.js";
import { experimentTabs } from "./experiment-tabs.js";
import { runsView } from "./runs.js";

export async function experimentPermissionsView(main, params, query) {
  if (!await signedIn().catch(() => null)) return runsView(main, params, query);
  const [experiment, allowed] = await Promise.all([api.getExperiment(params.id), manages("experiment", params.id)]);
  main.replaceChildren(h("section.page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments")], experiment.name),
    experimentTabs(experiment.experiment_id, "permissions"),
    allowed ? permissionsPanel("experiment", experiment.experiment_id)
      : h("p.error-box", { role: "alert" }, "Only those who manage this experiment (and admins) see and change its permissions.")));
  return undefined;
}
