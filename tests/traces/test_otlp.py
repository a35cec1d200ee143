"""OTLP/HTTP export into the server (POST /v1/traces) from the opentelemetry-sdk's own
exporter, as protobuf (plain and gzip) and as OTLP JSON; the spans then read back through the
official client. Bad payloads get a clear 400 (404 for an unknown experiment) and store nothing."""
from __future__ import annotations

import base64
import gzip
import json
import zlib

import mlflow
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

from api_checks import assert_error, assert_ok
from conftest import unique
from traces_support import EXPERIMENT_HEADER, get_trace_json, otlp_request, otlp_span, post_otlp, random_ids


@pytest.fixture
def exp_id(client):
    return mlflow.set_experiment(unique("otlp")).experiment_id


def _sdk_tracer(url: str, experiment_id: str, compression=Compression.NoCompression, **headers):
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-agent", "deployment": "eu"}))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=compression,
                                headers={EXPERIMENT_HEADER: experiment_id, **headers})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_spans_from_the_opentelemetry_sdk_exporter(server, exp_id, compression):
    provider = _sdk_tracer(server.url, exp_id, compression)
    tracer = provider.get_tracer("shop")
    with tracer.start_as_current_span("checkout") as root:
        root.set_attribute("mlflow.spanInputs", '{"cart": 3}')
        root.set_attribute("user.count", 7)
        with tracer.start_as_current_span("pay") as child:
            child.set_attribute("mlflow.spanType", "TOOL")
            child.set_attribute("amounts", [1.5, 2.5])
            child.add_event("charged", {"ok": True})
        with tracer.start_as_current_span("notify") as failing:
            failing.record_exception(ConnectionError("mail server down"))
            failing.set_status(StatusCode.ERROR, "mail server down")
    provider.shutdown()
    trace_id = f"tr-{root.get_span_context().trace_id:032x}"

    trace = mlflow.get_trace(trace_id)
    info = trace.info
    assert info.experiment_id == exp_id and info.state.value == "OK"
    assert info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert info.tags["service.name"] == "shop-agent" and info.tags["deployment"] == "eu"
    assert info.request_time == root.start_time // 1_000_000
    assert info.execution_duration == root.end_time // 1_000_000 - root.start_time // 1_000_000
    assert info.request_preview == '{"cart": 3}'  # JSON text in a string attribute is read as JSON
    spans = {span.name: span for span in trace.data.spans}
    assert trace.data.spans[0].name == "checkout"
    assert spans["checkout"].parent_id is None
    assert spans["checkout"].get_attribute("user.count") == 7
    assert spans["checkout"].inputs == {"cart": 3}
    assert spans["checkout"].get_attribute("mlflow.traceRequestId") == trace_id
    assert spans["pay"].parent_id == spans["checkout"].span_id == f"{root.get_span_context().span_id:016x}"
    assert spans["pay"].span_type == "TOOL"
    assert spans["pay"].get_attribute("amounts") == [1.5, 2.5]
    assert [(e.name, e.attributes) for e in spans["pay"].events] == [("charged", {"ok": True})]
    assert spans["notify"].status.status_code.value == "ERROR"
    assert spans["notify"].status.description == "mail server down"
    assert spans["notify"].events[0].name == "exception"
    assert spans["notify"].events[0].attributes["exception.type"] == "ConnectionError"


def test_otlp_json_with_hex_ids(server, exp_id):
    trace_bytes, span_bytes = random_ids()
    message = otlp_request(otlp_span(trace_bytes, span_bytes, name="json-root", mlflow__spanType="AGENT",
                                     mlflow__spanInputs='{"q": "x"}', mlflow__spanOutputs='"y"', n=2))
    data = json_format.MessageToDict(message)  # lowerCamelCase, bytes as base64
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"], span["spanId"] = trace_bytes.hex(), span_bytes.hex()  # OTLP JSON: ids in hex
    linked_trace, linked_span = random_ids()
    span["links"] = [{"traceId": linked_trace.hex(), "spanId": linked_span.hex()}]
    resp = post_otlp(server.url, json.dumps(data).encode(), exp_id, "application/json")
    assert resp.status_code == 200 and resp.json() == {}
    trace = assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]
    assert trace["trace_info"]["request_preview"] == '{"q": "x"}' and trace["trace_info"]["response_preview"] == '"y"'
    (stored,) = trace["spans"]
    assert stored["name"] == "json-root" and stored["span_id"] == base64.b64encode(span_bytes).decode()
    assert stored["start_time_unix_nano"] == 1_000_000 and stored["status"] == {"code": "STATUS_CODE_OK"}
    attributes = {a["key"]: a["value"] for a in stored["attributes"]}
    assert attributes["mlflow.spanType"] == {"string_value": "AGENT"}
    assert attributes["n"] == {"int_value": 2}
    assert attributes["mlflow.spanInputs"] == {
        "kvlist_value": {"values": [{"key": "q", "value": {"string_value": "x"}}]}}
    assert attributes["mlflow.spanOutputs"] == {"string_value": "y"}
    assert stored["links"] == [{"trace_id": base64.b64encode(linked_trace).decode(),
                                "span_id": base64.b64encode(linked_span).decode()}]
    assert attributes["mlflow.traceRequestId"] == {"string_value": f"tr-{trace_bytes.hex()}"}


def test_a_span_sent_again_replaces_the_stored_one(server, exp_id):
    trace_bytes, root_bytes = random_ids()
    child_bytes = random_ids()[1]
    root = otlp_span(trace_bytes, root_bytes, name="root", start_ns=10**18, end_ns=10**18 + 5_000_000)
    first = otlp_span(trace_bytes, child_bytes, root_bytes, name="first try", start_ns=10**18 + 10**6)
    again = otlp_span(trace_bytes, child_bytes, root_bytes, name="second try", start_ns=10**18 + 10**6)
    assert post_otlp(server.url, otlp_request(first).SerializeToString(), exp_id).status_code == 200
    trace = assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]
    assert trace["trace_info"]["state"] == "IN_PROGRESS"  # no root span yet
    for message in (otlp_request(root, again), otlp_request(again)):
        assert post_otlp(server.url, message.SerializeToString(), exp_id).status_code == 200
    trace = assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]
    assert [s["name"] for s in trace["spans"]] == ["root", "second try"]
    info = trace["trace_info"]
    assert info["state"] == "OK" and info["request_time"] == "2001-09-09T01:46:40Z"
    assert info["execution_duration"] == "0.005s"


def test_the_run_header_links_traces_to_the_run(server, client, exp_id):
    run = client.create_run(exp_id)
    trace_bytes, span_bytes = random_ids()
    body = otlp_request(otlp_span(trace_bytes, span_bytes, name="in-run")).SerializeToString()
    assert post_otlp(server.url, body, exp_id, **{"x-mlflow-run-id": run.info.run_id}).status_code == 200
    found = mlflow.search_traces(locations=[exp_id], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [f"tr-{trace_bytes.hex()}"]


def _valid_and_broken() -> tuple[bytes, bytes]:
    """A request whose first span is fine and whose second has a 3-byte span id."""
    trace_bytes, span_bytes = random_ids()
    good = otlp_span(trace_bytes, span_bytes, name="good")
    bad = otlp_span(trace_bytes, b"abc", span_bytes, name="bad")
    return trace_bytes, otlp_request(good, bad).SerializeToString()


def test_bad_payloads_are_refused_and_store_nothing(server, client, exp_id):
    trace_bytes, span_bytes = random_ids()
    valid = otlp_request(otlp_span(trace_bytes, span_bytes, name="would-be")).SerializeToString()
    late = otlp_request(otlp_span(trace_bytes, span_bytes, start_ns=2**64 - 1, end_ns=2**64 - 1)).SerializeToString()
    other_run = client.create_run(mlflow.create_experiment(unique("otlp-other"))).info.run_id
    deleted = mlflow.create_experiment(unique("otlp-deleted"))
    client.delete_experiment(deleted)
    cases = [
        (b"\xff\xfe definitely not protobuf", "application/x-protobuf", exp_id, {}, 400),
        (b"{not json", "application/json", exp_id, {}, 400),
        (b'["a list"]', "application/json", exp_id, {}, 400),
        (valid, "text/plain", exp_id, {}, 400),
        (valid, "application/x-protobuf", None, {}, 400),
        (valid, "application/x-protobuf", "not-a-number", {}, 400),
        (valid, "application/x-protobuf", "987654321", {}, 404),
        (b"", "application/x-protobuf", exp_id, {}, 400),  # no spans
        (otlp_request().SerializeToString(), "application/x-protobuf", exp_id, {}, 400),
        (b"not gzip at all", "application/x-protobuf", exp_id, {"Content-Encoding": "gzip"}, 400),
        (gzip.compress(valid), "application/x-protobuf", exp_id, {"Content-Encoding": "br"}, 400),
        (_valid_and_broken()[1], "application/x-protobuf", exp_id, {}, 400),
        (late, "application/x-protobuf", exp_id, {}, 400),  # uint64 nanoseconds beyond a signed 64-bit column
        (valid, "application/x-protobuf", exp_id, {"x-mlflow-run-id": other_run}, 400),
        (valid, "application/x-protobuf", exp_id, {"x-mlflow-run-id": "0" * 32}, 404),
        (valid, "application/x-protobuf", deleted, {}, 400),
    ]
    for body, content_type, experiment, headers, status in cases:
        resp = post_otlp(server.url, body, experiment, content_type, **headers)
        assert_error(resp, status)
    assert_error(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get_trace_json(server.url, f"tr-{_valid_and_broken()[0].hex()}"), 404)


def test_compressed_bodies_and_their_limit(server, exp_id):
    trace_bytes, span_bytes = random_ids()
    body = otlp_request(otlp_span(trace_bytes, span_bytes, name="deflated")).SerializeToString()
    resp = post_otlp(server.url, zlib.compress(body), exp_id, **{"Content-Encoding": "deflate"})
    assert resp.status_code == 200 and resp.content == b""
    assert assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]["spans"][0]["name"] == "deflated"
    bomb = gzip.compress(b"\0" * (80 * 1024 * 1024))  # 80 MiB of zeros in about 80 KiB
    body = assert_error(post_otlp(server.url, bomb, exp_id, **{"Content-Encoding": "gzip"}), 400)
    assert "exceeds" in body["message"]


def test_an_error_root_span_makes_an_error_trace(server, exp_id):
    trace_bytes, span_bytes = random_ids()
    body = otlp_request(otlp_span(trace_bytes, span_bytes, name="boom", status=Status.STATUS_CODE_ERROR))
    assert post_otlp(server.url, body.SerializeToString(), exp_id).status_code == 200
    assert mlflow.get_trace(f"tr-{trace_bytes.hex()}").info.state.value == "ERROR"
    trace_bytes, span_bytes = random_ids()
    body = otlp_request(otlp_span(trace_bytes, span_bytes, name="odd status", status=-5))
    assert post_otlp(server.url, body.SerializeToString(), exp_id).status_code == 200
    trace = assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]
    assert trace["spans"][0]["status"] == {} and trace["trace_info"]["state"] == "OK"


def test_odd_attributes_are_stored_not_refused(server, exp_id):
    """JSON text nested too deep to unfold stays text; a resource attribute that cannot be a tag
    (key over 250 characters) is left out of the tags, as officially."""
    trace_bytes, span_bytes = random_ids()
    deep = "[" * 3000 + "]" * 3000
    body = otlp_request(otlp_span(trace_bytes, span_bytes, name="odd", deep=deep, nested="[[1], {\"a\": [2]}]",
                                  mlflow__traceTag__mlflow__artifactLocation="s3://elsewhere"),
                        resource={"k" * 300: "v", "team": "x" * 9000})
    assert post_otlp(server.url, body.SerializeToString(), exp_id).status_code == 200
    trace = assert_ok(get_trace_json(server.url, f"tr-{trace_bytes.hex()}"))["trace"]
    attributes = {a["key"]: a["value"] for a in trace["spans"][0]["attributes"]}
    assert attributes["deep"] == {"string_value": deep}
    assert attributes["nested"]["array_value"]["values"][0] == {"array_value": {"values": [{"int_value": 1}]}}
    tags = trace["trace_info"]["tags"]
    assert "k" * 300 not in tags and tags["team"] == "x" * 8000
    assert tags["mlflow.artifactLocation"].endswith(f"/traces/tr-{trace_bytes.hex()}/artifacts")  # the server's


def test_traces_may_reuse_span_ids(server, exp_id):
    """Span ids are unique within a trace only: sending span X of one trace leaves span X of
    another alone."""
    first, second = random_ids()[0], random_ids()[0]
    x, y = b"\x00" * 7 + b"\x01", b"\x00" * 7 + b"\x02"
    assert post_otlp(server.url, otlp_request(otlp_span(second, x, name="second-x")).SerializeToString(),
                     exp_id).status_code == 200
    both = otlp_request(otlp_span(first, x, name="first-x"), otlp_span(second, y, x, name="second-y"))
    assert post_otlp(server.url, both.SerializeToString(), exp_id).status_code == 200
    names = [s["name"] for s in assert_ok(get_trace_json(server.url, f"tr-{second.hex()}"))["trace"]["spans"]]
    assert names == ["second-x", "second-y"]
