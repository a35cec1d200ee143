"""Tracing as a user does it with the official client (3.17, unchanged): @mlflow.trace with
nested spans of every type, an exception inside a span, traces inside a run, synchronous and
asynchronous export; then get_trace gives back what was traced, tags are set and deleted,
traces are deleted by time and by id and linked to runs. And the 2.x client's tracing."""
from __future__ import annotations

import os
import subprocess
import time

import mlflow
import pytest
from mlflow.entities import SpanStatusCode, SpanType

from conftest import CI, ROOT, unique
from traces_support import traced

SPAN_TYPES = ["LLM", "RETRIEVER", "TOOL", "AGENT", "EMBEDDING", "PARSER", "RERANKER", "CHAT_MODEL", "UNKNOWN"]
CLIENT2_PYTHON = ROOT / ".venv-client2" / "bin" / "python"


@pytest.fixture
def exp_id(client):
    return mlflow.set_experiment(unique("traces")).experiment_id


@pytest.fixture(params=["sync", "async"])
def export_mode(request, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true" if request.param == "async" else "false")
    # as a user's client does (the client fixture turns retries off): the async exporter only
    # logs a failed request, so one transient failure on a loaded machine would lose a trace's tags
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    return request.param


def _agent(question: str) -> str:
    """A CHAIN root with a child of every other span type, each with inputs, outputs and an
    attribute, and a TOOL child that raises."""
    @mlflow.trace(span_type=SpanType.CHAIN, attributes={"team": "search"})
    def agent(q):
        for kind in SPAN_TYPES:
            with mlflow.start_span(f"step-{kind.lower()}", span_type=kind) as span:
                span.set_inputs({"q": q, "kind": kind})
                span.set_outputs([kind, len(q)])
                span.set_attribute("weight", 0.5)
        try:
            with mlflow.start_span("broken-tool", span_type=SpanType.TOOL):
                raise ValueError("the tool broke")
        except ValueError:
            pass
        return f"answer to {q}"

    return agent(question)


def test_spans_of_every_type_come_back_as_traced(exp_id, export_mode):
    assert _agent("why?") == "answer to why?"
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    trace = mlflow.get_trace(trace_id)
    info = trace.info
    assert info.trace_id == trace_id and info.experiment_id == exp_id
    assert info.state.value == "OK"
    assert info.request_preview == '{"q": "why?"}' and info.response_preview == '"answer to why?"'
    assert info.tags["mlflow.traceName"] == "agent"
    assert info.tags["mlflow.artifactLocation"].endswith(f"/{exp_id}/traces/{trace_id}/artifacts")
    assert info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert info.execution_time_ms is not None and info.execution_time_ms >= 0

    spans = trace.data.spans
    assert len(spans) == len(SPAN_TYPES) + 2
    root = spans[0]
    assert root.parent_id is None and root.name == "agent" and root.span_type == "CHAIN"
    assert root.inputs == {"q": "why?"} and root.outputs == "answer to why?"
    assert root.get_attribute("team") == "search"
    by_name = {span.name: span for span in spans}
    for kind in SPAN_TYPES:
        span = by_name[f"step-{kind.lower()}"]
        assert span.parent_id == root.span_id and span.trace_id == trace_id
        assert span.span_type == kind
        assert span.inputs == {"q": "why?", "kind": kind} and span.outputs == [kind, 4]
        assert span.get_attribute("weight") == 0.5
        assert span.status.status_code == SpanStatusCode.OK
        assert root.start_time_ns <= span.start_time_ns <= span.end_time_ns <= root.end_time_ns
    broken = by_name["broken-tool"]
    assert broken.status.status_code == SpanStatusCode.ERROR
    assert "the tool broke" in broken.status.description
    (event,) = broken.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "the tool broke"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    assert [s.start_time_ns for s in spans[1:]] == sorted(s.start_time_ns for s in spans[1:])


def test_an_exception_in_the_root_span_makes_an_error_trace(exp_id, export_mode):
    @mlflow.trace
    def failing():
        raise RuntimeError("no answer")

    with pytest.raises(RuntimeError):
        failing()
    mlflow.flush_trace_async_logging()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace.info.state.value == "ERROR"
    (span,) = trace.data.spans
    assert span.status.status_code == SpanStatusCode.ERROR
    assert span.events[0].attributes["exception.message"] == "no answer"


def test_traces_inside_a_run_are_linked_to_it(exp_id):
    with mlflow.start_run() as run:
        first, second = traced("a"), traced("b")
    info = mlflow.get_trace(first).info
    assert info.request_metadata["mlflow.sourceRun"] == run.info.run_id
    found = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert {t.info.trace_id for t in found} == {first, second}


def test_feedback_logged_inside_a_trace_comes_with_it(exp_id, export_mode):
    @mlflow.trace
    def answer(q):
        mlflow.log_feedback(trace_id=mlflow.get_active_trace_id(), name="on-topic", value=True,
                            rationale="asked and answered")
        return q

    answer("q")
    mlflow.flush_trace_async_logging()
    (feedback,) = mlflow.get_trace(mlflow.get_last_active_trace_id()).info.assessments
    assert (feedback.name, feedback.value, feedback.rationale) == ("on-topic", True, "asked and answered")


def test_link_traces_to_a_run(client, exp_id):
    trace_ids = [traced("x"), traced("y")]
    run = client.create_run(exp_id)
    client.link_traces_to_run(trace_ids, run.info.run_id)
    client.link_traces_to_run(trace_ids, run.info.run_id)  # again: no duplicate
    found = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert sorted(t.info.trace_id for t in found) == sorted(trace_ids)
    with pytest.raises(mlflow.MlflowException, match="not found"):
        client.link_traces_to_run(trace_ids, "0" * 32)


def test_set_and_delete_trace_tags(client, exp_id):
    trace_id = traced()
    client.set_trace_tag(trace_id, "env", "prod")
    mlflow.set_trace_tag(trace_id, "owner", "ann")
    client.set_trace_tag(trace_id, "env", "staging")  # overwritten
    tags = client.get_trace(trace_id).info.tags
    assert tags["env"] == "staging" and tags["owner"] == "ann"
    client.delete_trace_tag(trace_id, "env")
    tags = client.get_trace(trace_id).info.tags
    assert "env" not in tags and tags["owner"] == "ann"
    with pytest.raises(mlflow.MlflowException, match="No trace tag"):
        client.delete_trace_tag(trace_id, "env")


def test_delete_traces_by_time_and_by_id(client, exp_id):
    old = [traced(f"old{i}") for i in range(3)]
    time.sleep(0.05)
    cutoff = int(time.time() * 1000)
    time.sleep(0.05)
    new = [traced(f"new{i}") for i in range(2)]
    assert client.delete_traces(exp_id, max_timestamp_millis=cutoff, max_traces=2) == 2  # the oldest two
    with pytest.raises(mlflow.MlflowException):
        client.get_trace(old[0])
    assert client.get_trace(old[2]).info.trace_id == old[2]
    assert client.delete_traces(exp_id, max_timestamp_millis=cutoff) == 1
    assert client.delete_traces(exp_id, trace_ids=[new[0], "tr-" + "0" * 32]) == 1
    remaining = mlflow.search_traces(locations=[exp_id], return_type="list")
    assert [t.info.trace_id for t in remaining] == [new[1]]


def test_the_2x_client_traces(server, tmp_path):
    """The 2.x client's trace calls (start, end, info, tags, search) one by one, through mlflow
    2.22's own REST store, with what each answers (test_traces_client2.py drives its @mlflow.trace)."""
    if not CLIENT2_PYTHON.exists():
        message = f"no mlflow 2.x client in {CLIENT2_PYTHON.parent.parent} (make test installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    script = tmp_path / "trace2.py"
    script.write_text('''
import sys, time, mlflow
from mlflow.entities.trace_status import TraceStatus
from mlflow.tracking._tracking_service.utils import _get_store
mlflow.set_tracking_uri(sys.argv[1])
experiment_id = mlflow.set_experiment("tracing-with-2x").experiment_id
store = _get_store()
started = int(time.time() * 1000)
info = store.start_trace(experiment_id, started, {"mlflow.traceInputs": "hi"}, {"mlflow.traceName": "answer"})
request_id = info.request_id
assert info.status == TraceStatus.IN_PROGRESS and info.timestamp_ms == started, info
assert info.tags["mlflow.artifactLocation"].endswith(f"/traces/{request_id}/artifacts"), info.tags
ended = store.end_trace(request_id, started + 250, TraceStatus.OK, {"mlflow.traceOutputs": "HI"}, {"env": "dev"})
assert ended.status == TraceStatus.OK and ended.execution_time_ms == 250, ended
got = store.get_trace_info(request_id)
assert got.request_metadata == {"mlflow.traceInputs": "hi", "mlflow.traceOutputs": "HI"}, got.request_metadata
assert got.tags["env"] == "dev" and got.tags["mlflow.traceName"] == "answer", got.tags
store.set_trace_tag(request_id, "owner", "ann")
store.delete_trace_tag(request_id, "env")
tags = store.get_trace_info(request_id).tags
assert tags["owner"] == "ann" and "env" not in tags, tags
found, _ = store.search_traces([experiment_id])
assert [t.request_id for t in found] == [request_id], found
print("traced with mlflow", mlflow.__version__)
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([str(CLIENT2_PYTHON), str(script), server.url], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "traced with mlflow 2." in done.stdout
