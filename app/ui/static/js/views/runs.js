// The runs of one or several experiments: a virtualized table that pages through runs/search
// as it scrolls (only the rows in view exist in the DOM), sorted and filtered by the server,
// with chosen param / metric / tag columns, nested runs under their parent, selection for
// comparing, and the loaded rows as CSV.

import * as api from "../api.js";
import { columnPicker } from "../components/column-picker.js";
import { confirm } from "../components/dialog.js";
import { attempt, button, pageHeader, statusBadge } from "../components/widgets.js";
import { enc, h, replace, saveFile, throttleFrame } from "../dom.js";
import * as fmt from "../format.js";
import { listParam, setQuery } from "../router.js";
import { toCsv } from "./csv.js";
import { experimentTabs } from "./experiment-tabs.js";

const FIRST_PAGE = 200;
const NEXT_PAGE = 500;
const ROW = 36;  // px, keep in step with .vrow in app.css
const OVERSCAN = 8;

const FILTER_EXAMPLES = [
  "metrics.loss < 0.5",
  "params.optimizer = 'adam' and metrics.accuracy > 0.8",
  "attributes.status = 'FAILED'",
  "tags.stage != 'prod'",
  "attributes.run_name LIKE 'sweep-%'",
];

/** Fixed columns; `sort` is the order_by key the server accepts. */
function baseColumns(experimentNames) {
  const columns = [
    { id: "name", label: "Run name", width: 260, sort: "attributes.run_name" },
    { id: "created", label: "Created", width: 130, sort: "attributes.start_time" },
    { id: "duration", label: "Duration", width: 90 },
    { id: "status", label: "Status", width: 96, sort: "attributes.status" },
    { id: "user", label: "User", width: 110, sort: "attributes.user_id" },
  ];
  if (experimentNames.size > 1) columns.push({ id: "experiment", label: "Experiment", width: 150 });
  return columns;
}

const KINDS = { m: ["metrics", "_metrics"], p: ["params", "_params"], t: ["tags", "_tags"] };

/** A chosen column: 'm:loss' (metric), 'p:lr' (param), 't:team' (tag). */
function dataColumn(id) {
  const kind = id[0], key = id.slice(2);
  return { id, kind, key, label: key, width: kind === "t" ? 140 : 130, sort: `${KINDS[kind][0]}.\`${key}\``, numeric: kind === "m" };
}

/** Filters without a comparator search run names, as people type them. */
export function filterText(input) {
  const text = input.trim();
  if (!text || /[=<>!]|\b(like|ilike|in|is)\b/i.test(text)) return text;
  return `attributes.run_name ILIKE '%${text.replaceAll("'", "")}%'`;
}

export async function runsView(main, params, query) {
  const ids = params.id ? [params.id] : listParam(query, "experiments");
  if (!ids.length) throw new Error("No experiment chosen");
  const experiments = await Promise.all(ids.map(api.getExperiment));
  const names = new Map(experiments.map((e) => [e.experiment_id, e.name]));

  const state = {
    filter: query.get("filter") || "",
    order: query.get("order") || "attributes.start_time DESC",
    view: query.get("view") || "ACTIVE_ONLY",
    nest: query.get("nest") !== "0",
    columns: query.get("columns") === null ? null : listParam(query, "columns"),
    selected: new Set(),
    expanded: new Set(),
  };
  const keys = { m: new Set(), p: new Set(), t: new Set() };
  let runs = [], rows = [], token = null, generation = 0, columns = [];
  let fetching = 0;  // the generation whose next page is being fetched; 0 when idle

  // ---------------------------------------------------------------- toolbar
  const filterInput = h("input.input.filter", {
    type: "search", value: state.filter, spellcheck: "false", "data-shortcut": "/",
    placeholder: "Filter: metrics.loss < 0.5 and params.lr = '0.01' (or a run name)", "aria-label": "Filter runs",
  });
  const filterError = h("div.error-box", { role: "alert", hidden: true });
  const filterForm = h("form.filter-form", { on: { submit: (e) => { e.preventDefault(); applyFilter(); } } },
    filterInput, h("button.btn.primary", { type: "submit" }, "Search"),
    button("Clear", () => { filterInput.value = ""; applyFilter(); }, { kind: "ghost" }));
  const help = h("details.help", h("summary", "Filter syntax"),
    h("p", "Compare ", h("code", "metrics.<key>"), ", ", h("code", "params.<key>"), ", ", h("code", "tags.<key>"),
      " and ", h("code", "attributes.<name>"), " with =, !=, <, <=, >, >=, LIKE, ILIKE; join with ", h("code", "and"),
      ". Quote keys with odd characters in backticks: ", h("code", "params.`my-key`"), ". Text without a comparator searches run names."),
    h("ul", FILTER_EXAMPLES.map((example) => h("li", button(example, () => { filterInput.value = example; applyFilter(); }, { kind: "link" })))));
  const viewSelect = h("select.input", { "aria-label": "Which runs", on: { change: () => { state.view = viewSelect.value; setQuery({ view: state.view === "ACTIVE_ONLY" ? "" : state.view }); reload(); } } },
    [["ACTIVE_ONLY", "Active runs"], ["DELETED_ONLY", "Deleted runs"], ["ALL", "All runs"]].map(([value, label]) => h("option", { value, selected: value === state.view }, label)));
  const nestBox = h("input", { type: "checkbox", checked: state.nest, on: { change: () => { state.nest = nestBox.checked; setQuery({ nest: state.nest ? "" : "0" }); relayout(); } } });
  const picker = columnPicker(keys, () => state.columns || [], (chosen) => { state.columns = chosen; setQuery({ columns: chosen }); setColumns(); });
  const compareButton = button("Compare", () => { location.hash = `#/compare-runs?runs=${[...state.selected].map(enc).join(",")}`; }, { kind: "primary", disabled: true });
  const deleteButton = button("Delete", () => changeLifecycle(), { kind: "ghost", disabled: true });
  const csvButton = button("Download CSV", downloadCsv, { kind: "ghost", title: "The loaded runs with the shown columns" });
  const status = h("span.muted", { role: "status" });

  // ---------------------------------------------------------------- the grid
  const header = h("div.vhead", { role: "row" });
  const body = h("div.vbody", { role: "rowgroup" });
  const grid = h("div.vgrid", { role: "table", "aria-label": "Runs", "aria-rowcount": "0" }, header, body);
  const rendered = new Map();  // row index -> element
  const empty = h("p.empty", { hidden: true }, "No runs match.");

  const single = experiments.length === 1 ? experiments[0] : null;
  const title = single ? single.name : `Runs of ${experiments.length} experiments`;
  main.replaceChildren(h("section.page.runs-page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments")], title,
      single?.lifecycle_stage === "deleted" ? h("span.badge.neutral", "deleted") : null),
    single ? h("p.meta", `ID ${single.experiment_id} · artifacts at ${single.artifact_location}`) : h("p.meta", experiments.map((e) => e.name).join(", ")),
    single ? experimentTabs(single.experiment_id, "runs") : null,
    filterForm, filterError, help,
    h("div.toolbar", viewSelect, h("label.check-label", nestBox, "Nest child runs"), picker.element,
      h("span.spacer"), status, compareButton, deleteButton, csvButton),
    grid, empty));

  // ---------------------------------------------------------------- data
  async function reload() {
    const mine = ++generation;
    runs = []; token = null; rows = [];
    state.selected.clear();
    updateSelection();
    filterError.hidden = true;
    status.textContent = "Loading…";
    grid.dataset.state = "loading";
    grid.scrollTop = 0;
    relayout();
    await loadMore(mine);
  }

  async function loadMore(mine = generation) {
    if (fetching === mine) return;
    fetching = mine;
    try {
      const page = await api.post("runs/search", {
        experiment_ids: ids, filter: filterText(state.filter) || undefined, run_view_type: state.view,
        max_results: runs.length ? NEXT_PAGE : FIRST_PAGE, order_by: [state.order], page_token: token || undefined,
      });
      if (mine !== generation) return;
      const fresh = (page.runs || []).map(prepare);
      runs.push(...fresh);
      token = page.next_page_token || null;
      const firstPage = runs.length === fresh.length;
      for (const run of fresh) collectKeys(run);
      if (firstPage && state.columns === null) state.columns = defaultColumns();
      picker.refresh();
      if (firstPage) setColumns(); else relayout();
    } catch (error) {
      if (mine !== generation) return;
      filterError.replaceChildren(h("strong", "The server refused this search: "), error.message);
      filterError.hidden = false;
      status.textContent = "";
    } finally {
      if (fetching === mine) fetching = 0;
    }
    if (mine === generation) {
      updateStatus();
      empty.hidden = rows.length > 0 || !filterError.hidden;
      renderWindow();
      grid.dataset.state = "ready";  // for tests and the benchmark: the rows of this search are drawn
    }
  }

  function prepare(run) {
    run._metrics = {};
    for (const m of run.data?.metrics || []) run._metrics[m.key] = api.num(m.value);
    run._params = api.pairs(run.data?.params);
    run._tags = api.pairs(run.data?.tags);
    run._name = api.runName(run);
    return run;
  }

  function collectKeys(run) {
    for (const k of Object.keys(run._metrics)) keys.m.add(k);
    for (const k of Object.keys(run._params)) keys.p.add(k);
    for (const k of Object.keys(run._tags)) if (!k.startsWith("mlflow.")) keys.t.add(k);
  }

  function defaultColumns() {
    const first = (set, n) => [...set].sort().slice(0, n);
    return [...first(keys.m, 4).map((k) => `m:${k}`), ...first(keys.p, 4).map((k) => `p:${k}`)];
  }

  function updateStatus() {
    status.textContent = `${fmt.count(runs.length)}${token ? "+" : ""} run${runs.length === 1 ? "" : "s"}${token ? " (more load as you scroll)" : ""}`;
  }

  // ---------------------------------------------------------------- layout
  function setColumns() {
    columns = [...baseColumns(names), ...(state.columns || []).map(dataColumn)];
    const template = ["40px", ...columns.map((c) => `${c.width}px`)].join(" ");
    grid.style.setProperty("--cols", template);
    grid.style.setProperty("--width", `${40 + columns.reduce((sum, c) => sum + c.width, 0)}px`);
    renderHeader();
    relayout();
  }

  function renderHeader() {
    const all = h("input", { type: "checkbox", "aria-label": "Select all loaded runs", on: { change: () => {
      for (const r of rows) if (all.checked) state.selected.add(r.run.info.run_id); else state.selected.delete(r.run.info.run_id);
      updateSelection();
      redrawRows();
    } } });
    const [sortKey, direction = "ASC"] = splitOrder(state.order);
    header.replaceChildren(h("div.vcell.check", { role: "columnheader" }, all), ...columns.map((c) => {
      const sorted = c.sort && c.sort === sortKey;
      const label = h("span", c.kind ? h("span.kind", { title: KINDS[c.kind][0] }, c.kind.toUpperCase()) : null, c.label);
      const cell = h(`div.vcell${c.numeric ? ".num" : ""}`, { role: "columnheader", "aria-sort": sorted ? (direction === "ASC" ? "ascending" : "descending") : null },
        c.sort ? h("button.sort", { type: "button", title: `Sort by ${c.label}`, on: { click: () => sortBy(c) } },
          label, sorted ? h("span.arrow", { "aria-hidden": "true" }, direction === "ASC" ? "▲" : "▼") : null) : label);
      return cell;
    }));
  }

  function sortBy(column) {
    const [key, direction] = splitOrder(state.order);
    const next = key === column.sort ? (direction === "ASC" ? "DESC" : "ASC") : (column.id === "name" ? "ASC" : "DESC");
    state.order = `${column.sort} ${next}`;
    setQuery({ order: state.order === "attributes.start_time DESC" ? "" : state.order });
    renderHeader();
    reload();
  }

  /** Rows to show: runs in server order, children under their parent when nested. */
  function flatten() {
    if (!state.nest) return runs.map((run) => ({ run, depth: 0, children: 0 }));
    const byId = new Map(runs.map((r) => [r.info.run_id, r]));
    const children = new Map();
    const roots = [];
    for (const run of runs) {
      const parent = run._tags["mlflow.parentRunId"];
      if (parent && parent !== run.info.run_id && byId.has(parent)) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(run);
      } else {
        roots.push(run);
      }
    }
    const out = [], seen = new Set();
    const visit = (run, depth) => {
      if (seen.has(run.info.run_id)) return;
      seen.add(run.info.run_id);
      const kids = children.get(run.info.run_id) || [];
      out.push({ run, depth, children: kids.length });
      if (state.expanded.has(run.info.run_id)) for (const kid of kids) visit(kid, depth + 1);
    };
    for (const run of roots) visit(run, 0);
    return out;
  }

  function relayout() {
    rows = flatten();
    body.style.height = `${rows.length * ROW}px`;
    grid.setAttribute("aria-rowcount", String(rows.length + 1));
    redrawRows();
  }

  function redrawRows() {
    for (const el of rendered.values()) el.remove();
    rendered.clear();
    renderWindow();
  }

  function renderWindow() {
    const top = Math.max(0, grid.scrollTop - header.offsetHeight);
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((top + grid.clientHeight) / ROW) + OVERSCAN);
    for (const [index, el] of rendered) if (index < first || index >= last) { el.remove(); rendered.delete(index); }
    for (let i = first; i < last; i++) if (!rendered.has(i)) { const el = renderRow(i); rendered.set(i, el); body.append(el); }
    if (token && fetching !== generation && last >= rows.length - OVERSCAN * 4) loadMore();
  }

  function renderRow(index) {
    const { run, depth, children } = rows[index];
    const id = run.info.run_id;
    const check = h("input", { type: "checkbox", checked: state.selected.has(id), "aria-label": `Select ${run._name}`,
      on: { change: () => { if (check.checked) state.selected.add(id); else state.selected.delete(id); updateSelection(); } } });
    const cells = columns.map((c) => h(`div.vcell${c.numeric ? ".num" : ""}`, { role: "cell" }, cellContent(c, run, depth, children)));
    const row = h(`div.vrow${run.info.lifecycle_stage === "deleted" ? ".deleted" : ""}`, { role: "row", dataset: { index }, "aria-rowindex": String(index + 2) },
      h("div.vcell.check", { role: "cell" }, check), ...cells);
    row.style.transform = `translateY(${index * ROW}px)`;
    return row;
  }

  function cellContent(column, run, depth, children) {
    const info = run.info;
    switch (column.id) {
      case "name": {
        const id = info.run_id;
        const toggle = children ? h("button.twisty", { type: "button", "aria-expanded": String(state.expanded.has(id)),
          title: `${children} child run${children > 1 ? "s" : ""}`,
          on: { click: () => { if (state.expanded.has(id)) state.expanded.delete(id); else state.expanded.add(id); relayout(); } } },
        state.expanded.has(id) ? "▾" : "▸", h("span.count", String(children))) : h("span.twisty-space");
        const name = h("span.name", toggle, h("a.run-link", { href: `#/experiments/${enc(info.experiment_id)}/runs/${enc(id)}`, title: run._name }, run._name));
        name.style.paddingLeft = `${depth * 18}px`;
        return name;
      }
      case "created": return h("span", { title: fmt.time(info.start_time) }, fmt.ago(info.start_time));
      case "duration": return fmt.duration(info.start_time, info.end_time);
      case "status": return statusBadge(info.status);
      case "user": return info.user_id || "";
      case "experiment": return names.get(info.experiment_id) || info.experiment_id;
      default: {
        const value = run[KINDS[column.kind][1]][column.key];
        const text = column.kind === "m" ? fmt.number(value) : (value ?? "");
        return h("span", { title: String(value ?? "") }, text);
      }
    }
  }

  // ---------------------------------------------------------------- actions
  function applyFilter() {
    state.filter = filterInput.value.trim();
    setQuery({ filter: state.filter });
    reload();
  }

  function updateSelection() {
    const n = state.selected.size;
    compareButton.disabled = n < 1;
    compareButton.textContent = n ? `Compare ${n}` : "Compare";
    deleteButton.disabled = n < 1;
    deleteButton.textContent = state.view === "DELETED_ONLY" ? `Restore${n ? ` ${n}` : ""}` : `Delete${n ? ` ${n}` : ""}`;
  }

  async function changeLifecycle() {
    const restore = state.view === "DELETED_ONLY";
    const chosen = [...state.selected];
    if (!restore && !await confirm("Delete runs", `Delete ${chosen.length} run${chosen.length > 1 ? "s" : ""}? They can be restored from the deleted runs.`)) return;
    await attempt(() => Promise.all(chosen.map((run_id) => api.post(restore ? "runs/restore" : "runs/delete", { run_id }))),
      restore ? "Restored" : "Deleted");
    reload();
  }

  function downloadCsv() {
    const all = state.nest ? flattenAll() : runs;
    const head = ["run_id", "run_name", "experiment", "start_time", "end_time", "status", "user",
      ...columns.filter((c) => c.kind).map((c) => `${KINDS[c.kind][0]}.${c.key}`)];
    const lines = all.map((run) => [run.info.run_id, run._name, names.get(run.info.experiment_id) || run.info.experiment_id,
      run.info.start_time ? new Date(Number(run.info.start_time)).toISOString() : "",
      run.info.end_time ? new Date(Number(run.info.end_time)).toISOString() : "", run.info.status, run.info.user_id || "",
      ...columns.filter((c) => c.kind).map((c) => run[KINDS[c.kind][1]][c.key] ?? "")]);
    saveFile(`runs-${ids.join("-")}.csv`, toCsv([head, ...lines]), "text/csv");
  }

  /** Every loaded run, children right after their parent (collapsed or not). */
  function flattenAll() {
    const expanded = state.expanded;
    state.expanded = new Set(runs.map((r) => r.info.run_id));
    const out = flatten().map((r) => r.run);
    state.expanded = expanded;
    return out;
  }

  // Arrow keys move between rows; the grid scrolls the target row into existence first.
  grid.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const row = event.target.closest(".vrow");
    if (!row) return;
    event.preventDefault();
    const next = Number(row.dataset.index) + (event.key === "ArrowDown" ? 1 : -1);
    if (next < 0 || next >= rows.length) return;
    const y = next * ROW + header.offsetHeight;
    if (y < grid.scrollTop + header.offsetHeight) grid.scrollTop = y - header.offsetHeight;
    else if (y + ROW > grid.scrollTop + grid.clientHeight) grid.scrollTop = y + ROW - grid.clientHeight;
    renderWindow();
    rendered.get(next)?.querySelector(event.target.matches("input") ? "input" : "a")?.focus();
  });
  grid.addEventListener("scroll", throttleFrame(renderWindow));
  window.addEventListener("resize", renderWindow);

  await reload();
  return () => { generation++; window.removeEventListener("resize", renderWindow); };
}

function splitOrder(order) {
  const match = /^(.*?)\s+(ASC|DESC)$/i.exec(order.trim());
  return match ? [match[1], match[2].toUpperCase()] : [order.trim(), "ASC"];
}
