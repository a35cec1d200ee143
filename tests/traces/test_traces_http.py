"""The trace routes as a raw HTTP client sees them: StartTraceV3 and its answer, a trace whose
spans came first merged by StartTraceV3, reads (v3, batch, 2.x info, the trace artifact), tags,
deletion, links, traces of a deleted experiment, and bad input answered 400/404 with nothing
stored."""
from __future__ import annotations

import json
import time

import pytest
import requests

from api_checks import assert_error, assert_ok, raw_experiment, raw_run
from conftest import unique
from traces_support import get_trace_json, otlp_request, otlp_span, post_otlp, random_ids


@pytest.fixture
def v3(server):
    class V3:
        base = f"{server.url}/api/3.0/mlflow/"

        def request(self, method, path, **kw):
            return requests.request(method, self.base + path, timeout=30, **kw)
    return V3()


@pytest.fixture
def exp_id(api):
    return raw_experiment(api, unique("traces-http"))


def trace_info(trace_id: str, experiment_id: str, **fields) -> dict:
    return {"trace_id": trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
            "request_time": "2026-01-02T03:04:05.678Z", "execution_duration": "1.250s", "state": "OK",
            "trace_metadata": {"mlflow.user": "ann", "mlflow.trace.sizeStats": '{"num_spans": 1}'},
            "tags": {"mlflow.traceName": "answer", "env": "prod"},
            "request_preview": '{"q": 1}', "response_preview": '"a"', **fields}


def start(v3, info: dict):
    return v3.request("POST", "traces", json={"trace": {"trace_info": info}})


def new_trace_id() -> str:
    return "tr-" + random_ids()[0].hex()


def test_start_trace_v3_answers_the_stored_info(server, v3, exp_id):
    trace_id = new_trace_id()
    stored = assert_ok(start(v3, trace_info(trace_id, exp_id)))["trace"]["trace_info"]
    assert stored == {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}},
        "request_time": "2026-01-02T03:04:05.678Z", "execution_duration": "1.250s", "state": "OK",
        "trace_metadata": {"mlflow.user": "ann", "mlflow.trace.sizeStats": '{"num_spans": 1}',
                           "mlflow.trace.infoFinalized": "true"},
        "tags": {"mlflow.traceName": "answer", "env": "prod",
                 "mlflow.artifactLocation": f"mlflow-artifacts:/{exp_id}/traces/{trace_id}/artifacts"},
        "request_preview": '{"q": 1}', "response_preview": '"a"'}
    assert assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"] == stored
    v2 = assert_ok(requests.get(f"{server.url}/api/2.0/mlflow/traces/{trace_id}/info", timeout=30))["trace_info"]
    assert v2 == {"request_id": trace_id, "experiment_id": exp_id, "timestamp_ms": 1767323045678,
                  "execution_time_ms": 1250, "status": "OK",
                  "request_metadata": [{"key": k, "value": v} for k, v in sorted(stored["trace_metadata"].items())],
                  "tags": [{"key": k, "value": v} for k, v in sorted(stored["tags"].items())]}
    # spans not sent yet: traces/get waits for them, then 404; allow_partial answers at once
    began = time.monotonic()
    assert_error(get_trace_json(server.url, trace_id, allow_partial=False), 404, "RESOURCE_DOES_NOT_EXIST")
    assert time.monotonic() - began < 1  # no spans location: nothing to wait for
    assert assert_ok(get_trace_json(server.url, trace_id))["trace"]["spans"] == []


def test_spans_first_then_start_trace_merges(server, v3, exp_id):
    trace_bytes, span_bytes = random_ids()
    trace_id = f"tr-{trace_bytes.hex()}"
    span = otlp_span(trace_bytes, span_bytes, name="root", start_ns=1_767_323_045_000_000_000,
                     end_ns=1_767_323_046_000_000_000, mlflow__spanInputs="in")
    assert post_otlp(server.url, otlp_request(span).SerializeToString(), exp_id).status_code == 200
    made = assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]
    assert made["request_time"] == "2026-01-02T03:04:05Z" and made["execution_duration"] == "1s"
    assert made["request_preview"] == '"in"' and made["trace_metadata"] == {}
    stored = assert_ok(start(v3, trace_info(trace_id, exp_id, request_preview=None)))["trace"]["trace_info"]
    assert stored["request_time"] == "2026-01-02T03:04:05.678Z" and stored["execution_duration"] == "1.250s"
    assert stored["request_preview"] == '"in"'  # kept: StartTrace sent none
    assert stored["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE" and stored["tags"]["env"] == "prod"
    assert stored["trace_metadata"]["mlflow.user"] == "ann"
    trace = assert_ok(get_trace_json(server.url, trace_id, allow_partial=False))["trace"]
    assert trace["trace_info"] == stored and [s["name"] for s in trace["spans"]] == ["root"]
    # spans after StartTrace leave its times alone (mlflow.trace.infoFinalized)
    late = otlp_span(trace_bytes, random_ids()[1], span_bytes, name="late", start_ns=1_000_000_000)
    assert post_otlp(server.url, otlp_request(late).SerializeToString(), exp_id).status_code == 200
    assert assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]["request_time"] == \
        stored["request_time"]


def test_batch_reads_keep_the_order_asked_and_leave_out_unknown_ids(server, v3, exp_id):
    ids = []
    for name in ("a", "b"):
        trace_bytes, span_bytes = random_ids()
        ids.append(f"tr-{trace_bytes.hex()}")
        body = otlp_request(otlp_span(trace_bytes, span_bytes, name=name)).SerializeToString()
        assert post_otlp(server.url, body, exp_id).status_code == 200
    asked = [ids[1], "tr-" + "0" * 32, ids[0]]
    infos = assert_ok(v3.request("POST", "traces/batchGetInfos", json={"trace_ids": asked}))["trace_infos"]
    assert [i["trace_id"] for i in infos] == [ids[1], ids[0]]
    traces = assert_ok(v3.request("GET", "traces/batchGet", params={"trace_ids": asked}))["traces"]
    assert [(t["trace_info"]["trace_id"], t["spans"][0]["name"]) for t in traces] == [(ids[1], "b"), (ids[0], "a")]
    for scope, found in (([exp_id], 2), (["0"], 0)):  # experiment_ids scope the answer
        infos = assert_ok(v3.request("POST", "traces/batchGetInfos", json={"trace_ids": asked,
                                                                            "experiment_ids": scope}))
        assert len(infos.get("trace_infos", [])) == found
        traces = assert_ok(v3.request("GET", "traces/batchGet", params={"trace_ids": asked, "experiment_ids": scope}))
        assert len(traces.get("traces", [])) == found
    artifact = assert_ok(requests.get(f"{server.url}/ajax-api/2.0/mlflow/get-trace-artifact",
                                      params={"request_id": ids[0]}, timeout=30))
    (span,) = artifact["spans"]
    assert span["name"] == "a" and span["parent_span_id"] is None and span["status"]["code"] == "STATUS_CODE_OK"
    assert json.loads(span["attributes"]["mlflow.traceRequestId"]) == ids[0]
    assert_error(v3.request("POST", "traces/batchGetInfos", json={}), 400)


def test_tags_on_both_api_versions(server, api, v3, exp_id):
    trace_id = new_trace_id()
    assert_ok(start(v3, trace_info(trace_id, exp_id)))
    assert_ok(api.request("PATCH", f"traces/{trace_id}/tags", json={"key": "k", "value": "v"}))
    assert_ok(v3.request("PATCH", f"traces/{trace_id}/tags", json={"key": "k2", "value": "x" * 9000}))
    tags = assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]["tags"]
    assert tags["k"] == "v" and tags["k2"] == "x" * 8000  # cut at 8000, as officially
    assert_ok(v3.request("DELETE", f"traces/{trace_id}/tags", json={"key": "k"}))
    assert "k" not in assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]["tags"]
    assert_error(api.request("DELETE", f"traces/{trace_id}/tags", json={"key": "k"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.request("PATCH", f"traces/{trace_id}/tags",
                             json={"key": "mlflow.trace.spansLocation", "value": "x"}), 400)
    assert_error(api.request("PATCH", f"traces/{trace_id}/tags", json={"value": "x"}), 400)
    assert_error(api.request("PATCH", f"traces/{trace_id}/tags", json={"key": "k" * 251, "value": "x"}), 400)
    assert_error(api.request("PATCH", "traces/tr-nope/tags", json={"key": "k", "value": "v"}), 404)


def test_link_prompts_keeps_them_in_a_tag(api, v3, exp_id):
    trace_id = new_trace_id()
    assert_ok(start(v3, trace_info(trace_id, exp_id)))
    for versions in ([{"name": "greet", "version": "1"}], [{"name": "greet", "version": "1"},
                                                          {"name": "ask", "version": "3"}]):
        assert_ok(api.post("traces/link-prompts", json={"trace_id": trace_id, "prompt_versions": versions}))
    tags = assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]["tags"]
    assert json.loads(tags["mlflow.linkedPrompts"]) == [{"name": "greet", "version": "1"},
                                                         {"name": "ask", "version": "3"}]
    assert_error(api.post("traces/link-prompts", json={"trace_id": "tr-nope",
                                                       "prompt_versions": [{"name": "a", "version": "1"}]}), 404)


def test_link_to_run_needs_the_run_and_the_traces(api, v3, exp_id):
    trace_id = new_trace_id()
    assert_ok(start(v3, trace_info(trace_id, exp_id)))
    run_id = raw_run(api, exp_id)
    assert_ok(api.post("traces/link-to-run", json={"trace_ids": [trace_id], "run_id": run_id}))
    assert_error(api.post("traces/link-to-run", json={"trace_ids": [trace_id], "run_id": "f" * 32}), 404)
    assert_error(api.post("traces/link-to-run", json={"trace_ids": ["tr-nope"], "run_id": run_id}), 404)
    assert_error(api.post("traces/link-to-run", json={"trace_ids": [f"t{i}" for i in range(101)],
                                                      "run_id": run_id}), 400)


def test_delete_traces_rules(api, v3, exp_id):
    ids = [new_trace_id() for _ in range(3)]
    for trace_id in ids:
        assert_ok(start(v3, trace_info(trace_id, exp_id)))
    for body in ({"experiment_id": exp_id}, {"experiment_id": exp_id, "max_timestamp_millis": 1, "request_ids": ids},
                 {"experiment_id": exp_id, "request_ids": ids, "max_traces": 1},
                 {"experiment_id": exp_id, "max_timestamp_millis": 1, "max_traces": 0}):
        assert_error(api.post("traces/delete-traces", json=body), 400)
    other = raw_experiment(api, unique("other"))
    assert assert_ok(api.post("traces/delete-traces", json={"experiment_id": other, "request_ids": ids})) == {
        "traces_deleted": 0}  # not that experiment's
    deleted = assert_ok(v3.request("POST", "traces/delete-traces", json={"experiment_id": exp_id,
                                                                         "request_ids": ids[:2]}))
    assert deleted == {"traces_deleted": 2}
    assert_error(v3.request("GET", f"traces/{ids[0]}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert assert_ok(api.post("traces/delete-traces", json={"experiment_id": exp_id,
                                                            "max_timestamp_millis": 2**62})) == {"traces_deleted": 1}


def test_traces_of_a_deleted_experiment(api, v3, exp_id):
    trace_id = new_trace_id()
    assert_ok(start(v3, trace_info(trace_id, exp_id)))
    assert_ok(api.post("experiments/delete", json={"experiment_id": exp_id}))
    assert assert_ok(v3.request("GET", f"traces/{trace_id}"))["trace"]["trace_info"]["trace_id"] == trace_id
    body = assert_error(start(v3, trace_info(new_trace_id(), exp_id)), 400, "INVALID_PARAMETER_VALUE")
    assert "active" in body["message"]


def test_bad_start_requests_store_nothing(server, api, v3, exp_id):
    trace_id = new_trace_id()
    bad = [
        (trace_info(trace_id, "987654321"), 404),
        (trace_info(trace_id, exp_id, trace_location={"type": "INFERENCE_TABLE"}), 400),
        (trace_info(trace_id, exp_id, request_time="yesterday"), 400),
        (trace_info(trace_id, exp_id, request_time=None), 400),
        (trace_info(trace_id, exp_id, execution_duration="fast"), 400),
        (trace_info(trace_id, exp_id, execution_duration="Infinitys"), 400),
        (trace_info(trace_id, exp_id, execution_duration="1e400s"), 400),
        (trace_info(trace_id, exp_id, execution_duration="1e999999s"), 400),
        (trace_info(trace_id, exp_id, state="\u00b2"), 400),
        (trace_info(trace_id, exp_id, state="DONE"), 400),
        (trace_info(trace_id, exp_id, tags={"k": 1}), 400),
        (trace_info(trace_id, exp_id, trace_metadata=["a"]), 400),
        (trace_info(trace_id, exp_id, tags={"k" * 300: "v"}), 400),
        (trace_info(trace_id, exp_id, trace_metadata={"k": "v" * 8001}), 400),
        (trace_info("tr-" + "0" * 60, exp_id), 400),
        (trace_info(None, exp_id), 400),
        # feedback logged while the trace ran, not storable: the trace is not stored either
        (trace_info(trace_id, exp_id, assessments=[{"assessment_name": "ok", "feedback": {"value": True},
                                                    "source": {"source_type": "ROBOT"}}]), 400),
        (trace_info(trace_id, exp_id, assessments=[{"feedback": {"value": True},
                                                    "source": {"source_type": "HUMAN"}}]), 400),
        (trace_info(trace_id, exp_id, assessments=[{"assessment_name": "ok", "feedback": {"value": True},
                                                    "source": {"source_type": "\u00b2"}}]), 400),
    ]
    for info, status in bad:
        assert_error(start(v3, info), status)
    assert_error(v3.request("POST", "traces", json={}), 400)
    assert_error(v3.request("GET", f"traces/{trace_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.request("PATCH", f"traces/{trace_id}", json={"timestamp_ms": 1, "status": "OK"}), 404)
    assert_error(api.post("traces", json={"experiment_id": "987654321", "timestamp_ms": 1}), 404)


def test_the_2x_start_and_end_routes(api, exp_id):
    started = assert_ok(api.post("traces", json={"experiment_id": exp_id, "timestamp_ms": 1000,
                                                 "request_metadata": [{"key": "m", "value": "1"}],
                                                 "tags": [{"key": "t", "value": "2"}]}))["trace_info"]
    request_id = started["request_id"]
    assert started["status"] == "IN_PROGRESS" and started["timestamp_ms"] == 1000
    ended = assert_ok(api.request("PATCH", f"traces/{request_id}", json={
        "timestamp_ms": 1500, "status": "ERROR", "tags": [{"key": "t2", "value": "3"}]}))["trace_info"]
    assert ended["status"] == "ERROR" and ended["execution_time_ms"] == 500
    assert {t["key"] for t in ended["tags"]} == {"t", "t2", "mlflow.artifactLocation"}
    assert ended["request_metadata"] == [{"key": "m", "value": "1"}]
    assert_error(api.request("PATCH", f"traces/{request_id}", json={"timestamp_ms": 1, "status": "DONE"}), 400)


def test_the_trace_artifact_of_a_2x_trace_is_its_uploaded_traces_json(server, api, exp_id):
    """The 2.x client uploads its spans as traces.json only; the UI reads them back."""
    started = assert_ok(api.post("traces", json={"experiment_id": exp_id, "timestamp_ms": 1000}))["trace_info"]
    request_id = started["request_id"]
    artifact_url = f"{server.url}/ajax-api/2.0/mlflow/get-trace-artifact"
    assert_error(requests.get(artifact_url, params={"request_id": request_id}, timeout=30), 404)
    data = b'{"spans": [{"name": "answer", "attributes": {}}], "request": "{}", "response": "{}"}'
    upload = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp_id}/traces/{request_id}/artifacts/traces.json"
    assert requests.put(upload, data=data, timeout=30).status_code == 200
    got = requests.get(artifact_url, params={"request_id": request_id}, timeout=30)
    assert got.status_code == 200 and got.content == data
    # the artifact location is the server's: a trace elsewhere cannot be pointed at this one's data
    other = assert_ok(api.post("traces", json={"experiment_id": raw_experiment(api, unique("other")),
                                               "timestamp_ms": 1000}))["trace_info"]["request_id"]
    location = f"mlflow-artifacts:/{exp_id}/traces/{request_id}/artifacts"
    body = assert_error(api.request("PATCH", f"traces/{other}/tags",
                                    json={"key": "mlflow.artifactLocation", "value": location}), 400)
    assert "immutable" in body["message"]
    assert_error(requests.get(artifact_url, params={"request_id": other}, timeout=30), 404)


def test_a_trace_stays_in_its_experiment(server, api, v3, exp_id):
    trace_bytes, span_bytes = random_ids()
    trace_id = f"tr-{trace_bytes.hex()}"
    stored = assert_ok(start(v3, trace_info(trace_id, exp_id)))["trace"]["trace_info"]
    other = raw_experiment(api, unique("other"))
    body = assert_error(start(v3, trace_info(trace_id, other, state="ERROR")), 400, "INVALID_PARAMETER_VALUE")
    assert "another experiment" in body["message"]
    spans = otlp_request(otlp_span(trace_bytes, span_bytes, name="injected")).SerializeToString()
    assert_error(post_otlp(server.url, spans, other), 400, "INVALID_PARAMETER_VALUE")
    assert assert_ok(get_trace_json(server.url, trace_id))["trace"] == {"trace_info": stored, "spans": []}
