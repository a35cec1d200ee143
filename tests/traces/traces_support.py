"""Helpers for the tracing tests: traces made by the official client, OTLP requests built with
the opentelemetry-proto messages, and raw reads of what the server stored."""
from __future__ import annotations

import os

import mlflow
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

EXPERIMENT_HEADER = "x-mlflow-experiment-id"


def traced(question: str = "hi", span_type: str = "CHAIN") -> str:
    """The id of a trace made by an @mlflow.trace function with one child span, once exported."""
    @mlflow.trace(span_type=span_type)
    def answer(q):
        with mlflow.start_span("child", span_type="TOOL") as span:
            span.set_inputs({"q": q})
            span.set_outputs(q.upper())
        return q.upper()

    answer(question)
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def otlp_span(trace_id: bytes, span_id: bytes, parent: bytes = b"", name: str = "span", start_ns: int = 1_000_000,
              end_ns: int = 2_000_000, status: int = Status.STATUS_CODE_OK, **attributes) -> Span:
    """An OTLP span; attributes are keyword arguments (dots as double underscores)."""
    return Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
                start_time_unix_nano=start_ns, end_time_unix_nano=end_ns, status=Status(code=status),
                attributes=[KeyValue(key=k.replace("__", "."), value=any_value(v)) for k, v in attributes.items()])


def otlp_request(*spans: Span, resource: dict | None = None) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    for key, value in (resource or {}).items():
        resource_spans.resource.attributes.append(KeyValue(key=key, value=any_value(value)))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def post_otlp(url: str, body: bytes, experiment_id: str | None, content_type: str = "application/x-protobuf",
              **headers) -> requests.Response:
    sent = {"Content-Type": content_type, **headers}
    if experiment_id is not None:
        sent[EXPERIMENT_HEADER] = experiment_id
    return requests.post(f"{url}/v1/traces", data=body, headers=sent, timeout=30)


def get_trace_json(url: str, trace_id: str, allow_partial: bool = True) -> requests.Response:
    return requests.get(f"{url}/api/3.0/mlflow/traces/get",
                        params={"trace_id": trace_id, "allow_partial": str(allow_partial).lower()}, timeout=30)


def random_ids() -> tuple[bytes, bytes]:
    """A random 16-byte OTLP trace id and 8-byte span id."""
    return os.urandom(16), os.urandom(8)
