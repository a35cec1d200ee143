// The model registry: registered models, one model with its versions, aliases, tags and
// stages, and one version with its source run and artifacts.

import * as api from "../api.js";
import { addPermissionsPanel } from "../auth/permissions-panel.js";
import { askPair } from "../components/dialog.js";
import { attempt, button, kvTable, pageHeader } from "../components/widgets.js";
import { debounce, enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { setQuery } from "../router.js";
import { artifactBrowser } from "./artifacts.js";
import { quoted } from "./experiments.js";
import { notePanel } from "./run.js";

const PROMPTS = "tags.`mlflow.prompt.is_prompt` != 'true'";

const modelHref = (name) => `#/models/${enc(name)}`;
const versionHref = (name, version) => `#/models/${enc(name)}/versions/${enc(version)}`;

function aliasChips(aliases) {
  return (aliases || []).map((a) => h("span.chip", { title: "alias" }, `@${typeof a === "string" ? a : a.alias}`));
}

function stageBadge(stage) {
  return stage && stage !== "None" ? h(`span.badge.${stage === "Production" ? "ok" : stage === "Staging" ? "run" : "neutral"}`, stage) : null;
}

export async function modelsView(main, _params, query) {
  const search = h("input.input.search", { type: "search", placeholder: "Search models by name", value: query.get("q") || "",
    "aria-label": "Search models by name", "data-shortcut": "/" });
  const body = h("tbody");
  const more = h("div.more");
  const status = h("p.muted", { role: "status" });
  main.replaceChildren(h("section.page", pageHeader([], "Registered models"), h("div.toolbar", search), status,
    h("div.table-wrap", h("table.grid", h("thead", h("tr", ["Name", "Latest version", "Aliases", "Stages", "Last modified", "Description"].map((c) => h("th", c)))), body)),
    more));

  let generation = 0;
  async function load(token) {
    const mine = token ? generation : ++generation;
    if (!token) body.replaceChildren();
    const text = search.value.trim();
    const filter = [PROMPTS, text ? `name ILIKE ${quoted(`%${text}%`)}` : null].filter(Boolean).join(" AND ");
    const page = await api.get("registered-models/search", { filter, max_results: 100, page_token: token, order_by: ["name ASC"] })
      .catch((error) => { status.textContent = error.message; return null; });
    if (!page || mine !== generation) return;
    const models = page.registered_models || [];
    status.textContent = !token && !models.length ? "No registered models." : "";
    body.append(...models.map((m) => {
      const versions = m.latest_versions || [];
      const latest = versions.reduce((best, v) => (!best || Number(v.version) > Number(best.version) ? v : best), null);
      return h("tr",
        h("td", h("a", { href: modelHref(m.name) }, m.name)),
        h("td", latest ? h("a", { href: versionHref(m.name, latest.version) }, `Version ${latest.version}`) : "—"),
        h("td", aliasChips(m.aliases)),
        h("td", versions.filter((v) => v.current_stage && v.current_stage !== "None").map((v) => [stageBadge(v.current_stage), ` v${v.version} `])),
        h("td", { title: fmt.time(m.last_updated_timestamp) }, fmt.ago(m.last_updated_timestamp)),
        h("td.clip", m.description || ""));
    }));
    replace(more, page.next_page_token ? button("Load more", () => load(page.next_page_token)) : null);
  }
  search.addEventListener("input", debounce(() => { setQuery({ q: search.value.trim() }); load(); }, 250));
  await load();
  return () => { generation++; };
}

export async function modelView(main, params) {
  const { registered_model: model } = await api.get("registered-models/get", { name: params.name });
  const versions = await api.all((token) => api.get("model-versions/search", {
    filter: `name = ${quoted(model.name)}`, max_results: 200, page_token: token, order_by: ["version_number DESC"] }), "model_versions");
  const aliasesOf = {};
  for (const a of model.aliases || []) (aliasesOf[a.version] ||= []).push(a.alias);
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const tags = Object.entries(api.pairs(model.tags)).filter(([k]) => !k.startsWith("mlflow."));
  const prompt = api.pairs(model.tags)["mlflow.prompt.is_prompt"] === "true";

  const page = h("section.page",
    pageHeader([h("a", { href: "#/models" }, "Models")], model.name),
    h("p.meta", `Created ${fmt.time(model.creation_timestamp)} · last modified ${fmt.ago(model.last_updated_timestamp)}`),
    notePanel(model.description || "", async (text) => {
      if (await attempt(() => api.patch("registered-models/update", { name: model.name, description: text }), "Saved")) reload();
    }, "Description"),
    h("section.panel", h("h2", `Versions (${versions.length})`),
      h("div.table-wrap", h("table.grid", h("thead", h("tr", ["Version", "Registered", "Stage", "Aliases", "Source run", "Tags"].map((c) => h("th", c)))),
        h("tbody", versions.map((v) => h("tr",
          h("td", h("a", { href: versionHref(model.name, v.version) }, `Version ${v.version}`)),
          h("td", { title: fmt.time(v.creation_timestamp) }, fmt.ago(v.creation_timestamp)),
          h("td", stageBadge(v.current_stage) || h("span.muted", "None")),
          h("td", aliasChips(aliasesOf[v.version])),
          h("td", v.run_id ? h("a", { href: `#/runs/${enc(v.run_id)}` }, v.run_id.slice(0, 12)) : "—"),
          h("td", Object.entries(api.pairs(v.tags)).map(([k, val]) => h("span.chip", `${k}: ${val}`))))))))),
    h("section.panel", h("div.panel-head", h("h2", "Tags"),
      button("Add tag", async () => {
        const pair = await askPair("Add tag");
        if (pair?.key && await attempt(() => api.post("registered-models/set-tag", { name: model.name, ...pair }), "Saved")) reload();
      }, { kind: "ghost" })),
    kvTable(tags, { empty: "No tags." })));
  main.replaceChildren(page);
  addPermissionsPanel(page, prompt ? "prompt" : "registered_model", model.name);
}

export async function versionView(main, params, query) {
  const { model_version: v } = await api.get("model-versions/get", { name: params.name, version: params.version });
  const { artifact_uri: uri } = await api.get("model-versions/get-download-uri", { name: v.name, version: v.version })
    .catch(() => ({ artifact_uri: v.source }));
  const root = api.proxyPath(uri);
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const facts = [
    ["Registered", fmt.time(v.creation_timestamp)],
    ["Last modified", fmt.time(v.last_updated_timestamp)],
    ["Stage", stageBadge(v.current_stage) || "None"],
    ["Aliases", (v.aliases || []).length ? aliasChips(v.aliases) : "—"],
    ["Status", v.status || ""],
    ["Source run", v.run_id ? h("a", { href: `#/runs/${enc(v.run_id)}` }, v.run_id) : "—"],
    ["Logged model", v.model_id ? h("a", { href: `#/logged-models/${enc(v.model_id)}` }, v.model_id) : "—"],
    ["Source", h("code", v.source || "")],
    ["Artifacts", h("code", uri || "")],
  ];
  const tags = Object.entries(api.pairs(v.tags));
  main.replaceChildren(h("section.page",
    pageHeader([h("a", { href: "#/models" }, "Models"), h("a", { href: modelHref(v.name) }, v.name)], `${v.name} · version ${v.version}`),
    h("div.two-col",
      h("section.panel", h("h2", "About this version"), kvTable(facts)),
      h("section.panel", h("div.panel-head", h("h2", "Tags"),
        button("Add tag", async () => {
          const pair = await askPair("Add tag");
          if (pair?.key && await attempt(() => api.post("model-versions/set-tag", { name: v.name, version: v.version, ...pair }), "Saved")) reload();
        }, { kind: "ghost" })), kvTable(tags, { empty: "No tags." }))),
    notePanel(v.description || "", async (text) => {
      if (await attempt(() => api.patch("model-versions/update", { name: v.name, version: v.version, description: text }), "Saved")) reload();
    }, "Description"),
    h("section.panel", h("h2", "Artifacts"), root === null
      ? h("p.muted", `The files are at ${uri}, which this server does not serve.`)
      : artifactBrowser({ list: (path) => api.listProxied(root, path), urlOf: (path) => api.artifactUrl(root, path),
        selected: query.get("path") || "", onSelect: (path) => setQuery({ path }) }))));
}

/** #/runs/<id>: find the run's experiment, then show it at its full address. */
export async function runRedirect(_main, params) {
  const run = await api.getRun(params.runId);
  location.replace(`#/experiments/${enc(run.info.experiment_id)}/runs/${enc(run.info.run_id)}`);
}
