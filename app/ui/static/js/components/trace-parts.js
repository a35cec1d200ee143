// What the trace pages share: the trace search call, reading TraceInfoV3 and OTLP spans off the
// wire into plain values, and the small pieces that show them (state badges, latencies,
// assessment chips, pretty-printed values). Span content is untrusted: it only ever becomes
// text nodes.

import * as api from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

/** One page of traces/search in an experiment, newest first: {traces, next_page_token}. */
export function searchTraces(experimentId, { filter, pageToken, maxResults = 50 } = {}) {
  return api.v3.post("traces/search", {
    locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: String(experimentId) } }],
    filter: filter || undefined, order_by: ["timestamp_ms DESC"], max_results: maxResults, page_token: pageToken || undefined,
  });
}

/** A filter without a comparator searches the traces' text (span inputs, outputs, names). */
export function traceFilter(input) {
  const text = input.trim();
  if (!text || /[=<>!]|\b(like|ilike|rlike|in|is)\b/i.test(text)) return text;
  return `trace.text ILIKE '%${text.replaceAll("'", "")}%'`;
}

/** "0.096s" (a proto Duration in JSON) -> milliseconds, or null. */
export function durationMs(duration) {
  const match = /^(-?\d+(?:\.\d+)?)s$/.exec(duration || "");
  return match ? Number(match[1]) * 1000 : null;
}

/** Milliseconds as people read a latency: 0.42ms, 96ms, 1.25s, 2m 5s. */
export function latency(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms === 0) return "0ms";
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/** An RFC 3339 time (request_time, create_time) -> epoch milliseconds, or null. */
export const timeMs = (text) => (text ? Date.parse(text) || null : null);

const STATE_CLASS = { OK: "ok", ERROR: "bad", IN_PROGRESS: "run" };

export function stateBadge(state) {
  return h(`span.badge.${STATE_CLASS[state] || "neutral"}`, { title: state || "STATE_UNSPECIFIED" },
    state === "IN_PROGRESS" ? "in progress" : (state || "unknown").toLowerCase());
}

/** A request or response preview as people read it: a JSON string, or an object's only
 *  string value, unwrapped ({"q": "hi"} -> hi); anything else (or a cut preview) as it is. */
export function previewText(preview) {
  if (!preview) return "";
  let value;
  try { value = JSON.parse(preview); } catch { return preview; }
  if (value === null) return "";
  if (typeof value === "string") return value;
  const values = value && typeof value === "object" && !Array.isArray(value) ? Object.values(value) : [];
  return values.length === 1 && typeof values[0] === "string" ? values[0] : preview;
}

/** The trace's name: its root span's, kept in the tag mlflow.traceName. */
export const traceName = (info) => info.tags?.["mlflow.traceName"] || info.trace_id;

/** The run a trace belongs to (the client records it in the trace's metadata). */
export const traceRun = (info) => info.trace_metadata?.["mlflow.sourceRun"] || null;

export const traceHref = (info) =>
  `#/experiments/${encodeURIComponent(info.trace_location?.mlflow_experiment?.experiment_id ?? "")}/traces/${encodeURIComponent(info.trace_id)}`;

// ---------------------------------------------------------------- values

/** An OTLP AnyValue (proto3 JSON) -> a plain JS value. */
export function anyValue(value) {
  if (!value || typeof value !== "object") return value ?? null;
  if ("string_value" in value) return value.string_value;
  if ("bool_value" in value) return value.bool_value;
  if ("int_value" in value) return Number.isSafeInteger(Number(value.int_value)) ? Number(value.int_value) : String(value.int_value);
  if ("double_value" in value) return Number(value.double_value);
  if ("array_value" in value) return (value.array_value?.values || []).map(anyValue);
  if ("kvlist_value" in value) return attributes(value.kvlist_value?.values);
  if ("bytes_value" in value) return value.bytes_value;
  return null;
}

/** OTLP attributes [{key, value: AnyValue}] -> {key: value}. MLflow's own SDK writes each
 *  value as JSON text ('"LLM"', '{"q": 1}'), so JSON-looking text is decoded. */
export function attributes(list) {
  const out = {};
  for (const { key, value } of list || []) out[key] = unjson(anyValue(value));
  return out;
}

function unjson(value) {
  if (typeof value !== "string" || !/^\s*[[{"]/.test(value)) return value;
  try { return JSON.parse(value); } catch { return value; }
}

/** A value as readable text: strings as they are, anything else as indented JSON. */
export function pretty(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2) ?? String(value);
}

/** A value in one line, for chips and table cells. */
export function brief(value) {
  if (typeof value === "number") return fmt.number(value);
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}

// ---------------------------------------------------------------- spans

/** A span type as a CSS class (t-LLM); types are free text, so only letters, digits and _ stay. */
export const typeClass = (type) => `t-${String(type).replace(/[^A-Za-z0-9_]/g, "_")}`;

/** MLflow's span attributes, shown in their own sections rather than among the attributes. */
const OWN_ATTRIBUTES = ["mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanType", "mlflow.traceRequestId"];

/** A span id as hex, as assessments name it: the v3 API sends span ids in base64. */
export function spanHex(id) {
  if (!id || /^[0-9a-f]{16}$/.test(id)) return id || null;
  try {
    return [...atob(id)].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  } catch {
    return id;
  }
}

const nanosToMs = (nanos) => (nanos === undefined || nanos === null || nanos === "" ? null : Number(nanos) / 1e6);

/** An OTLP span (proto3 JSON) -> {id, parent, name, type, start, end (ms), error, message,
 *  inputs, outputs, attributes, events: [{name, time, attributes}]}. */
export function readSpan(raw) {
  const all = attributes(raw.attributes);
  const code = raw.status?.code;
  const rest = {};
  for (const [key, value] of Object.entries(all)) if (!OWN_ATTRIBUTES.includes(key)) rest[key] = value;
  return {
    id: spanHex(raw.span_id),
    parent: spanHex(raw.parent_span_id),
    name: raw.name || "(unnamed)",
    type: typeof all["mlflow.spanType"] === "string" && all["mlflow.spanType"] ? all["mlflow.spanType"] : "UNKNOWN",
    start: nanosToMs(raw.start_time_unix_nano),
    end: nanosToMs(raw.end_time_unix_nano) || null,
    error: code === "STATUS_CODE_ERROR" || code === 2,
    message: raw.status?.message || "",
    inputs: all["mlflow.spanInputs"],
    outputs: all["mlflow.spanOutputs"],
    attributes: rest,
    events: (raw.events || []).map((e) => ({ name: e.name || "", time: nanosToMs(e.time_unix_nano), attributes: attributes(e.attributes) })),
  };
}

// ---------------------------------------------------------------- assessments

/** An assessment's kind, as the JSON's value field names it. */
export const assessmentKind = (a) => (a.issue ? "issue" : a.expectation ? "expectation" : "feedback");

/** An assessment's value (feedback, expectation or the issue's name; an expectation may be serialized). */
export function assessmentValue(a) {
  if (a.feedback) return a.feedback.error && a.feedback.value === undefined ? undefined : a.feedback.value;
  if (a.issue) return a.issue.issue_name;
  const exp = a.expectation || {};
  if (exp.serialized_value) return unjson(exp.serialized_value.value);
  return exp.value;
}

const GOOD = new Set([true, "yes", "pass", "true"]);
const BAD = new Set([false, "no", "fail", "false"]);

/** name: value, coloured when the value reads as a pass or a fail; errors say so. */
export function assessmentChip(a, { withName = true } = {}) {
  const value = assessmentValue(a);
  const error = a.feedback?.error;
  const key = typeof value === "string" ? value.toLowerCase() : value;
  const tone = error || a.issue ? "bad" : GOOD.has(key) ? "ok" : BAD.has(key) ? "bad" : a.expectation ? "expect" : "";
  const text = error && value === undefined ? `error: ${error.error_message || error.error_code || "failed"}` : brief(value);
  const title = [`${a.assessment_name}: ${text}`, assessmentKind(a), a.rationale,
    a.valid === false ? "(overridden)" : ""].filter(Boolean).join(" · ");
  return h(`span.chip.assessment${tone ? `.${tone}` : ""}${a.valid === false ? ".invalid" : ""}`, { title },
    withName ? `${a.assessment_name}: ` : "", text);
}

/** The assessments still in force (an overridden one has valid = false). */
export const validAssessments = (info) => (info.assessments || []).filter((a) => a.valid !== false);
