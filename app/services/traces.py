"""Tracing rules: starting, ending and reading traces, spans, tags and links.

The 3.x client starts a trace (StartTraceV3: its info, tags and metadata), then exports its
spans over OTLP (log_spans); either may arrive first, and the second merges into what the
first stored. What a trace's spans say of it (its times, its state from the root span, request
and response previews from the root span's inputs and outputs) fills what StartTrace did not
set. The 2.x client starts (start_v2) and ends (end_v2) a trace and uploads its spans as the
traces.json artifact only.

Spans are kept as the JSON traces/get answers with (SpanRecord.content), so reading a trace
joins the stored texts without parsing them (get_trace).
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

import orjson

from ..errors import MlflowError, invalid, not_found
from ..store.proto_time import duration_ms, timestamp_ms
from ..store.traces import ARTIFACT_LOCATION, INFO_FINALIZED, SPANS_LOCATION, TRACKING_STORE, TraceStore
from .artifacts import ArtifactService
from .assessments import AssessmentService
from .tracking import experiment_id_arg, now_ms

SOURCE_RUN = "mlflow.sourceRun"
SIZE_STATS = "mlflow.trace.sizeStats"
LINKED_PROMPTS = "mlflow.linkedPrompts"
TRACE_DATA_FILE = "traces.json"
# set by the server only: the artifact location is derived from the trace's experiment
IMMUTABLE_TAGS = frozenset({ARTIFACT_LOCATION, SPANS_LOCATION, "mlflow.trace.archiveLocation",
                            "mlflow.trace.archivalFailure"})
STATES = ("STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS")
V2_STATUS = {"STATE_UNSPECIFIED": "TRACE_STATUS_UNSPECIFIED", "OK": "OK", "ERROR": "ERROR",
             "IN_PROGRESS": "IN_PROGRESS"}
MAX_KEY_LENGTH, MAX_VALUE_LENGTH, MAX_PREVIEW_LENGTH = 250, 8000, 1000
MAX_ID_LENGTH = 50  # trace ids and client request ids: the columns' width
MAX_SPAN_TYPE_LENGTH = 500
MAX_TRACE_LINKS = 100  # traces linked to a run in one request, as officially
GET_TRACE_WAITS = (1, 2)  # seconds traces/get waits for spans still being exported, as officially


@dataclasses.dataclass
class SpanRecord:
    """One span of an OTLP export: the columns of its row, its JSON as traces/get returns it
    (`content`), and for a root span what the trace takes from it."""
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    span_type: str | None
    status: str  # OK, ERROR or UNSET
    start_ns: int
    end_ns: int | None
    content: str
    inputs: str | None = None  # the root span's mlflow.spanInputs, as JSON text
    outputs: str | None = None
    tags: dict = dataclasses.field(default_factory=dict)  # the trace's: from the resource and mlflow.traceTag.*

    def row(self) -> tuple:
        return (self.trace_id, self.span_id, self.parent_span_id, self.name, self.span_type, self.status,
                self.start_ns, self.end_ns, self.content)


def _string_map(value, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(f"Invalid value for '{name}': expected an object of strings")
    return value


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tag keys within 250 characters; values cut at 8000, as the official server truncates them."""
    for key in tags:
        _check_key(key, "tag")
    return {k: v[:MAX_VALUE_LENGTH] for k, v in tags.items()}


def _check_key(key: str, what: str) -> None:
    if not key:
        raise invalid(f"Missing value for required parameter 'key' of a trace {what}.")
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(f"Trace {what} key '{key[:50]}...' had length {len(key)}, which exceeded length limit "
                      f"of {MAX_KEY_LENGTH}")


def _checked_metadata(metadata: dict[str, str]) -> dict[str, str]:
    for key, value in metadata.items():
        _check_key(key, "metadata")
        if len(value) > MAX_VALUE_LENGTH:
            raise invalid(f"Trace metadata value for key '{key}' had length {len(value)}, which exceeded "
                          f"length limit of {MAX_VALUE_LENGTH}")
    return metadata


def _pairs(items: list[dict] | None) -> dict[str, str]:
    """The 2.x API's lists of {key, value} as a map."""
    return {item["key"]: item.get("value", "") for item in items or [] if "key" in item}


def _check_id(value, name: str) -> str:
    if not value:
        raise invalid(f"Missing value for required parameter '{name}'.")
    if len(value) > MAX_ID_LENGTH:
        raise invalid(f"Invalid value '{value[:60]}...' for '{name}': at most {MAX_ID_LENGTH} characters")
    return value


def preview(json_text: str | None) -> str | None:
    """A request or response preview: the JSON text, cut at 1000 characters."""
    if json_text is None or len(json_text) <= MAX_PREVIEW_LENGTH:
        return json_text
    return json_text[:MAX_PREVIEW_LENGTH - 3] + "..."


def info_v2(info: dict) -> dict:
    """A TraceInfoV3 JSON as the 2.x API's TraceInfo (request_id, times in milliseconds, lists
    of key-value pairs sorted by key)."""
    out = {"request_id": info["trace_id"],
           "experiment_id": info["trace_location"]["mlflow_experiment"]["experiment_id"],
           "timestamp_ms": timestamp_ms(info["request_time"], "request_time"),
           "status": V2_STATUS.get(info["state"], info["state"])}
    if "execution_duration" in info:
        out["execution_time_ms"] = duration_ms(info["execution_duration"], "execution_duration")
    for field, name in (("trace_metadata", "request_metadata"), ("tags", "tags")):
        if info[field]:
            out[name] = [{"key": k, "value": v} for k, v in sorted(info[field].items())]
    return out


def _spans_json(contents: list[str]) -> orjson.Fragment:
    return orjson.Fragment("[" + ",".join(contents) + "]")


def _in(info: dict, experiment_ids: list[str] | None) -> bool:
    return experiment_ids is None or info["trace_location"]["mlflow_experiment"]["experiment_id"] in experiment_ids


def _complete(info: dict, contents: list[str]) -> bool:
    """Whether every span of a trace is stored: as many as its mlflow.trace.sizeStats counts, or
    at least one when it has none."""
    if info["tags"].get(SPANS_LOCATION) != TRACKING_STORE:
        return False
    stats = info["trace_metadata"].get(SIZE_STATS)
    try:
        expected = int(json.loads(stats).get("num_spans", 0)) if stats else 1
    except (ValueError, TypeError, AttributeError):
        expected = 1
    return len(contents) >= max(expected, 1)


class TraceService:
    def __init__(self, store: TraceStore, assessments: AssessmentService, artifacts: ArtifactService):
        self.store = store
        self.assessments = assessments
        self.artifacts = artifacts

    # ------------------------------------------------------------ starting and ending

    def start_v3(self, trace: dict | None) -> dict:
        """StartTraceV3: store the trace's info, tags and metadata (mlflow.sourceRun links the
        trace to that run) and the assessments logged while it ran (all checked first, then each
        created as traces/{id}/assessments creates one, once the trace is stored); the answer is
        the stored TraceInfoV3."""
        info = (trace or {}).get("trace_info") or {}
        trace_id = _check_id(info.get("trace_id"), "trace_id")
        location = info.get("trace_location") or {}
        experiment_id = (location.get("mlflow_experiment") or {}).get("experiment_id")
        if location.get("type") not in (None, "MLFLOW_EXPERIMENT", "1") or not experiment_id:
            raise invalid("StartTraceV3 needs trace_info.trace_location.mlflow_experiment.experiment_id: "
                          "traces are stored in MLflow experiments only")
        if info.get("request_time") is None:
            raise invalid("Missing value for required parameter 'trace_info.request_time'.")
        state = info.get("state") or "STATE_UNSPECIFIED"
        if state.isascii() and state.isdigit() and int(state) < len(STATES):
            state = STATES[int(state)]
        if state not in STATES:
            raise invalid(f"Invalid trace state '{state}': expected one of {', '.join(STATES)}")
        client_request_id = info.get("client_request_id")
        if client_request_id is not None:
            _check_id(client_request_id, "client_request_id")
        duration = info.get("execution_duration")
        metadata = _checked_metadata(dict(_string_map(info.get("trace_metadata"), "trace_metadata")))
        metadata[INFO_FINALIZED] = "true"
        tags = _checked_tags(_string_map(info.get("tags"), "tags"))
        row = {"trace_id": trace_id, "experiment_id": experiment_id_arg(experiment_id),
               "request_time": timestamp_ms(info["request_time"], "request_time"),
               "execution_duration": None if duration is None else duration_ms(duration, "execution_duration"),
               "state": state, "client_request_id": client_request_id,
               "request_preview": preview(info.get("request_preview")),
               "response_preview": preview(info.get("response_preview"))}
        run_ids = [metadata[SOURCE_RUN]] if metadata.get(SOURCE_RUN) else []
        # checked before the trace is stored, so that a bad one stores nothing
        assessments = [self.assessments.row(trace_id, {**assessment, "trace_id": trace_id})
                       for assessment in info.get("assessments") or []]
        stored = self.store.start(row, tags, metadata, run_ids)
        for assessment in assessments:
            self.assessments.insert(assessment)
        return self.store.info(trace_id) if assessments else stored

    def start_v2(self, experiment_id, timestamp, metadata_items, tag_items) -> dict:
        """The 2.x client's StartTrace: a trace in progress with a new request id."""
        metadata, tags = _checked_metadata(_pairs(metadata_items)), _checked_tags(_pairs(tag_items))
        # a bare uuid hex, as the official server's (no tr- prefix: that is the 3.x trace id)
        row = {"trace_id": uuid.uuid4().hex, "experiment_id": experiment_id_arg(experiment_id),
               "request_time": timestamp if timestamp is not None else now_ms(), "execution_duration": None,
               "state": "IN_PROGRESS", "client_request_id": None, "request_preview": None,
               "response_preview": None}
        run_ids = [metadata[SOURCE_RUN]] if metadata.get(SOURCE_RUN) else []
        return info_v2(self.store.start(row, tags, metadata, run_ids))

    def end_v2(self, request_id, timestamp, status, metadata_items, tag_items) -> dict:
        """The 2.x client's EndTrace: its status and end time, and more tags and metadata."""
        _check_id(request_id, "request_id")
        state = {"TRACE_STATUS_UNSPECIFIED": "STATE_UNSPECIFIED", "0": "STATE_UNSPECIFIED", "1": "OK",
                 "2": "ERROR", "3": "IN_PROGRESS"}.get(status or "", status or "STATE_UNSPECIFIED")
        if state not in STATES:
            raise invalid(f"Invalid trace status '{status}': expected one of {', '.join(V2_STATUS.values())}")
        started = timestamp_ms(self.store.info(request_id)["request_time"], "request_time")
        values = {"state": state, "execution_duration": (timestamp if timestamp is not None else now_ms()) - started}
        metadata, tags = _checked_metadata(_pairs(metadata_items)), _checked_tags(_pairs(tag_items))
        tags = {k: v for k, v in tags.items() if k not in IMMUTABLE_TAGS}
        return info_v2(self.store.end_v2(request_id, values, tags, metadata))

    # ------------------------------------------------------------ spans (OTLP)

    def log_spans(self, experiment_id, run_id: str | None, records: list[SpanRecord]) -> None:
        """Store an OTLP export's spans in experiment_id (the x-mlflow-experiment-id header);
        with run_id (x-mlflow-run-id), traces whose root span came are linked to that run."""
        if not records:
            raise invalid("Invalid OpenTelemetry format - no spans found")
        experiment = experiment_id_arg(experiment_id)
        traces: dict[str, dict] = {}
        for span in records:
            if span.span_type is not None and len(span.span_type) > MAX_SPAN_TYPE_LENGTH:
                raise invalid(f"Span type of span '{span.span_id}' exceeds {MAX_SPAN_TYPE_LENGTH} characters")
            trace = traces.get(span.trace_id)
            if trace is None:
                trace = traces[span.trace_id] = {
                    "trace_id": span.trace_id, "request_time": span.start_ns // 1_000_000, "end_time": None,
                    "state": None, "request_preview": None, "response_preview": None, "tags": {}}
            trace["request_time"] = min(trace["request_time"], span.start_ns // 1_000_000)
            if span.end_ns:
                trace["end_time"] = max(trace["end_time"] or 0, span.end_ns // 1_000_000)
            if span.parent_span_id is None:
                trace["state"] = "ERROR" if span.status == "ERROR" else "OK"
                trace["request_preview"] = preview(span.inputs)
                trace["response_preview"] = preview(span.outputs)
            # as officially, tags a span carries that could not be a tag are left out
            trace["tags"].update({k: v[:MAX_VALUE_LENGTH] for k, v in span.tags.items()
                                  if 0 < len(k) <= MAX_KEY_LENGTH and k not in IMMUTABLE_TAGS})
        # one row per span: the last one sent wins
        rows = list({(s.trace_id, s.span_id): s.row() for s in records}.values())
        self.store.log_spans(experiment, list(traces.values()), rows, run_id or None)

    # ------------------------------------------------------------ reads

    def get_info(self, trace_id) -> dict:
        return self.store.info(_check_id(trace_id, "trace_id"))

    def get_info_v2(self, request_id) -> dict:
        return info_v2(self.store.info(_check_id(request_id, "request_id")))

    def batch_get_infos(self, trace_ids, experiment_ids=None) -> list[dict]:
        """The infos of trace_ids that exist (in experiment_ids, when given), in that order."""
        if not trace_ids:
            raise invalid("Missing value for required parameter 'trace_ids'.")
        return [info for info in self.store.infos(trace_ids) if _in(info, experiment_ids)]

    def get_trace(self, trace_id, allow_partial: bool | None) -> dict:
        """A trace with its spans. Unless allow_partial, a trace whose spans are not all stored
        yet is waited for a little (1 s, then 2 s, as the official server does), then a 404."""
        trace_id = _check_id(trace_id, "trace_id")
        for wait in (*GET_TRACE_WAITS, None):
            info, contents = self.store.trace(trace_id)
            if allow_partial or _complete(info, contents):
                return {"trace_info": info, "spans": _spans_json(contents)}
            if info["tags"].get(SPANS_LOCATION) != TRACKING_STORE and not contents:
                break  # a 2.x client's trace: its spans are in its traces.json artifact
            if wait is not None:
                time.sleep(wait)
        raise not_found(f"Trace with ID {trace_id} is not fully exported yet, please try again later.")

    def batch_get(self, trace_ids, experiment_ids=None) -> list[dict]:
        """The traces of trace_ids (in experiment_ids, when given) whose spans are all stored
        (others are left out, as officially), in that order."""
        if not trace_ids:
            raise invalid("Missing value for required parameter 'trace_ids'.")
        return [{"trace_info": info, "spans": _spans_json(contents)}
                for info, contents in self.store.traces(trace_ids) if _complete(info, contents)
                and _in(info, experiment_ids)]

    def trace_data(self, request_id) -> bytes:
        """The trace's data as the traces.json artifact holds it ({"spans": [...]} in MLflow's
        Span.to_dict form): built from its stored spans, or else read from its artifact location
        (where the 2.x client uploads it)."""
        info, contents = self.store.trace(_check_id(request_id, "request_id"))
        if contents:
            return orjson.dumps({"spans": [_span_dict(orjson.loads(content)) for content in contents]})
        # from the trace's own experiment, never from its tags
        location = self.store.artifact_location(request_id)
        try:
            stream, _ = self.artifacts.open_under(location, TRACE_DATA_FILE)
            with stream:
                return stream.read()
        except (MlflowError, OSError):
            raise not_found(f"Trace with ID '{request_id}' has no spans stored on this server and no "
                            f"{TRACE_DATA_FILE} at its artifact location.") from None

    # ------------------------------------------------------------ tags, deletion, links

    def set_tag(self, trace_id, key, value) -> None:
        _check_id(trace_id, "trace_id")
        self._check_mutable(key, "set")
        (key, value), = _checked_tags({key: value if value is not None else ""}).items()
        self.store.set_tag(trace_id, key, value)

    def delete_tag(self, trace_id, key) -> None:
        _check_id(trace_id, "trace_id")
        self._check_mutable(key, "deleted")
        self.store.delete_tag(trace_id, key)

    @staticmethod
    def _check_mutable(key, operation: str) -> None:
        if not key:
            raise invalid("Missing value for required parameter 'key'.")
        if key in IMMUTABLE_TAGS and not (operation == "deleted" and key == "mlflow.trace.archivalFailure"):
            raise invalid(f"Tag '{key}' is immutable and cannot be {operation} on a trace.")

    def delete_traces(self, experiment_id, max_timestamp_millis, max_traces, trace_ids) -> int:
        if not experiment_id:
            raise invalid("Missing value for required parameter 'experiment_id'.")
        if max_timestamp_millis is None and not trace_ids:
            raise invalid("Either `max_timestamp_millis` or `trace_ids` must be specified.")
        if max_timestamp_millis is not None and trace_ids:
            raise invalid("Only one of `max_timestamp_millis` and `trace_ids` can be specified.")
        if trace_ids and max_traces is not None:
            raise invalid("`max_traces` can't be specified if `trace_ids` is specified.")
        if max_traces is not None and max_traces <= 0:
            raise invalid(f"`max_traces` must be a positive integer, received {max_traces}.")
        return self.store.delete_traces(experiment_id_arg(experiment_id), max_timestamp_millis, max_traces,
                                        trace_ids or None)

    def link_to_run(self, trace_ids, run_id) -> None:
        if not run_id:
            raise invalid("Missing value for required parameter 'run_id'.")
        if not trace_ids:
            raise invalid("Missing value for required parameter 'trace_ids'.")
        if len(trace_ids) > MAX_TRACE_LINKS:
            raise invalid(f"Cannot link more than {MAX_TRACE_LINKS} traces to a run in a single request. "
                          f"Provided {len(trace_ids)} traces.")
        self.store.link_to_run(list(dict.fromkeys(trace_ids)), run_id)

    def link_prompts(self, trace_id, prompt_versions) -> None:
        """Prompt versions used by a trace, kept in its mlflow.linkedPrompts tag (a JSON list of
        {"name", "version"}, as the client writes it), merged with those linked before."""
        _check_id(trace_id, "trace_id")
        if not prompt_versions:
            raise invalid("Missing value for required parameter 'prompt_versions'.")
        wanted = []
        for item in prompt_versions:
            if not item.get("name") or not item.get("version"):
                raise invalid("Each of 'prompt_versions' needs a name and a version.")
            wanted.append({"name": item["name"], "version": str(item["version"])})

        def merge(current: str | None) -> str:
            try:
                linked = json.loads(current) if current else []
            except ValueError:
                linked = []
            linked = linked if isinstance(linked, list) else []
            linked += [p for p in wanted if p not in linked]
            text = json.dumps(linked)
            if len(text) > MAX_VALUE_LENGTH:
                raise invalid(f"Too many prompts linked to trace '{trace_id}'.")
            return text
        self.store.merge_tag(trace_id, LINKED_PROMPTS, merge)


# ---------------------------------------------------------------- traces.json from stored spans

def _any_value(value: dict):
    """A stored OTLP AnyValue JSON as the Python value it holds."""
    for kind, inner in value.items():
        if kind == "array_value":
            return [_any_value(v) for v in inner.get("values", [])]
        if kind == "kvlist_value":
            return {kv["key"]: _any_value(kv.get("value", {})) for kv in inner.get("values", [])}
        return inner
    return None


def _span_dict(span: dict) -> dict:
    """A stored span as MLflow's Span.to_dict writes it into traces.json: attribute values as
    JSON text, event attributes as values."""
    status = span.get("status", {})
    return {"trace_id": span["trace_id"], "span_id": span["span_id"],
            "parent_span_id": span.get("parent_span_id"), "name": span.get("name", ""),
            "start_time_unix_nano": span.get("start_time_unix_nano", 0),
            "end_time_unix_nano": span.get("end_time_unix_nano"),
            "events": [{"name": e.get("name", ""), "time_unix_nano": e.get("time_unix_nano", 0),
                        "attributes": {a["key"]: _any_value(a.get("value", {})) for a in e.get("attributes", [])}}
                       for e in span.get("events", [])],
            "status": {"code": status.get("code", "STATUS_CODE_UNSET"), "message": status.get("message", "")},
            "attributes": {a["key"]: json.dumps(_any_value(a.get("value", {})), ensure_ascii=False)
                           for a in span.get("attributes", [])},
            "links": [{"trace_id": link.get("trace_id"), "span_id": link.get("span_id"),
                       "attributes": {a["key"]: _any_value(a.get("value", {})) for a in link.get("attributes", [])}}
                      for link in span.get("links", [])]}

