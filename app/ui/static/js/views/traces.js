// An experiment's traces, and a run's: a table newest first (request and response previews,
// state, latency, time, tags, assessments), filtered with the grammar of mlflow.search_traces
// and paged with the server's page tokens. An evaluation run's traces show each scorer's
// assessment in a column of its own.

import * as api from "../api.js";
import { button, pageHeader } from "../components/widgets.js";
import {
  assessmentChip, durationMs, latency, previewText, searchTraces, stateBadge, timeMs, traceFilter, traceHref, traceName, traceRun,
  validAssessments,
} from "../components/trace-parts.js";
import { enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { setQuery } from "../router.js";
import { experimentTabs } from "./experiment-tabs.js";
import { traceView } from "./trace.js";

const PAGE = 50;
const SHOWN_TAGS = 3;

const FILTER_EXAMPLES = [
  "trace.status = 'ERROR'",
  "trace.execution_time_ms > 1000",
  "tag.env = 'prod'",
  "trace.name = 'answer'",
  "feedback.helpful = 'true'",
  "span.type = 'LLM'",
];

/** #/experiments/:id/traces, and the official UI's ?selectedTraceId= form of one trace. */
export async function tracesView(main, params, query) {
  if (query.get("selectedTraceId")) return traceView(main, { id: params.id, traceId: query.get("selectedTraceId") }, query);
  const experiment = await api.getExperiment(params.id);
  const list = traceList({ experimentId: experiment.experiment_id, filter: query.get("filter") || "", onFilter: (filter) => setQuery({ filter }) });
  main.replaceChildren(h("section.page.traces-page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments")], experiment.name,
      experiment.lifecycle_stage === "deleted" ? h("span.badge.neutral", "deleted") : null),
    h("p.meta", `ID ${experiment.experiment_id} · artifacts at ${experiment.artifact_location}`),
    experimentTabs(experiment.experiment_id, "traces"),
    list.element));
  await list.load();
  return list.stop;
}

/** The traces linked to a run (the run page's Traces tab); an evaluation run's with its scores. */
export function runTraces(run, tags) {
  const list = traceList({
    experimentId: run.info.experiment_id,
    none: "No traces are linked to this run.",
    scope: `attribute.run_id = '${run.info.run_id}'`,
    scores: tags["mlflow.runType"] === "genai_evaluate",
  });
  list.load();
  return list.element;
}

/**
 * A filterable, paged table of traces: {element, load(), stop()}. scope: a filter always
 * applied (joined to the user's with AND); scores: one column per assessment name.
 */
function traceList({ experimentId, scope = "", filter = "", onFilter = () => {}, scores = false,
  none = "No traces in this experiment yet: functions decorated with @mlflow.trace record them." }) {
  const tokens = [null];  // tokens[i]: the page token of page i
  let page = 0, generation = 0;

  const input = h("input.input.filter", {
    type: "search", value: filter, spellcheck: "false", "data-shortcut": "/",
    placeholder: "Filter: trace.status = 'ERROR' and tag.env = 'prod' (or text to find)", "aria-label": "Filter traces",
  });
  const error = h("div.error-box", { role: "alert", hidden: true });
  const status = h("span.muted", { role: "status" });
  const previous = button("← Previous", () => go(page - 1), { kind: "ghost", disabled: true });
  const next = button("Next →", () => go(page + 1), { kind: "ghost", disabled: true });
  const head = h("thead");
  const body = h("tbody");
  const table = h("table.grid.traces", { "aria-label": "Traces" }, head, body);
  const empty = h("p.empty", { hidden: true });

  const apply = () => { onFilter(input.value.trim()); tokens.length = 1; go(0); };
  const element = h("div.trace-list",
    h("form.filter-form", { on: { submit: (e) => { e.preventDefault(); apply(); } } },
      input, h("button.btn.primary", { type: "submit" }, "Search"),
      button("Clear", () => { input.value = ""; apply(); }, { kind: "ghost" })),
    error,
    h("details.help", h("summary", "Filter syntax"),
      h("p", "Compare ", h("code", "trace.<attribute>"), " (status, name, timestamp_ms, execution_time_ms, run_id, client_request_id), ",
        h("code", "tag.<key>"), ", ", h("code", "metadata.<key>"), ", ", h("code", "span.<name|type|attributes.key>"), ", ",
        h("code", "feedback.<name>"), " and ", h("code", "expectation.<name>"),
        " with =, !=, <, >, LIKE, ILIKE; join with ", h("code", "AND"), ". Text without a comparator searches the traces' contents."),
      h("ul", FILTER_EXAMPLES.map((example) => h("li", button(example, () => { input.value = example; apply(); }, { kind: "link" }))))),
    h("div.toolbar", status, h("span.spacer"), previous, next),
    h("div.table-wrap", table),
    empty);

  async function go(index) {
    const mine = ++generation;
    error.hidden = true;
    status.textContent = "Loading…";
    table.dataset.state = "loading";
    previous.disabled = next.disabled = true;
    const user = traceFilter(input.value);
    try {
      const result = await searchTraces(experimentId, {
        filter: [scope, user].filter(Boolean).join(" AND "), pageToken: tokens[index], maxResults: PAGE,
      });
      if (mine !== generation) return;
      page = index;
      tokens[index + 1] = result.next_page_token || null;
      draw(result.traces || []);
      const first = index * PAGE;
      const shown = (result.traces || []).length;
      status.textContent = shown ? `Traces ${fmt.count(first + 1)}–${fmt.count(first + shown)}${tokens[index + 1] ? "" : ` of ${fmt.count(first + shown)}`}` : "";
      empty.textContent = user ? "No traces match." : none;
      empty.hidden = shown > 0;
      previous.disabled = index === 0;
      next.disabled = !tokens[index + 1];
    } catch (failure) {
      if (mine !== generation) return;
      replace(error, h("strong", "The server refused this search: "), failure.message);
      error.hidden = false;
      status.textContent = "";
      body.replaceChildren();
      empty.hidden = true;
      previous.disabled = index === 0;
    }
    table.dataset.state = "ready";  // for tests: the rows of this search are drawn
  }

  function draw(traces) {
    const names = scores ? [...new Set(traces.flatMap((t) => validAssessments(t).map((a) => a.assessment_name)))].sort() : [];
    const columns = ["Trace", "Request", "Response", "State", "Latency", "Time", scope ? null : "Run", "Tags",
      ...(scores ? names : ["Assessments"])].filter(Boolean);
    replace(head, h("tr", columns.map((c) => h("th", { scope: "col" }, c))));
    body.replaceChildren(...traces.map((info) => row(info, names)));
    table.querySelector("tfoot")?.remove();
    if (names.length && traces.length > 1) {
      table.append(h("tfoot", h("tr", h("th", { scope: "row", colspan: String(columns.length - names.length) }, "On this page"),
        names.map((name) => h("td.num", summary(traces.flatMap((t) => validAssessments(t).filter((a) => a.assessment_name === name))))))));
    }
  }

  function row(info, names) {
    const runId = traceRun(info);
    const when = timeMs(info.request_time);
    const userTags = Object.entries(info.tags || {}).filter(([k]) => !k.startsWith("mlflow.")).sort();
    const assessments = validAssessments(info);
    return h("tr", { dataset: { traceId: info.trace_id } },
      h("td.trace-name", h("a.trace-link", { href: traceHref(info), title: info.trace_id }, traceName(info)),
        h("code.muted.small", info.trace_id.slice(0, 14))),
      h("td.preview", { title: info.request_preview || "" }, previewText(info.request_preview)),
      h("td.preview", { title: info.response_preview || "" }, previewText(info.response_preview)),
      h("td", stateBadge(info.state)),
      h("td.num", latency(durationMs(info.execution_duration))),
      h("td.when", { title: fmt.time(when) }, fmt.ago(when)),
      scope ? null : h("td", runId ? h("a", { href: `#/experiments/${enc(experimentId)}/runs/${enc(runId)}`, title: runId }, runId.slice(0, 8)) : ""),
      h("td.chips", userTags.slice(0, SHOWN_TAGS).map(([k, v]) => h("span.chip", { title: `${k}: ${v}` }, `${k}: ${v}`)),
        userTags.length > SHOWN_TAGS ? h("span.muted.small", `+${userTags.length - SHOWN_TAGS}`) : null),
      scores
        ? names.map((name) => h("td", assessments.filter((a) => a.assessment_name === name).map((a) => assessmentChip(a, { withName: false }))))
        : h("td.chips", assessments.map((a) => assessmentChip(a))));
  }

  return { element, load: () => go(0), stop: () => { generation++; } };
}

/** A score over several traces: the share that passed (yes/no, true/false) or the mean. */
function summary(assessments) {
  const values = assessments.filter((a) => a.feedback && !a.feedback.error).map((a) => a.feedback.value);
  if (!values.length) return "";
  const pass = values.map((v) => (v === true || v === "yes" ? 1 : v === false || v === "no" ? 0 : null));
  if (pass.every((v) => v !== null)) return `${Math.round((100 * pass.reduce((a, b) => a + b, 0)) / values.length)}% pass`;
  if (values.every((v) => typeof v === "number")) return `mean ${fmt.number(values.reduce((a, b) => a + b, 0) / values.length)}`;
  return "";
}
