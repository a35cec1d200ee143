"""Tracing with the 2.x client (mlflow 2.22 in .venv-client2): @mlflow.trace with nested spans
and an exception inside a run, then search_traces, get_trace (spans from the traces.json the
client uploads), trace tags and delete_traces, as a user still on 2.x does.

SESSION runs once per backend in a subprocess and prints what it saw as JSON; the tests check
parts of it. Against the official server 3.17.2 (bench/official_server.sh) the same session sees
the same, ids and experiment numbers aside."""
from __future__ import annotations

import json
import os
import re
import subprocess

import mlflow
import pytest

from conftest import CI, ROOT

CLIENT2_PYTHON = ROOT / ".venv-client2" / "bin" / "python"

SESSION = '''
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import SpanType

mlflow.set_tracking_uri(sys.argv[1])
experiment_id = mlflow.set_experiment("traces-with-2x").experiment_id
client = MlflowClient()


@mlflow.trace(span_type=SpanType.CHAIN, attributes={"team": "search"})
def answer(question):
    with mlflow.start_span("retrieve", span_type=SpanType.RETRIEVER) as span:
        span.set_inputs({"query": question})
        docs = ["doc-a", "doc-b"]
        span.set_outputs(docs)
    with mlflow.start_span("rank") as span:
        span.set_attribute("k", 2)
        with mlflow.start_span("score") as inner:
            inner.set_inputs({"docs": docs})
            inner.set_outputs({"doc-a": 0.9})
    return f"{question}: {len(docs)} docs"


@mlflow.trace
def divide(x):
    with mlflow.start_span("inverse") as span:
        span.set_inputs({"x": x})
        return 1 / x


with mlflow.start_run() as run:
    answer("why")
    ok_id = mlflow.get_last_active_trace_id()
    try:
        divide(0)
    except ZeroDivisionError:
        pass
    err_id = mlflow.get_last_active_trace_id()
time.sleep(0.05)
cutoff = int(time.time() * 1000)
time.sleep(0.05)
answer("how")
kept_id = mlflow.get_last_active_trace_id()


def spans(trace):
    names = {s.span_id: s.name for s in trace.data.spans}
    return [{"name": s.name, "parent": names.get(s.parent_id), "type": s.span_type,
             "status": s.status.status_code.value, "inputs": s.inputs, "outputs": s.outputs,
             "events": [e.name for e in s.events],
             "attributes": {k: v for k, v in s.attributes.items() if not k.startswith("mlflow.")}}
            for s in trace.data.spans]


def info(trace):
    return {"status": trace.info.status.value, "experiment_id": trace.info.experiment_id,
            "execution_time_ms": trace.info.execution_time_ms, "metadata": trace.info.request_metadata,
            "tags": trace.info.tags}


def ids(traces):
    return [t.info.request_id for t in traces]


seen = {"experiment_id": experiment_id, "run_id": run.info.run_id, "ok_id": ok_id, "err_id": err_id,
        "kept_id": kept_id}
ok, err = mlflow.get_trace(ok_id), mlflow.get_trace(err_id)
seen["ok"] = {"info": info(ok), "spans": spans(ok), "request": ok.data.request, "response": ok.data.response}
seen["err"] = {"info": info(err), "spans": spans(err), "response": err.data.response}
seen["search"] = [(t.info.request_id, t.info.status.value, len(t.data.spans))
                  for t in mlflow.search_traces(return_type="list")]
seen["search_run"] = ids(mlflow.search_traces(run_id=run.info.run_id, return_type="list"))
seen["search_error"] = ids(mlflow.search_traces(filter_string="attributes.status = 'ERROR'", return_type="list"))
frame = mlflow.search_traces(extract_fields=["retrieve.inputs.query", "answer.outputs"])
seen["frame"] = frame[["request_id", "request", "response", "retrieve.inputs.query",
                       "answer.outputs"]].to_dict("records")
page = client.search_traces([experiment_id], max_results=2, order_by=["timestamp_ms ASC"])
seen["pages"] = [ids(page), ids(client.search_traces([experiment_id], max_results=2,
                                                     order_by=["timestamp_ms ASC"], page_token=page.token))]

client.set_trace_tag(ok_id, "reviewed", "yes")
seen["tagged"] = client.get_trace(ok_id).info.tags
client.delete_trace_tag(ok_id, "reviewed")
seen["untagged"] = client.get_trace(ok_id).info.tags
try:
    client.delete_trace_tag(ok_id, "reviewed")
except mlflow.MlflowException as e:
    seen["delete_missing_tag"] = e.error_code

seen["deleted_by_id"] = client.delete_traces(experiment_id, request_ids=[err_id])
seen["get_deleted"] = mlflow.get_trace(err_id)
try:
    client.get_trace(err_id)
except mlflow.MlflowException as e:
    seen["client_get_deleted"] = e.error_code
seen["after_delete_by_id"] = ids(mlflow.search_traces(return_type="list"))
seen["deleted_by_time"] = client.delete_traces(experiment_id, max_timestamp_millis=cutoff, max_traces=5)
seen["after_delete_by_time"] = ids(mlflow.search_traces(return_type="list"))
print(json.dumps(seen, default=str))
'''


@pytest.fixture(scope="module")
def seen(server, tmp_path_factory):
    """What SESSION saw, run by mlflow 2.22 against the module's server."""
    if not CLIENT2_PYTHON.exists():
        message = f"no mlflow 2.x client in {CLIENT2_PYTHON.parent.parent} (make test installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("client2")
    script = tmp / "session2.py"
    script.write_text(SESSION)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([str(CLIENT2_PYTHON), str(script), server.url], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_traced_call_reads_back_with_its_spans(seen, server):
    ok_id = seen["ok_id"]
    assert re.fullmatch("[0-9a-f]{32}", ok_id)  # a bare uuid, as the official server's 2.x request id
    info = seen["ok"]["info"]
    assert info["status"] == "OK" and info["experiment_id"] == seen["experiment_id"]
    assert info["execution_time_ms"] >= 0
    assert info["metadata"]["mlflow.sourceRun"] == seen["run_id"]
    assert info["metadata"]["mlflow.traceInputs"] == '{"question": "why"}'
    assert info["metadata"]["mlflow.traceOutputs"] == '"why: 2 docs"'
    assert info["tags"]["mlflow.traceName"] == "answer"
    location = f"mlflow-artifacts:/{seen['experiment_id']}/traces/{ok_id}/artifacts"
    assert info["tags"]["mlflow.artifactLocation"] == location
    assert (server.artifacts / seen["experiment_id"] / "traces" / ok_id / "artifacts" / "traces.json").is_file()
    assert seen["ok"]["request"] == '{"question": "why"}' and seen["ok"]["response"] == '"why: 2 docs"'
    assert seen["ok"]["spans"] == [
        {"name": "answer", "parent": None, "type": "CHAIN", "status": "OK", "inputs": {"question": "why"},
         "outputs": "why: 2 docs", "events": [], "attributes": {"team": "search"}},
        {"name": "retrieve", "parent": "answer", "type": "RETRIEVER", "status": "OK", "inputs": {"query": "why"},
         "outputs": ["doc-a", "doc-b"], "events": [], "attributes": {}},
        {"name": "rank", "parent": "answer", "type": "UNKNOWN", "status": "OK", "inputs": None,
         "outputs": None, "events": [], "attributes": {"k": 2}},
        {"name": "score", "parent": "rank", "type": "UNKNOWN", "status": "OK",
         "inputs": {"docs": ["doc-a", "doc-b"]}, "outputs": {"doc-a": 0.9}, "events": [], "attributes": {}},
    ]


def test_an_exception_makes_the_trace_and_its_spans_errors(seen):
    assert seen["err"]["info"]["status"] == "ERROR" and seen["err"]["response"] is None
    assert seen["err"]["info"]["metadata"]["mlflow.traceOutputs"] == ""
    assert [(s["name"], s["parent"], s["status"], s["events"], s["inputs"]) for s in seen["err"]["spans"]] == [
        ("divide", None, "ERROR", ["exception"], {"x": 0}),
        ("inverse", "divide", "ERROR", ["exception"], {"x": 0})]


def test_search_traces_by_experiment_run_status_and_pages(seen):
    ok_id, err_id, kept_id = seen["ok_id"], seen["err_id"], seen["kept_id"]
    assert seen["search"] == [[kept_id, "OK", 4], [err_id, "ERROR", 2], [ok_id, "OK", 4]]  # newest first
    assert seen["search_run"] == [err_id, ok_id]
    assert seen["search_error"] == [err_id]
    assert seen["pages"] == [[ok_id, err_id], [kept_id]]
    assert [(row["request_id"], row["request"], row["response"], row["retrieve.inputs.query"],
             row["answer.outputs"]) for row in seen["frame"]] == [
        (kept_id, {"question": "how"}, "how: 2 docs", "how", "how: 2 docs"),
        (err_id, {"x": 0}, None, None, None),
        (ok_id, {"question": "why"}, "why: 2 docs", "why", "why: 2 docs")]


def test_trace_tags_are_set_and_deleted(seen):
    assert seen["tagged"]["reviewed"] == "yes" and seen["tagged"]["mlflow.traceName"] == "answer"
    assert seen["untagged"] == {k: v for k, v in seen["tagged"].items() if k != "reviewed"}
    assert seen["delete_missing_tag"] == "RESOURCE_DOES_NOT_EXIST"


def test_delete_traces_by_id_and_by_time(seen):
    assert seen["deleted_by_id"] == 1
    assert seen["get_deleted"] is None and seen["client_get_deleted"] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["after_delete_by_id"] == [seen["kept_id"], seen["ok_id"]]
    assert seen["deleted_by_time"] == 1
    assert seen["after_delete_by_time"] == [seen["kept_id"]]


def test_the_3x_client_reads_a_2x_trace(seen, client):
    """After an upgrade: the 3.x client finds the 2.x trace and reads its spans."""
    trace = client.get_trace(seen["kept_id"])
    assert trace.info.trace_id == seen["kept_id"] and trace.info.state.value == "OK"
    assert [(s.name, s.inputs, s.outputs) for s in trace.data.spans] == [
        ("answer", {"question": "how"}, "how: 2 docs"), ("retrieve", {"query": "how"}, ["doc-a", "doc-b"]),
        ("rank", None, None), ("score", {"docs": ["doc-a", "doc-b"]}, {"doc-a": 0.9})]
    found = mlflow.search_traces(locations=[seen["experiment_id"]], return_type="list")
    assert [t.info.trace_id for t in found] == [seen["kept_id"]]
