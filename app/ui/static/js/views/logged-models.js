// MLflow 3 logged models: those of an experiment, and one model with its params, metrics,
// tags, source run, registered versions and artifacts.

import * as api from "../api.js";
import { button, kvTable, pageHeader } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { setQuery } from "../router.js";
import { artifactBrowser } from "./artifacts.js";
import { experimentTabs } from "./experiment-tabs.js";

const statusText = (status) => (status || "").replace("LOGGED_MODEL_", "").toLowerCase();

export async function experimentModelsView(main, params) {
  const experiment = await api.getExperiment(params.id);
  const body = h("tbody");
  const more = h("div.more");
  const status = h("p.muted", { role: "status" });
  main.replaceChildren(h("section.page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments")], experiment.name),
    experimentTabs(experiment.experiment_id, "models"),
    status,
    h("div.table-wrap", h("table.grid", h("thead", h("tr", ["Name", "Model ID", "Status", "Type", "Source run", "Created", "Metrics"].map((c) => h("th", c)))), body)),
    more));

  async function load(token) {
    const page = await api.post("logged-models/search", { experiment_ids: [experiment.experiment_id], max_results: 100, page_token: token,
      order_by: [{ field_name: "creation_timestamp", ascending: false }] });
    const models = page.models || [];
    if (!token) status.textContent = models.length ? "" : "No logged models in this experiment.";
    body.append(...models.map(({ info, data }) => h("tr",
      h("td", h("a", { href: `#/logged-models/${enc(info.model_id)}` }, info.name)),
      h("td", h("code", info.model_id)),
      h("td", h("span.badge.neutral", statusText(info.status))),
      h("td", info.model_type || ""),
      h("td", info.source_run_id ? h("a", { href: `#/experiments/${enc(info.experiment_id)}/runs/${enc(info.source_run_id)}` }, info.source_run_id.slice(0, 12)) : "—"),
      h("td", { title: fmt.time(info.creation_timestamp_ms) }, fmt.ago(info.creation_timestamp_ms)),
      h("td", (data?.metrics || []).slice(0, 4).map((m) => h("span.chip", `${m.key}: ${fmt.number(m.value)}`))))));
    replace(more, page.next_page_token ? button("Load more", () => load(page.next_page_token)) : null);
  }
  await load();
}

export async function loggedModelView(main, params, query) {
  const { model } = await api.get(`logged-models/${enc(params.modelId)}`);
  const { info, data } = model;
  const tags = api.pairs(info.tags);
  const root = api.proxyPath(info.artifact_uri);
  let versions = [];
  try { versions = JSON.parse(tags["mlflow.modelVersions"] || "[]"); } catch { /* shown without versions */ }
  // the server records a version as a number, and the official client adds it again as text
  versions = [...new Map(versions.map((v) => [`${v.name}\u0000${v.version}`, v])).values()];
  const facts = [
    ["Model ID", h("code", info.model_id)],
    ["Status", statusText(info.status)],
    ["Type", info.model_type || "—"],
    ["Created", fmt.time(info.creation_timestamp_ms)],
    ["Source run", info.source_run_id ? h("a", { href: `#/experiments/${enc(info.experiment_id)}/runs/${enc(info.source_run_id)}` }, info.source_run_id) : "—"],
    ["Registered as", versions.length ? versions.map((v) => h("a.chip", { href: `#/models/${enc(v.name)}/versions/${enc(v.version)}` }, `${v.name} v${v.version}`)) : "—"],
    ["Artifacts", h("code", info.artifact_uri || "")],
  ];
  main.replaceChildren(h("section.page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments"), h("a", { href: `#/experiments/${enc(info.experiment_id)}/models` }, "Logged models")], info.name),
    h("div.two-col",
      h("section.panel", h("h2", "About this model"), kvTable(facts)),
      h("section.panel", h("h2", "Parameters"), kvTable((data?.params || []).map((p) => [p.key, p.value]), { empty: "No parameters." }))),
    h("div.two-col",
      h("section.panel", h("h2", "Metrics"), kvTable((data?.metrics || []).map((m) => [m.key, fmt.number(m.value)]), { empty: "No metrics." })),
      h("section.panel", h("h2", "Tags"), kvTable(Object.entries(tags).filter(([k]) => k !== "mlflow.modelVersions").sort(), { empty: "No tags." }))),
    h("section.panel", h("h2", "Artifacts"), root === null
      ? h("p.muted", `The files are at ${info.artifact_uri}, which this server does not serve.`)
      : artifactBrowser({ list: (path) => api.listProxied(root, path), urlOf: (path) => api.artifactUrl(root, path),
        selected: query.get("path") || "", onSelect: (path) => setQuery({ path }) }))));
}
