// One run: overview (facts, note, params, metrics, tags, datasets, logged models, child
// runs), its metric charts, its artifacts and its traces.

import * as api from "../api.js";
import { color } from "../charts/colors.js";
import { ask, askPair, confirm } from "../components/dialog.js";
import { attempt, button, kvTable, lazyPanel, pageHeader, statusBadge, tabs } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { renderMarkdown } from "../markdown.js";
import { listParam, setQuery } from "../router.js";
import { artifactBrowser } from "./artifacts.js";
import { metricPanel } from "./metric-panel.js";
import { runTraces } from "./traces.js";

const NOTE = "mlflow.note.content";
const PARENT = "mlflow.parentRunId";

export async function runView(main, params, query) {
  const tab = params.tab || "overview";
  const run = await api.getRun(params.runId);
  const experiment = await api.getExperiment(run.info.experiment_id).catch(() => null);
  const tags = api.pairs(run.data?.tags);
  const name = api.runName(run);
  const base = `#/experiments/${enc(run.info.experiment_id)}/runs/${enc(run.info.run_id)}`;
  const deleted = run.info.lifecycle_stage === "deleted";

  const actions = [
    button("Rename", async () => {
      const next = await ask("Rename run", "New name", name);
      if (next && await attempt(() => api.post("runs/update", { run_id: run.info.run_id, run_name: next }), "Renamed")) reload();
    }),
    deleted
      ? button("Restore", async () => { if (await attempt(() => api.post("runs/restore", { run_id: run.info.run_id }), "Restored")) reload(); })
      : button("Delete", async () => {
        if (await confirm("Delete run", `Delete “${name}”? It can be restored from the deleted runs.`)
          && await attempt(() => api.post("runs/delete", { run_id: run.info.run_id }), "Deleted")) reload();
      }, { kind: "danger" }),
  ];
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

  const page = h("section.page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments"),
      h("a", { href: `#/experiments/${enc(run.info.experiment_id)}` }, experiment?.name || `Experiment ${run.info.experiment_id}`)],
    name, statusBadge(run.info.status), deleted ? h("span.badge.neutral", "deleted") : null, ...actions),
    tabs([{ id: "overview", label: "Overview", href: base }, { id: "metrics", label: "Metrics", href: `${base}/metrics` },
      { id: "artifacts", label: "Artifacts", href: `${base}/artifacts` }, { id: "traces", label: "Traces", href: `${base}/traces` }], tab));
  main.replaceChildren(page);

  if (tab === "metrics") {
    const keys = (run.data?.metrics || []).map((m) => m.key).sort();
    if (!keys.length) { page.append(h("p.muted", "This run has no metrics.")); return undefined; }
    const panel = metricPanel({
      runs: [{ id: run.info.run_id, name, color: color(0), start: run.info.start_time }],
      keys, chosen: listParam(query, "metrics").filter((k) => keys.includes(k)),
      onChoose: (chosen) => setQuery({ metrics: chosen }),
    });
    page.append(panel.element);
    return panel.destroy;
  }
  if (tab === "artifacts") {
    const root = api.proxyPath(run.info.artifact_uri);
    page.append(h("section.panel", artifactBrowser({
      list: (path) => api.listRunArtifacts(run.info.run_id, path),
      urlOf: (path) => (root === null ? null : api.artifactUrl(root, path)),
      selected: query.get("path") || "",
      onSelect: (path) => setQuery({ path }),
      note: run.info.artifact_uri,
    })));
    return undefined;
  }
  if (tab === "traces") {
    page.append(runTraces(run, tags));
    return undefined;
  }
  page.append(overview(run, tags, reload));
  return undefined;
}

function overview(run, tags, reload) {
  const info = run.info;
  const parent = tags[PARENT];
  const source = tags["mlflow.source.name"];
  const commit = tags["mlflow.source.git.commit"];
  const facts = [
    ["Run ID", h("code", info.run_id)],
    ["Status", statusBadge(info.status)],
    ["Started", h("span", { title: fmt.time(info.start_time) }, `${fmt.time(info.start_time)} (${fmt.ago(info.start_time)})`)],
    ["Ended", fmt.time(info.end_time) || "—"],
    ["Duration", fmt.duration(info.start_time, info.end_time) || "—"],
    ["User", tags["mlflow.user"] || info.user_id || "—"],
    ["Source", source ? `${source}${tags["mlflow.source.type"] ? ` (${tags["mlflow.source.type"]})` : ""}` : "—"],
    ["Git commit", commit ? h("code", { title: commit }, commit.slice(0, 12)) : "—"],
    ["Parent run", parent ? h("a", { href: `#/experiments/${enc(info.experiment_id)}/runs/${enc(parent)}` }, parent) : "—"],
    ["Artifact location", h("code", info.artifact_uri || "")],
  ];
  const userTags = Object.entries(tags).filter(([k]) => !k.startsWith("mlflow.")).sort();
  const systemTags = Object.entries(tags).filter(([k]) => k.startsWith("mlflow.") && k !== NOTE).sort();
  const metrics = [...(run.data?.metrics || [])].sort((a, b) => a.key.localeCompare(b.key));
  const paramsList = [...(run.data?.params || [])].sort((a, b) => a.key.localeCompare(b.key));
  const base = `#/experiments/${enc(info.experiment_id)}/runs/${enc(info.run_id)}`;

  const setTag = async (key, value) => (await attempt(() => api.post("runs/set-tag", { run_id: info.run_id, key, value }), "Saved")) !== undefined && reload();
  const tagRows = userTags.map(([k, v]) => [k, v, [
    button("Edit", async () => { const pair = await askPair("Edit tag", k, v); if (pair) setTag(pair.key, pair.value); }, { kind: "ghost" }),
    button("Delete", async () => {
      if (await confirm("Delete tag", `Delete the tag “${k}”?`)
        && await attempt(() => api.post("runs/delete-tag", { run_id: info.run_id, key: k }), "Deleted") !== undefined) reload();
    }, { kind: "ghost" })]]);

  return h("div.overview",
    h("section.panel", h("h2", "About this run"), kvTable(facts)),
    notePanel(tags[NOTE] || "", (text) => setTag(NOTE, text)),
    h("div.two-col",
      h("section.panel", h("h2", `Parameters (${paramsList.length})`), filterableKv(paramsList.map((p) => [p.key, p.value]), "parameters")),
      h("section.panel", h("h2", `Metrics (${metrics.length})`), filterableKv(metrics.map((m) => [
        h("a", { href: `${base}/metrics?metrics=${enc(m.key)}`, title: "Chart this metric" }, m.key),
        h("span", { title: `step ${m.step}, ${fmt.time(m.timestamp)}` }, fmt.number(m.value))]), "metrics"))),
    h("section.panel",
      h("div.panel-head", h("h2", `Tags (${userTags.length})`),
        button("Add tag", async () => { const pair = await askPair("Add tag"); if (pair?.key) setTag(pair.key, pair.value); }, { kind: "ghost" })),
      kvTable(tagRows, { empty: "No tags." }),
      systemTags.length ? h("details.system-tags", h("summary", `System tags (${systemTags.length})`), kvTable(systemTags)) : null),
    datasetsPanel(run),
    loggedModelsPanel(run),
    lazyPanel("Child runs", async () => {
      const found = await api.post("runs/search", { experiment_ids: [info.experiment_id], filter: `tags.${PARENT} = '${info.run_id}'`, max_results: 200 });
      const children = found.runs || [];
      if (!children.length) return h("p.muted", "No child runs.");
      return h("ul.plain", children.map((c) => h("li", h("a", { href: `#/experiments/${enc(c.info.experiment_id)}/runs/${enc(c.info.run_id)}` }, api.runName(c)), " ", statusBadge(c.info.status))));
    }));
}

/** A key/value table with a search box once it is long. */
function filterableKv(rows, what) {
  if (rows.length <= 12) return kvTable(rows, { empty: `No ${what}.` });
  const box = h("div");
  const input = h("input.input", { type: "search", placeholder: `Find ${what}`, "aria-label": `Find ${what}` });
  const keyText = (k) => (typeof k === "string" ? k : k.textContent);
  const draw = () => replace(box, kvTable(rows.filter(([k]) => keyText(k).toLowerCase().includes(input.value.toLowerCase())), { empty: "No match." }));
  input.addEventListener("input", draw);
  draw();
  return h("div", input, box);
}

/** The note in Markdown: rendered safely, edited with a live preview. */
export function notePanel(text, save, title = "Note") {
  const panel = h("section.panel.note");
  const what = title.toLowerCase();
  const show = () => replace(panel,
    h("div.panel-head", h("h2", title), button(text ? `Edit ${what}` : `Add ${what}`, edit, { kind: "ghost" })),
    text ? renderMarkdown(text) : h("p.muted", `No ${what} yet.`));
  const edit = () => {
    const area = h("textarea.input.note-editor", { rows: 10, "aria-label": `${title} in Markdown` }, text);
    const live = h("div.note-preview", renderMarkdown(text));
    area.addEventListener("input", () => replace(live, renderMarkdown(area.value)));
    replace(panel,
      h("div.panel-head", h("h2", `Edit ${what}`), h("span.muted.small", "Markdown: # heading, **bold**, *italic*, `code`, - lists, [links](https://…)")),
      h("div.note-edit", area, live),
      h("div.dialog-actions", button("Cancel", show), button(`Save ${what}`, () => save(area.value), { kind: "primary" })));
    area.focus();
  };
  show();
  return panel;
}

function datasetsPanel(run) {
  const inputs = run.inputs?.dataset_inputs || [];
  const panel = h("section.panel", h("h2", `Datasets (${inputs.length})`));
  if (!inputs.length) { panel.append(h("p.muted", "No datasets logged.")); return panel; }
  panel.append(h("div.table-wrap", h("table.grid.compact",
    h("thead", h("tr", ["Name", "Digest", "Context", "Source", "Profile"].map((c) => h("th", c)))),
    h("tbody", inputs.map(({ dataset: d, tags }) => {
      const t = api.pairs(tags);
      return h("tr", h("td", d.name), h("td", h("code", d.digest)), h("td", t["mlflow.data.context"] || ""),
        h("td", `${d.source_type}: ${sourceText(d.source)}`), h("td", profileText(d.profile)));
    })))));
  return panel;
}

function sourceText(source) {
  try { const parsed = JSON.parse(source); return parsed.uri || parsed.url || source; } catch { return source || ""; }
}

function profileText(profile) {
  try { return Object.entries(JSON.parse(profile)).map(([k, v]) => `${k}: ${v}`).join(", "); } catch { return profile || ""; }
}

function loggedModelsPanel(run) {
  const ids = [...new Set([...(run.outputs?.model_outputs || []), ...(run.inputs?.model_inputs || [])].map((m) => m.model_id))];
  return lazyPanel(`Logged models (${ids.length})`, async () => {
    if (!ids.length) return h("p.muted", "No logged models.");
    const models = await Promise.all(ids.map((id) => api.get(`logged-models/${enc(id)}`).then((r) => r.model, () => null)));
    return h("ul.plain", models.map((m, i) => h("li", m
      ? [h("a", { href: `#/logged-models/${enc(m.info.model_id)}` }, m.info.name), " ", h("code.muted", m.info.model_id), " ",
        h("span.badge.neutral", (m.info.status || "").replace("LOGGED_MODEL_", "").toLowerCase())]
      : h("code", ids[i]))));
  });
}
