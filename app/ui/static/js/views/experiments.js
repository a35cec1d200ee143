// The experiments list: search by name, create, rename, delete and restore, run counts, and
// a selection whose runs open together.

import * as api from "../api.js";
import { ask, confirm } from "../components/dialog.js";
import { attempt, button, pageHeader } from "../components/widgets.js";
import { debounce, enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { setQuery } from "../router.js";

const PAGE = 100;
const COUNT_PAGE = 1000;

/** A filter string value in quotes the parser accepts (it has no escapes). */
export function quoted(text) {
  return text.includes("'") ? `"${text.replaceAll('"', "")}"` : `'${text}'`;
}

export async function experimentsView(main, _params, query) {
  const state = { search: query.get("q") || "", view: query.get("view") || "ACTIVE_ONLY", selected: new Set() };
  const searchInput = h("input.input.search", {
    type: "search", placeholder: "Search experiments by name", value: state.search,
    "aria-label": "Search experiments by name", "data-shortcut": "/",
  });
  const viewSelect = h("select.input", { "aria-label": "Which experiments" },
    [["ACTIVE_ONLY", "Active"], ["DELETED_ONLY", "Deleted"], ["ALL", "All"]].map(([value, label]) =>
      h("option", { value, selected: value === state.view }, label)));
  const compareButton = button("Show runs of selected", () => {
    location.hash = `#/runs?experiments=${[...state.selected].map(enc).join(",")}`;
  }, { kind: "primary", disabled: true });
  const body = h("tbody");
  const more = h("div.more");
  const status = h("p.muted", { role: "status" });

  main.replaceChildren(h("section.page",
    pageHeader([], "Experiments", button("New experiment", create, { kind: "primary" })),
    h("div.toolbar", searchInput, viewSelect, compareButton),
    status,
    h("div.table-wrap", h("table.grid",
      h("thead", h("tr",
        h("th.check", h("span.sr-only", "Select")), h("th", "Name"), h("th.num", "ID"), h("th.num", "Runs"),
        h("th", "Created"), h("th", "Last updated"), h("th", h("span.sr-only", "Actions")))),
      body)),
    more));

  let generation = 0;
  async function load(token) {
    const mine = token ? generation : ++generation;
    if (!token) { body.replaceChildren(); state.selected.clear(); updateSelection(); }
    const filter = state.search ? `name ILIKE ${quoted(`%${state.search}%`)}` : undefined;
    const page = await api.get("experiments/search", {
      max_results: PAGE, view_type: state.view, filter, page_token: token,
      order_by: ["last_update_time DESC"],
    }).catch((error) => { status.textContent = error.message; return null; });
    if (!page || mine !== generation) return;
    const experiments = page.experiments || [];
    status.textContent = !token && !experiments.length ? "No experiments match." : "";
    body.append(...experiments.map(row));
    replace(more, page.next_page_token ? button("Load more", () => load(page.next_page_token)) : null);
  }

  function row(exp) {
    const deleted = exp.lifecycle_stage === "deleted";
    const count = h("td.num", h("span.muted", "…"));
    countRuns(exp.experiment_id, count);
    const check = h("input", {
      type: "checkbox", "aria-label": `Select ${exp.name}`,
      on: { change: () => { if (check.checked) state.selected.add(exp.experiment_id); else state.selected.delete(exp.experiment_id); updateSelection(); } },
    });
    return h("tr", { class: deleted ? "deleted" : "" },
      h("td.check", check),
      h("td", h("a", { href: `#/experiments/${enc(exp.experiment_id)}` }, exp.name), deleted ? h("span.badge.neutral", "deleted") : null),
      h("td.num", exp.experiment_id),
      count,
      h("td", { title: fmt.time(exp.creation_time) }, fmt.ago(exp.creation_time)),
      h("td", { title: fmt.time(exp.last_update_time) }, fmt.ago(exp.last_update_time)),
      h("td.actions",
        button("Rename", () => rename(exp), { kind: "ghost" }),
        deleted ? button("Restore", () => restore(exp), { kind: "ghost" })
          : button("Delete", () => remove(exp), { kind: "ghost danger" })));
  }

  function updateSelection() {
    compareButton.disabled = !state.selected.size;
    compareButton.textContent = state.selected.size ? `Show runs of ${state.selected.size} selected` : "Show runs of selected";
  }

  async function create() {
    const name = await ask("New experiment", "Name", "", "Create");
    if (!name) return;
    const result = await attempt(() => api.post("experiments/create", { name }));
    if (result) location.hash = `#/experiments/${enc(result.experiment_id)}`;
  }

  async function rename(exp) {
    const name = await ask("Rename experiment", "New name", exp.name);
    if (name && name !== exp.name && await attempt(() => api.post("experiments/update", { experiment_id: exp.experiment_id, new_name: name }), "Renamed")) load();
  }

  async function remove(exp) {
    if (!await confirm("Delete experiment", `Delete “${exp.name}” and hide its runs? It can be restored from the deleted experiments.`)) return;
    if (await attempt(() => api.post("experiments/delete", { experiment_id: exp.experiment_id }), "Deleted") !== undefined) load();
  }

  async function restore(exp) {
    if (await attempt(() => api.post("experiments/restore", { experiment_id: exp.experiment_id }), "Restored") !== undefined) load();
  }

  searchInput.addEventListener("input", debounce(() => {
    state.search = searchInput.value.trim();
    setQuery({ q: state.search });
    load();
  }, 250));
  viewSelect.addEventListener("change", () => {
    state.view = viewSelect.value;
    setQuery({ view: state.view === "ACTIVE_ONLY" ? "" : state.view });
    load();
  });
  await load();
  return () => { generation++; };
}

/** The number of runs, counted through runs/search a page at a time; past the first page
 *  it shows "1,000+" and offers to count on. */
function countRuns(experimentId, cell) {
  const count = async (token, sofar, limit) => {
    const page = await api.post("runs/search", { experiment_ids: [experimentId], max_results: COUNT_PAGE, page_token: token });
    const total = sofar + (page.runs || []).length;
    if (!page.next_page_token) return replace(cell, fmt.count(total));
    if (total < limit) return count(page.next_page_token, total, limit);
    replace(cell, button(`${fmt.count(total)}+`, () => { replace(cell, h("span.muted", "counting…")); count(page.next_page_token, total, Infinity); },
      { kind: "link", title: "Count every run" }));
  };
  queueCount(() => count(undefined, 0, COUNT_PAGE).catch(() => replace(cell, "?")));
}

// Counts run two at a time, so that a long list does not flood the server.
const waiting = [];
let running = 0;
function queueCount(task) {
  waiting.push(task);
  pump();
}
function pump() {
  while (running < 2 && waiting.length) {
    running++;
    waiting.shift()().finally(() => { running--; pump(); });
  }
}
