"""The traces of an official MLflow database, written into ours by `db import` (writer.py runs
these steps after the runs and inputs, in its batches and checkpoints).

Official table -> ours:
- trace_info -> trace_info (request_id is the trace id; timestamp_ms, execution_time_ms and
  status are request_time, execution_duration and state). A trace comes along when its
  experiment did (imported or already there) and its id is not here yet.
- trace_tags and trace_request_metadata -> trace_tags and trace_metadata. Newer official
  revisions keep some of them in trace_info's columns instead ("promoted"): trace_name is the
  tag mlflow.traceName, session_id the metadata mlflow.trace.session, the token and cost
  columns the JSON metadata mlflow.trace.tokenUsage and mlflow.trace.cost. As the official
  SqlTraceInfo.to_mlflow_entity does, when the source has those columns their values win and
  rows of those keys are ignored; an older source keeps them as rows, which come along as they are.
- entity_associations (trace -> run) and the mlflow.sourceRun metadata -> trace_runs; the other
  associations (evaluation datasets, prompts) are not kept here and counted as ignored.
- spans -> spans, ids and columns kept; `content` converted from the official Span.to_dict()
  JSON (attribute values JSON-encoded strings) to what our traces/get returns, as OTLP ingestion
  (app/http/otlp.py) stores it: the OTLP Span's proto3 JSON as MLflow's message_to_json writes
  it (snake_case, ids base64, times and int_values as numbers); the conversion is the official
  Span.to_otel_proto(), reimplemented here.
- assessments -> assessments (feedback, expectations, issue references).

After the rows, each imported trace's tags_json and metadata_json are made from its rows with
the trace store's own function, a few hundred traces per transaction; safe to run again on a resume.
"""
from __future__ import annotations

import base64
import json

import orjson
import sqlalchemy as sa
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ..services.trace_search import RESERVED_METADATA, TRACE_NAME
from ..services.traces import SOURCE_RUN
from ..store.assessments import EXPECTATION, FEEDBACK, ISSUE
from ..store.bulk import insert_ignore
from ..store.schema import assessments, spans, trace_info, trace_metadata, trace_runs, trace_tags
from ..store.traces import refresh_key_values_json

SESSION = "mlflow.trace.session"
TOKEN_USAGE, COST = RESERVED_METADATA  # the metadata trace_info's token and cost columns hold
# the official trace_analytics' TOKEN_COLUMN_BY_KEY and COST_COLUMN_BY_KEY, in their order
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
                 "cache_creation_input_tokens", "cache_creation_input_tokens_above_1hr")
COST_COLUMNS = ("input_cost", "output_cost", "total_cost")
_STATUS_CODES = {"STATUS_CODE_OK": Status.STATUS_CODE_OK, "OK": Status.STATUS_CODE_OK,
                 "STATUS_CODE_ERROR": Status.STATUS_CODE_ERROR, "ERROR": Status.STATUS_CODE_ERROR}
_INT64 = range(-2**63, 2**63)
# the int64 fields of an OTLP Span, which message_to_json writes as numbers (MessageToDict: strings)
_INT64_FIELDS = frozenset(("start_time_unix_nano", "end_time_unix_nano", "time_unix_nano", "int_value"))
SUMMARY_CHUNK = 500
UNREADABLE_SPANS = ("spans whose stored JSON is empty (the official server archived them) or unreadable: not "
                    "imported (ignored)")
SPAN_BATCH = 1_000  # a span's content may be megabytes


# ------------------------------------------------------------ span content

def span_content(official: str) -> str:
    """An official spans.content (Span.to_dict() as JSON) as ours: the OTLP Span's proto3 JSON."""
    data = json.loads(official)
    span = Span(name=data.get("name") or "", trace_id=_id_bytes(data["trace_id"], 16),
                span_id=_id_bytes(data["span_id"], 8), start_time_unix_nano=int(data["start_time_unix_nano"]))
    if data.get("parent_span_id"):
        span.parent_span_id = _id_bytes(data["parent_span_id"], 8)
    if data.get("end_time_unix_nano"):
        span.end_time_unix_nano = int(data["end_time_unix_nano"])
    status = data.get("status") or {}
    span.status.code = _STATUS_CODES.get(status.get("code"), Status.STATUS_CODE_UNSET)
    if status.get("message"):
        span.status.message = status["message"]
    for key, value in (data.get("attributes") or {}).items():
        attribute = span.attributes.add(key=key)
        _set_value(attribute.value, _attribute_value(value))
    for event in data.get("events") or []:
        added = span.events.add(name=event.get("name") or "", time_unix_nano=int(event.get("time_unix_nano") or 0))
        for key, value in (event.get("attributes") or {}).items():
            _set_value(added.attributes.add(key=key).value, value)
    for link in data.get("links") or []:
        try:
            trace_id, span_id = _hex_id(link["trace_id"]), int(link["span_id"], 16)
        except (KeyError, TypeError, ValueError):
            continue
        if trace_id.bit_length() > 128 or span_id.bit_length() > 64:
            continue  # as the official to_otel_proto: ids wider than OTLP allows are dropped
        added = span.links.add(trace_id=trace_id.to_bytes(16, "big"), span_id=span_id.to_bytes(8, "big"))
        for key, value in (link.get("attributes") or {}).items():
            _set_value(added.attributes.add(key=key).value, value)
    return orjson.dumps(_int64_numbers(MessageToDict(span, preserving_proto_field_name=True))).decode()


def _int64_numbers(value):
    """MessageToDict's output with the int64 fields as numbers, as message_to_json makes it."""
    if isinstance(value, dict):
        return {k: int(v) if k in _INT64_FIELDS else _int64_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_int64_numbers(v) for v in value]
    return value


def _id_bytes(value: str, size: int) -> bytes:
    """A span's id as bytes: base64 in Span.to_dict(); hex (a trace id as tr-<hex>) as 3.5.0 wrote it."""
    try:
        raw = base64.b64decode(value, validate=True)
        if len(raw) == size:
            return raw
    except ValueError:
        pass
    return _hex_id(value).to_bytes(size, "big")


def _hex_id(value: str) -> int:
    """The number of an MLflow trace id (tr-<hex>, trace:/<location>/<hex>) or a hex span id."""
    if value.startswith("trace:/"):
        value = value.rsplit("/", 1)[1]
    return int(value.removeprefix("tr-"), 16)


def _attribute_value(serialized):
    """What the official Span.attributes gives for a stored attribute: its JSON decoded, the raw
    value when it is not JSON, nothing for an empty one."""
    if not serialized:
        return None
    try:
        return json.loads(serialized)
    except (TypeError, ValueError):
        return serialized


def _set_value(target: AnyValue, value) -> None:
    """The official _set_otel_proto_anyvalue: a Python value as an OTLP AnyValue."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value.encode("utf-8", errors="replace").decode("utf-8")
    elif isinstance(value, int) and value in _INT64:
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, (list, tuple)):
        target.array_value.SetInParent()
        for item in value:
            _set_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            _set_value(target.kvlist_value.values.add(key=str(key)).value, item)
    else:  # an integer beyond int64 among them
        target.string_value = str(value)


# ------------------------------------------------------------ promoted columns

def promoted_tags(row: dict) -> list[tuple[str, str]]:
    return [(TRACE_NAME, row["trace_name"])] if row.get("trace_name") is not None else []


def promoted_metadata(row: dict) -> list[tuple[str, str]]:
    """The official compatibility_metadata_from_columns: metadata from trace_info's columns."""
    found = []
    if row.get("session_id") is not None:
        found.append((SESSION, row["session_id"]))
    tokens = {key: int(row[key]) for key in TOKEN_COLUMNS if row.get(key) is not None}
    if tokens:
        found.append((TOKEN_USAGE, json.dumps(tokens)))
    costs = {key: row[key] for key in COST_COLUMNS if row.get(key) is not None}
    if costs:
        found.append((COST, json.dumps(costs)))
    return found


# ------------------------------------------------------------ steps (Writer handlers)

def _text(value) -> str:
    return "" if value is None else str(value)


def write_traces(writer, conn, rows, tally):
    """trace_info rows of experiments imported or already there, unless the trace is here; with
    the tags and metadata of the promoted columns."""
    new = writer._new_parents(conn, rows, tally, "traces", trace_info, "request_id", "experiment_id", "trace_id")
    insert_ignore(conn, trace_info, ("trace_id", "experiment_id", "request_time", "execution_duration", "state",
                                     "client_request_id", "request_preview", "response_preview"), [
        (r["request_id"], r["experiment_id"], r["timestamp_ms"] or 0, r.get("execution_time_ms"), r["status"],
         r.get("client_request_id"), r.get("request_preview"), r.get("response_preview")) for r in new])
    insert_ignore(conn, trace_tags, ("trace_id", "key", "value"),
                  [(r["request_id"], k, v) for r in new for k, v in promoted_tags(r)])
    insert_ignore(conn, trace_metadata, ("trace_id", "key", "value"),
                  [(r["request_id"], k, v) for r in new for k, v in promoted_metadata(r)])


def _promoted(writer, column: str) -> bool:
    """Whether the source's trace_info has the column its promoted keys moved to."""
    return column in writer.source.tables().get("trace_info", ())


def write_trace_tags(writer, conn, rows, tally):
    promoted = _promoted(writer, "trace_name")
    new = []
    for r in rows:
        if not writer._child(tally, "traces", r["request_id"]):
            continue
        if promoted and r["key"] == TRACE_NAME:
            tally.ignored += 1  # the column's value is the tag (written with the trace)
            continue
        new.append((r["request_id"], r["key"], _text(r["value"])))
    insert_ignore(conn, trace_tags, ("trace_id", "key", "value"), new)
    tally.written += len(new)


def write_trace_metadata(writer, conn, rows, tally):
    promoted = {SESSION, TOKEN_USAGE, COST} if _promoted(writer, "session_id") else set()
    new = []
    for r in rows:
        if not writer._child(tally, "traces", r["request_id"]):
            continue
        if r["key"] in promoted:
            tally.ignored += 1  # the columns' values are the metadata (written with the trace)
            continue
        new.append((r["request_id"], r["key"], _text(r["value"])))
    insert_ignore(conn, trace_metadata, ("trace_id", "key", "value"), new)
    insert_ignore(conn, trace_runs, ("trace_id", "run_id"), [(t, v) for t, k, v in new if k == SOURCE_RUN and v])
    tally.written += len(new)


def write_trace_links(writer, conn, rows, tally):
    """entity_associations: the trace -> run ones; the others are not kept here."""
    new = []
    for r in rows:
        if (r["source_type"], r["destination_type"]) != ("trace", "run"):
            tally.ignored += 1
        elif writer._child(tally, "traces", r["source_id"]):
            new.append((r["source_id"], r["destination_id"]))
    insert_ignore(conn, trace_runs, ("trace_id", "run_id"), new)
    tally.written += len(new)


def write_spans(writer, conn, rows, tally):
    """Spans with their content converted; one whose content is empty (the official server
    archived the trace's spans elsewhere) or unreadable is counted as ignored, with a note."""
    new = []
    for r in rows:
        if not writer._child(tally, "traces", r["trace_id"]):
            continue
        try:
            content = span_content(r["content"])
        except (ValueError, KeyError, TypeError, AttributeError):
            tally.ignored += 1
            if UNREADABLE_SPANS not in writer.notes:
                writer.notes.append(UNREADABLE_SPANS)
            continue
        new.append((r["trace_id"], r["span_id"], r.get("parent_span_id"), r.get("name"), r.get("type"), r["status"],
                    r["start_time_unix_nano"], r.get("end_time_unix_nano"), content))
    insert_ignore(conn, spans, ("trace_id", "span_id", "parent_span_id", "name", "span_type", "status", "start_ns",
                                "end_ns", "content"), new)
    tally.written += len(new)


def write_assessments(writer, conn, rows, tally):
    new = []
    for r in rows:
        if not writer._child(tally, "traces", r["trace_id"]):
            continue
        if r["assessment_type"] not in (FEEDBACK, EXPECTATION, ISSUE):
            tally.ignored += 1
            continue
        created = r["created_timestamp"]
        new.append((r["assessment_id"], r["trace_id"], r["name"], r["assessment_type"], r["value"], r.get("error"),
                    r.get("rationale"), r["source_type"], r.get("source_id"), r.get("span_id"), r.get("run_id"),
                    r.get("overrides"), r.get("valid") is None or bool(r["valid"]), r.get("assessment_metadata"),
                    created, r.get("last_updated_timestamp") or created))
    insert_ignore(conn, assessments, ("assessment_id", "trace_id", "name", "kind", "value", "error", "rationale",
                               "source_type", "source_id", "span_id", "run_id", "overrides", "valid", "metadata",
                               "create_time", "last_update_time"), new)
    tally.written += len(new)


# ------------------------------------------------------------ after the rows

def summarize(engine: sa.Engine, trace_ids: list[str], progress) -> None:
    """tags_json and metadata_json of the imported traces, from their rows."""
    if not trace_ids:
        return
    progress.start("trace summaries", len(trace_ids))
    for start in range(0, len(trace_ids), SUMMARY_CHUNK):
        chunk = trace_ids[start:start + SUMMARY_CHUNK]
        with engine.begin() as conn:
            refresh_key_values_json(conn, chunk)
        progress.advance(len(chunk))
    progress.done()
