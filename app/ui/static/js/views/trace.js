// One trace: its span tree as a timeline next to the chosen span (inputs, outputs, attributes,
// events and exceptions), then the trace's assessments, tags and metadata. The chosen span is
// kept in the address (?span=<id>), so a link opens the same span. Whatever a span holds is
// shown as text: inputs and outputs are untrusted.

import * as api from "../api.js";
import { spanTree } from "../components/span-tree.js";
import {
  assessmentChip, assessmentKind, assessmentValue, durationMs, latency, pretty, readSpan, stateBadge, timeMs, traceRun, typeClass,
} from "../components/trace-parts.js";
import { kvTable, pageHeader } from "../components/widgets.js";
import { enc, h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { setQuery } from "../router.js";

const SHOWN_CHARS = 100_000;  // of one value, before "Show all"

export async function traceView(main, params, query) {
  const traceId = params.traceId || query.get("selectedTraceId");
  const { trace } = await api.v3.get("traces/get", { trace_id: traceId });
  const info = trace.trace_info;
  const experimentId = info.trace_location?.mlflow_experiment?.experiment_id ?? params.id;
  const experiment = await api.getExperiment(experimentId).catch(() => null);
  const spans = (trace.spans || []).map(readSpan);
  const origin = spans.reduce((first, s) => Math.min(first, s.start ?? Infinity), Infinity);  // the first span's start
  const runId = traceRun(info);
  const started = timeMs(info.request_time);
  const tracesHref = `#/experiments/${enc(experimentId)}/traces`;

  const detail = h("section.panel.span-detail", { "aria-live": "polite" });
  const tree = spans.length ? spanTree(spans, {
    selected: query.get("span"),
    onSelect: (span) => { setQuery({ span: span.id }); showSpan(detail, span, info, origin); },
  }) : null;

  main.replaceChildren(h("section.page.trace-page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments"),
      h("a", { href: `#/experiments/${enc(experimentId)}` }, experiment?.name || `Experiment ${experimentId}`),
      h("a", { href: tracesHref }, "Traces")], info.tags?.["mlflow.traceName"] || rootName(spans) || info.trace_id, stateBadge(info.state)),
    h("p.meta", h("code", info.trace_id), ` · ${fmt.time(started)} · ${latency(durationMs(info.execution_duration))} · `,
      `${fmt.count(spans.length)} span${spans.length === 1 ? "" : "s"}`,
      runId ? [" · run ", h("a", { href: `#/experiments/${enc(experimentId)}/runs/${enc(runId)}` }, runId)] : null),
    h("div.trace-layout",
      h("section.panel.span-panel", h("h2", "Spans"), tree ? tree.element : h("p.muted", "This trace has no spans (yet).")),
      tree ? detail : null),
    assessmentsPanel(info, (spanId) => tree?.select(spanId, true)),
    h("div.two-col",
      h("section.panel", h("h2", "Tags"), kvTable(Object.entries(info.tags || {}).sort(), { empty: "No tags." })),
      h("section.panel", h("h2", "Metadata"), kvTable(metadataRows(info), { empty: "No metadata." })))));
  if (tree) tree.select(tree.selected());
  return undefined;
}

/** The name of the span without a parent (a trace from another OpenTelemetry SDK has no mlflow.traceName). */
const rootName = (spans) => spans.find((s) => !s.parent)?.name;

function metadataRows(info) {
  const rows = Object.entries(info.trace_metadata || {}).sort();
  if (info.client_request_id) rows.unshift(["Client request ID", info.client_request_id]);
  return rows;
}

/** The chosen span: what it is, its exceptions, inputs, outputs, attributes and other events. */
function showSpan(panel, span, info, origin) {
  const exceptions = span.events.filter((e) => e.name === "exception");
  const others = span.events.filter((e) => e.name !== "exception");
  const onSpan = (info.assessments || []).filter((a) => a.span_id && a.span_id === span.id);
  replace(panel,
    h("div.panel-head", h("h2.span-title", h(`span.span-type.${typeClass(span.type)}`, span.type), " ", span.name),
      span.error ? h("span.badge.bad", "error") : h("span.badge.ok", "ok")),
    kvTable([
      ["Span ID", h("code", span.id)],
      ["Starts at", span.start === null ? "—" : `+${latency(span.start - origin)}`],
      ["Duration", span.end === null ? "still running" : latency(span.end - span.start)],
      span.message ? ["Status", span.message] : null,
    ].filter(Boolean)),
    exceptions.map((e) => h("div.error-box.exception", { role: "note" },
      h("strong", `${e.attributes["exception.type"] || "Exception"}: `), String(e.attributes["exception.message"] ?? ""),
      e.attributes["exception.stacktrace"] ? h("details", h("summary", "Stack trace"), valueBlock(e.attributes["exception.stacktrace"])) : null)),
    section("Inputs", span.inputs),
    section("Outputs", span.outputs),
    onSpan.length ? h("div.span-section", h("h3", "Assessments"), h("div", onSpan.map((a) => assessmentChip(a)))) : null,
    h("div.span-section", h("h3", "Attributes"),
      kvTable(Object.entries(span.attributes).sort().map(([k, v]) => [k, typeof v === "object" && v !== null ? valueBlock(v) : pretty(v)]),
        { empty: "No attributes." })),
    others.length ? h("div.span-section", h("h3", "Events"), h("ul.plain", others.map((e) => h("li.span-event",
      h("strong", e.name), e.time === null ? "" : h("span.muted", ` +${latency(e.time - origin)}`),
      Object.keys(e.attributes).length ? kvTable(Object.entries(e.attributes).map(([k, v]) => [k, pretty(v)])) : null)))) : null);
}

function section(title, value) {
  return h("div.span-section", h("h3", title), value === undefined || value === null ? h("p.muted", "None.") : valueBlock(value));
}

/** A value pretty-printed in a code block; a long one is cut, with a button to show it all. */
function valueBlock(value) {
  const text = pretty(value);
  const block = h("pre.code.value", text.length > SHOWN_CHARS ? text.slice(0, SHOWN_CHARS) : text);
  if (text.length <= SHOWN_CHARS) return block;
  const more = h("button.btn.link", { type: "button", on: { click: () => { block.textContent = text; more.remove(); } } },
    `Show all ${fmt.count(text.length)} characters`);
  return h("div", block, more);
}

/** Feedback, expectations and issues on the trace (and its spans): value, rationale, source, time. */
function assessmentsPanel(info, selectSpan) {
  const all = info.assessments || [];
  if (!all.length) return h("section.panel.assessments", h("h2", "Assessments"), h("p.muted", "No feedback or expectations on this trace."));
  return h("section.panel.assessments", h("h2", `Assessments (${all.length})`), h("div.table-wrap", h("table.grid.compact",
    h("thead", h("tr", ["Name", "Kind", "Value", "Rationale", "Source", "Span", "Updated"].map((c) => h("th", c)))),
    h("tbody", all.map((a) => h(`tr${a.valid === false ? ".deleted" : ""}`,
      h("td", a.assessment_name, a.valid === false ? h("span.muted", " (overridden)") : null),
      h("td", assessmentKind(a)),
      h("td", assessmentChip(a, { withName: false }), typeof assessmentValue(a) === "object" && assessmentValue(a) !== null ? valueBlock(assessmentValue(a)) : null),
      h("td.rationale", a.rationale || (a.feedback?.error?.error_message ?? "")),
      h("td", a.source ? `${(a.source.source_type || "").toLowerCase()}${a.source.source_id ? `: ${a.source.source_id}` : ""}` : ""),
      h("td", a.span_id ? h("button.btn.link", { type: "button", on: { click: () => selectSpan(a.span_id) } }, "show span") : "trace"),
      h("td", { title: a.last_update_time || "" }, fmt.ago(timeMs(a.last_update_time || a.create_time)))))))));
}
