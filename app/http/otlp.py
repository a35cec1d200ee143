"""OTLP/HTTP trace export (POST /v1/traces): spans from the MLflow client or any OpenTelemetry
SDK or Collector.

The body is an ExportTraceServiceRequest, as protobuf (application/x-protobuf) or as OTLP's
JSON (application/json, whose ids are hex where proto's JSON mapping has base64), optionally
gzip or deflate compressed; it is decoded with the opentelemetry-proto messages. The
x-mlflow-experiment-id header names the experiment of traces that do not exist yet;
x-mlflow-run-id, when given, links the traces whose root span came to that run.

Each span becomes a SpanRecord whose `content` is the span as the official server's traces/get
returns it: the OTLP Span's proto3 JSON (snake_case names, ids base64, nanosecond times and
int_values as numbers, as MLflow's message_to_json writes them), keeping only what the official
server keeps (no kind, trace_state, flags, dropped counts, resource), its
mlflow.traceRequestId attribute set to the MLflow trace id, "tr-" and the OTLP trace id in hex.
The answer is an empty ExportTraceServiceResponse, in the request's encoding.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import zlib

import orjson
from flask import Flask, Response, request
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..errors import invalid
from ..services.traces import SpanRecord, TraceService
from .access import OTLP_EXPERIMENT, SIGNED_IN, UPDATE, Access, Need
from .api import add_view, read_body

EXPERIMENT_HEADER, RUN_HEADER = "x-mlflow-experiment-id", "x-mlflow-run-id"
MAX_BODY = 64 * 1024 * 1024  # bytes of a request, compressed and decompressed
MAX_NANOS = 2**63 - 1  # OTLP's times are uint64; the columns are signed 64-bit
MAX_NAME_LENGTH = 16_000  # characters of a span name (a TEXT column on MySQL holds 64 KiB)
# JSON text in a string attribute deeper than this stays text: each level nests four in the
# stored span, and orjson writes at most 255 (protobuf's own nesting limit keeps AnyValues below)
MAX_JSON_DEPTH = 50
PROTOBUF, JSON = "application/x-protobuf", "application/json"
REQUEST_ID, SPAN_TYPE = "mlflow.traceRequestId", "mlflow.spanType"
INPUTS, OUTPUTS, TRACE_TAG_PREFIX = "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.traceTag."
_STATUS = ("UNSET", "OK", "ERROR")
_STATUS_JSON = {"OK": {"code": "STATUS_CODE_OK"}, "ERROR": {"code": "STATUS_CODE_ERROR"}, "UNSET": {}}
_HEX_IDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def register(app: Flask, service: TraceService, prefix: str = "") -> None:
    def export():
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in (PROTOBUF, JSON):
            raise invalid(f"Invalid Content-Type: {request.content_type}. Expected: {PROTOBUF} or {JSON}")
        experiment_id = request.headers.get(EXPERIMENT_HEADER)
        if not experiment_id:
            raise invalid(f"Missing required header: {EXPERIMENT_HEADER}")
        run_id = request.headers.get(RUN_HEADER)
        if run_id and len(run_id) > 32:
            raise invalid(f"Invalid {RUN_HEADER} header: '{run_id[:40]}...' is not a run id")
        body = _decompressed(read_body(request.stream, MAX_BODY), request.headers.get("Content-Encoding", ""))
        service.log_spans(experiment_id, run_id, span_records(_parse(body, media_type)))
        if media_type == JSON:
            return Response(b"{}", mimetype=JSON)
        return Response(b"", mimetype=PROTOBUF)  # an empty ExportTraceServiceResponse

    add_view(app, f"{prefix}/v1/traces", "otlp traces", export, ["POST"],
             Access(SIGNED_IN, (Need(OTLP_EXPERIMENT, EXPERIMENT_HEADER, UPDATE),)))


def _decompressed(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding == "gzip":
            stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":  # zlib-wrapped, as RFC 9110 says, or raw, as some clients send
            stream = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
        else:
            raise invalid(f"Unsupported Content-Encoding: {encoding}")
        data = stream.decompress(body, MAX_BODY + 1)
    except zlib.error:
        raise invalid(f"Failed to decompress {encoding} payload") from None
    if len(data) > MAX_BODY:
        raise invalid(f"Decompressed request body exceeds the limit of {MAX_BODY} bytes")
    return data


def _parse(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    try:
        if media_type == JSON:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            for resource_spans in data.get("resourceSpans") or data.get("resource_spans") or []:
                for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or []:
                    for span in scope_spans.get("spans") or []:
                        for item in (span, *(span.get("links") or [])):
                            for field in _HEX_IDS:
                                if isinstance(item.get(field), str) and item[field]:
                                    item[field] = base64.b64encode(bytes.fromhex(item[field])).decode()
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except (DecodeError, json_format.ParseError, orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
        raise invalid("Invalid OpenTelemetry format: the body is not an OTLP ExportTraceServiceRequest "
                      f"in {media_type}") from None
    return message


def span_records(message: ExportTraceServiceRequest) -> list[SpanRecord]:
    records = []
    for resource_spans in message.resource_spans:
        resource_tags = _resource_tags(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                records.append(_record(span, resource_tags))
    return records


def _resource_tags(attributes) -> dict[str, str]:
    """Resource attributes (service.name, ...) become trace tags, but the SDK's own and mlflow.*."""
    tags = {}
    for attribute in attributes:
        if not attribute.key.startswith(("telemetry.sdk.", "mlflow.")):
            value = _python(attribute.value)
            tags[attribute.key] = value if isinstance(value, str) else json.dumps(value)
    return tags


def _record(span, resource_tags: dict) -> SpanRecord:
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or len(span.parent_span_id) not in (0, 8):
        raise invalid(f"Invalid OpenTelemetry format: span '{span.name[:100]}' needs a 16-byte trace_id, an 8-byte "
                      "span_id and an 8-byte parent_span_id or none")
    if span.start_time_unix_nano > MAX_NANOS or span.end_time_unix_nano > MAX_NANOS:
        raise invalid(f"Invalid OpenTelemetry format: span '{span.name[:100]}' has a time beyond {MAX_NANOS} ns")
    if len(span.name) > MAX_NAME_LENGTH:
        raise invalid(f"Span name of {len(span.name)} characters exceeds the limit of {MAX_NAME_LENGTH}")
    # each field read once: a read of a protobuf field builds a new Python object
    trace_bytes, span_bytes, parent_bytes = span.trace_id, span.span_id, span.parent_span_id
    name, start_ns, end_ns, span_status = span.name, span.start_time_unix_nano, span.end_time_unix_nano, span.status
    trace_id = "tr-" + trace_bytes.hex()
    attributes, values = [], {}  # values: key -> (AnyValue, the value its JSON text holds or _PLAIN)
    for attribute in span.attributes:
        key, value = attribute.key, attribute.value
        kind = value.WhichOneof("value")
        text = value.string_value if kind == "string_value" else None
        decoded = _PLAIN if text is None else _json_in(text)
        values[key] = value, decoded
        if key == REQUEST_ID:
            attributes.append({"key": REQUEST_ID, "value": {"string_value": trace_id}})
        elif decoded is not _PLAIN:
            attributes.append({"key": key, "value": _value_json(decoded)})
        else:
            attributes.append({"key": key,
                               "value": {"string_value": text} if text is not None else _any_json(value)})
    if REQUEST_ID not in values:
        attributes.append({"key": REQUEST_ID, "value": {"string_value": trace_id}})
    code = span_status.code
    status = _STATUS[code] if 0 <= code < len(_STATUS) else "UNSET"  # an open enum: any int32 may come
    content = {"trace_id": _b64(trace_bytes), "span_id": _b64(span_bytes)}
    if parent_bytes:
        content["parent_span_id"] = _b64(parent_bytes)
    content["name"] = name
    content["start_time_unix_nano"] = start_ns
    if end_ns:
        content["end_time_unix_nano"] = end_ns
    content["attributes"] = attributes
    if span.events:
        content["events"] = [_event_json(event) for event in span.events]
    if span.links:
        content["links"] = [_link_json(link) for link in span.links]
    content["status"] = dict(_STATUS_JSON[status])
    if status == "ERROR" and span_status.message:  # OpenTelemetry keeps a description on errors only
        content["status"]["message"] = span_status.message
    record = SpanRecord(trace_id, span_bytes.hex(), parent_bytes.hex() or None, name,
                        _span_type(values.get(SPAN_TYPE)), status, start_ns,
                        end_ns or None, orjson.dumps(content).decode(), tags=resource_tags)
    if not parent_bytes:
        record.inputs = _json_text(values.get(INPUTS))
        record.outputs = _json_text(values.get(OUTPUTS))
        trace_tags = {key[len(TRACE_TAG_PREFIX):]: str(_attribute_python(sent)[0]) for key, sent in values.items()
                      if key.startswith(TRACE_TAG_PREFIX) and len(key) > len(TRACE_TAG_PREFIX)}
        if trace_tags:
            record.tags = {**resource_tags, **trace_tags}
    return record


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def _span_type(sent) -> str | None:
    if sent is None:
        return None
    python = _attribute_python(sent)[0]
    return python if isinstance(python, str) else json.dumps(python)


def _json_text(sent) -> str | None:
    """An attribute's value as MLflow serialises span attributes (json.dumps, non-ASCII kept),
    or the JSON text it was sent as."""
    if sent is None:
        return None
    python, text = _attribute_python(sent)
    return text if text is not None else json.dumps(python, ensure_ascii=False)


_PLAIN = object()  # a string attribute that is not JSON text of an object, array or string


def _json_in(text: str) -> object:
    """The value a string attribute's text holds as JSON, when it is an object, an array or a
    string; _PLAIN otherwise. The official server reads such attributes as that value (an
    OpenTelemetry SDK can only send a dict or a nested list as its JSON text)."""
    if text.lstrip()[:1] not in ("{", "[", '"'):
        return _PLAIN
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and Python's json reads: NaN, Infinity, integers beyond 64 bits
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            return _PLAIN
    return decoded if isinstance(decoded, (str, dict, list)) and _nested_within(decoded, MAX_JSON_DEPTH) else _PLAIN


def _nested_within(value, depth: int) -> bool:
    if not isinstance(value, (list, dict)):
        return True
    items = value.values() if isinstance(value, dict) else value
    return depth > 0 and all(_nested_within(v, depth - 1) for v in items)


def _attribute_python(sent: tuple) -> tuple[object, str | None]:
    """(An attribute's Python value, the JSON text it was sent as or None) of (its AnyValue,
    what _json_in found in it)."""
    value, decoded = sent
    return (_python(value), None) if decoded is _PLAIN else (decoded, value.string_value)


def _event_json(event) -> dict:
    out = {"time_unix_nano": event.time_unix_nano, "name": event.name}
    if event.attributes:
        out["attributes"] = [{"key": a.key, "value": _any_json(a.value)} for a in event.attributes]
    return out


def _link_json(link) -> dict:
    out = {"trace_id": _b64(link.trace_id), "span_id": _b64(link.span_id)}
    if link.attributes:
        out["attributes"] = [{"key": a.key, "value": _any_json(a.value)} for a in link.attributes]
    return out


def _any_json(value) -> dict:
    """An AnyValue's proto3 JSON (snake_case, int_value as a number, bytes base64)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return {}
    if kind == "array_value":
        items = [_any_json(v) for v in value.array_value.values]
        return {"array_value": {"values": items} if items else {}}
    if kind == "kvlist_value":
        items = [{"key": kv.key, "value": _any_json(kv.value)} for kv in value.kvlist_value.values]
        return {"kvlist_value": {"values": items} if items else {}}
    if kind == "bytes_value":
        return {"bytes_value": _b64(value.bytes_value)}
    if kind == "double_value" and not math.isfinite(value.double_value):
        return {"double_value": "NaN" if math.isnan(value.double_value) else
                ("Infinity" if value.double_value > 0 else "-Infinity")}
    return {kind: getattr(value, kind)}


def _value_json(value) -> dict:
    """A Python value (decoded JSON) as an AnyValue's proto3 JSON, as MLflow sets AnyValues."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, str):
        return {"string_value": value}
    if isinstance(value, int):
        return {"int_value": value} if -2**63 <= value < 2**63 else {"string_value": str(value)}
    if isinstance(value, float):
        return {"double_value": value if math.isfinite(value) else str(value).replace("inf", "Infinity")
                .replace("nan", "NaN")}
    if isinstance(value, list):
        items = [_value_json(v) for v in value]
        return {"array_value": {"values": items} if items else {}}
    items = [{"key": str(k), "value": _value_json(v)} for k, v in value.items()]
    return {"kvlist_value": {"values": items} if items else {}}


def _python(value):
    """An AnyValue as the Python value it holds (bytes as base64 text)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _python(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return _b64(value.bytes_value)
    return getattr(value, kind)

