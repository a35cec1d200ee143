"""search_traces as a user runs it with the official client (3.17): every filter key with the
comparators the official grammar allows for it, order_by on each sortable key both ways, paging
through every trace with page tokens (ties on the timestamp included), the errors of filters the
official server refuses, the 2.x client's GET /api/2.0/mlflow/traces, and a filtered top 100
among 20,000 traces that stays fast. SQLite, PostgreSQL and MariaDB.

Traces with chosen times, states, tags and metadata are started through the public StartTraceV3
(POST /api/3.0/mlflow/traces); traces with spans are made by @mlflow.trace functions; the 20,000
are written straight into the database.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
import uuid
from datetime import datetime

import mlflow
import pytest
import requests
import sqlalchemy as sa
from mlflow.entities import AssessmentSource

from api_checks import assert_error, assert_ok, raw_experiment, raw_run
from artifacts.artifact_support import wait_ready
from conftest import BACKENDS, CI, ROOT, Server, backend_uri, unique

BASE_MS = 1_790_000_000_000
SOURCE_RUN = "mlflow.sourceRun"
TRACE_NAME = "mlflow.traceName"
HUMAN = AssessmentSource(source_type="HUMAN", source_id="ana")
CLIENT2_PYTHON = ROOT / ".venv-client2" / "bin" / "python"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """The module's server, with its database's URI kept (the 20,000 traces are written there)."""
    tmp = tmp_path_factory.mktemp(f"trace-search-{request.param}")
    uri, cleanup = backend_uri(request.param, tmp)
    srv = Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    try:
        wait_ready(srv)
        srv.backend, srv.backend_uri = request.param, uri
        yield srv
    finally:
        srv.stop()
        cleanup()


# ---------------------------------------------------------------- helpers

def http_api(server):
    """api.post('experiments/create', json=...) against the module's server."""
    return type("Api", (), {"post": lambda self, path, **kw: requests.post(
        f"{server.url}/api/2.0/mlflow/{path}", timeout=30, **kw)})()


def search(server, experiment_ids, filter_string=None, order_by=None, max_results=None, page_token=None):
    """The response to POST traces/search as the 3.x client sends it."""
    body = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": e}}
                          for e in experiment_ids]}
    for field, value in (("filter", filter_string), ("order_by", order_by), ("max_results", max_results),
                         ("page_token", page_token)):
        if value is not None:
            body[field] = value
    return requests.post(f"{server.url}/api/3.0/mlflow/traces/search", json=body, timeout=30)


def found_ids(server, experiment_id, filter_string=None, order_by=None) -> list[str]:
    body = assert_ok(search(server, [experiment_id], filter_string, order_by, 500))
    assert "next_page_token" not in body
    return [t["trace_id"] for t in body.get("traces", [])]


def client_ids(filter_string=None, order_by=None, experiment_id=None, **kwargs) -> list[str]:
    """Ids of the traces the official MlflowClient.search_traces finds (one page of up to 500)."""
    found = mlflow.MlflowClient().search_traces(locations=[experiment_id], filter_string=filter_string,
                                                order_by=order_by, max_results=500, include_spans=False, **kwargs)
    return [t.info.trace_id for t in found]


def start_trace(server, experiment_id: str, request_time: int, state: str = "OK", duration_ms: int | None = None,
                tags: dict | None = None, metadata: dict | None = None, client_request_id: str | None = None) -> str:
    """A trace started through StartTraceV3 with these values; its id."""
    trace_id = "tr-" + uuid.uuid4().hex
    info = {"trace_id": trace_id, "trace_location": {"type": "MLFLOW_EXPERIMENT",
                                                     "mlflow_experiment": {"experiment_id": experiment_id}},
            "request_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(request_time // 1000))
            + f".{request_time % 1000:03d}Z",
            "state": state, "tags": tags or {}, "trace_metadata": metadata or {}}
    if duration_ms is not None:
        info["execution_duration"] = f"{duration_ms / 1000:.3f}s"
    if client_request_id:
        info["client_request_id"] = client_request_id
    assert_ok(requests.post(f"{server.url}/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}}, timeout=30))
    return trace_id


@dataclasses.dataclass
class Model:
    """What the test knows of a seeded trace, to compute what a search should find."""
    trace_id: str
    request_time: int
    state: str
    duration: int | None
    tags: dict
    metadata: dict
    client_request_id: str
    runs: set

    @property
    def end_time(self):
        return self.request_time + (self.duration or 0)


def default_order(traces) -> list:
    """Newest first, then by trace id: the official order."""
    return sorted(sorted(traces, key=lambda t: t.trace_id), key=lambda t: -t.request_time)


@pytest.fixture(scope="module")
def seeded(server):
    """14 traces with known values in a fresh experiment, two by two at the same millisecond;
    two linked to a run besides the four whose metadata names another."""
    api = http_api(server)
    experiment_id = raw_experiment(api, unique("search"))
    source_run, linked_run = raw_run(api, experiment_id), raw_run(api, experiment_id)
    traces = []
    for i in range(14):
        state = "IN_PROGRESS" if i == 13 else ("ERROR" if i % 3 == 0 else "OK")
        duration = None if i == 13 else (i * 37) % 500
        tags = {TRACE_NAME: ("chat", "search", "plan")[i % 3]}
        if i != 5:
            tags["env"] = "prod" if i % 2 else "dev"
        metadata = {"user": f"u{i % 4}"}
        if i < 4:
            metadata[SOURCE_RUN] = source_run
        request_time = BASE_MS + (i // 2) * 1000
        trace_id = start_trace(server, experiment_id, request_time, state, duration, tags, metadata, f"req-{i}")
        traces.append(Model(trace_id, request_time, state, duration, tags, metadata, f"req-{i}",
                            {source_run} if i < 4 else set()))
    assert_ok(api.post("traces/link-to-run", json={"trace_ids": [traces[6].trace_id, traces[7].trace_id],
                                                   "run_id": linked_run}))
    traces[6].runs.add(linked_run)
    traces[7].runs.add(linked_run)
    return {"experiment_id": experiment_id, "traces": traces, "source_run": source_run, "linked_run": linked_run}


@pytest.fixture(scope="module")
def traced(server):
    """Traces with spans, made by the official client, with feedback and an expectation:
    'rag' (a RETRIEVER and an LLM span with attributes), 'failing' (an LLM span that raised)
    and 'tool' (one TOOL span whose inputs mention Paris)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    try:
        experiment_id = mlflow.set_experiment(unique("spans")).experiment_id

        @mlflow.trace(name="agent", span_type="CHAIN")
        def rag(question):
            with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
                span.set_attributes({"top_k": 3, "index": "docs-v2"})
                span.set_inputs({"query": question})
            with mlflow.start_span("llm", span_type="LLM") as span:
                span.set_attribute("model", "gpt-4o")
            return "answer"

        @mlflow.trace(name="agent", span_type="CHAIN")
        def failing(question):
            with mlflow.start_span("llm", span_type="LLM") as span:
                span.set_attribute("model", "claude-3")
                raise RuntimeError("rate limited")

        @mlflow.trace(name="tool", span_type="TOOL")
        def tool(question):
            return {"forecast": "sunny"}

        ids = {}
        rag("what is mlflow?")
        ids["rag"] = mlflow.get_last_active_trace_id()
        with pytest.raises(RuntimeError):
            failing("hello")
        ids["failing"] = mlflow.get_last_active_trace_id()
        tool("the weather in Paris")
        ids["tool"] = mlflow.get_last_active_trace_id()
        mlflow.flush_trace_async_logging()
        mlflow.log_feedback(trace_id=ids["rag"], name="helpful", value=True, source=HUMAN)
        mlflow.log_feedback(trace_id=ids["rag"], name="score", value=0.9, source=HUMAN)
        mlflow.log_feedback(trace_id=ids["failing"], name="helpful", value=False, source=HUMAN)
        mlflow.log_feedback(trace_id=ids["failing"], name="score", value=0.2, source=HUMAN)
        mlflow.log_feedback(trace_id=ids["tool"], name="tone", value="friendly", source=HUMAN)
        mlflow.log_expectation(trace_id=ids["rag"], name="answer", value="42", source=HUMAN)
        mlflow.log_expectation(trace_id=ids["tool"], name="answer", value={"city": "Paris"}, source=HUMAN)
        return experiment_id, ids
    finally:
        mlflow.set_tracking_uri(previous)


# ---------------------------------------------------------------- filters on the trace

TRACE_FILTERS = [
    ("trace.status = 'ERROR'", lambda t: t.state == "ERROR"),
    ("attributes.status != 'OK'", lambda t: t.state != "OK"),
    ("status IN ('OK', 'IN_PROGRESS')", lambda t: t.state in ("OK", "IN_PROGRESS")),
    ("trace.status NOT IN ('OK')", lambda t: t.state != "OK"),
    ("trace.status LIKE 'IN_%'", lambda t: t.state.startswith("IN_")),
    ("trace.status ILIKE 'error'", lambda t: t.state == "ERROR"),
    ("trace.status RLIKE '^(OK|ERROR)$'", lambda t: t.state in ("OK", "ERROR")),
    (f"trace.timestamp_ms >= {BASE_MS + 3000}", lambda t: t.request_time >= BASE_MS + 3000),
    (f"timestamp < {BASE_MS + 2000}", lambda t: t.request_time < BASE_MS + 2000),
    (f"trace.timestamp_ms = {BASE_MS + 1000}", lambda t: t.request_time == BASE_MS + 1000),
    (f"trace.timestamp_ms != {BASE_MS}", lambda t: t.request_time != BASE_MS),
    ("trace.execution_time_ms > 200", lambda t: t.duration is not None and t.duration > 200),
    ("execution_time <= 111", lambda t: t.duration is not None and t.duration <= 111),
    (f"trace.end_time_ms > {BASE_MS + 4300}", lambda t: t.end_time > BASE_MS + 4300),
    (f"trace.timestamp_ms > {BASE_MS + 1000} AND trace.timestamp_ms < {BASE_MS + 5000} AND trace.status = 'OK'",
     lambda t: BASE_MS + 1000 < t.request_time < BASE_MS + 5000 and t.state == "OK"),
    ("trace.client_request_id = 'req-4'", lambda t: t.client_request_id == "req-4"),
    ("client_request_id IN ('req-1', 'req-12')", lambda t: t.client_request_id in ("req-1", "req-12")),
    ("trace.name = 'search'", lambda t: t.tags[TRACE_NAME] == "search"),
    ("name != 'chat'", lambda t: t.tags[TRACE_NAME] != "chat"),
    ("trace.name LIKE 'pl%'", lambda t: t.tags[TRACE_NAME].startswith("pl")),
    ("tag.env = 'prod'", lambda t: t.tags.get("env") == "prod"),
    ("tags.env != 'prod'", lambda t: t.tags.get("env") == "dev"),
    ("tag.env LIKE 'p%'", lambda t: t.tags.get("env") == "prod"),
    ("tag.env ILIKE 'DEV'", lambda t: t.tags.get("env") == "dev"),
    ("tag.env RLIKE 'o'", lambda t: t.tags.get("env") == "prod"),
    ("tag.env IS NULL", lambda t: "env" not in t.tags),
    ("tag.env IS NOT NULL", lambda t: "env" in t.tags),
    ("tag.`mlflow.traceName` = 'plan'", lambda t: t.tags[TRACE_NAME] == "plan"),
    ("metadata.user = 'u2'", lambda t: t.metadata["user"] == "u2"),
    ("request_metadata.user != 'u2'", lambda t: t.metadata["user"] != "u2"),
    ("metadata.user LIKE 'u%' AND metadata.user ILIKE 'U3'", lambda t: t.metadata["user"] == "u3"),
    ("metadata.user RLIKE '[01]$'", lambda t: t.metadata["user"] in ("u0", "u1")),
    (f"metadata.{SOURCE_RUN} IS NOT NULL", lambda t: SOURCE_RUN in t.metadata),
    ("metadata.nothing IS NULL", lambda t: True),
    ("tag.env = 'prod' AND trace.status = 'ERROR' AND metadata.user = 'u1'",
     lambda t: t.tags.get("env") == "prod" and t.state == "ERROR" and t.metadata["user"] == "u1"),
]


@pytest.mark.parametrize("filter_string, wanted", TRACE_FILTERS, ids=[f for f, _ in TRACE_FILTERS])
def test_filter_on_trace_attributes_tags_and_metadata(client, seeded, filter_string, wanted):
    expected = [t.trace_id for t in default_order(seeded["traces"]) if wanted(t)]
    assert client_ids(filter_string, experiment_id=seeded["experiment_id"]) == expected


def test_run_id_matches_the_source_run_and_linked_traces(client, seeded, server):
    experiment_id, traces = seeded["experiment_id"], seeded["traces"]
    for run_id in (seeded["source_run"], seeded["linked_run"]):
        expected = [t.trace_id for t in default_order(traces) if run_id in t.runs]
        assert client_ids(f"attribute.run_id = '{run_id}'", experiment_id=experiment_id) == expected
        assert client_ids(f"metadata.`{SOURCE_RUN}` = '{run_id}'", experiment_id=experiment_id) == expected
        assert client_ids(experiment_id=experiment_id, run_id=run_id) == expected
        in_df = mlflow.search_traces(locations=[experiment_id], run_id=run_id, return_type="list",
                                     include_spans=False)
        assert [t.info.trace_id for t in in_df] == expected
    # other comparators read the mlflow.sourceRun metadata alone, as officially: no trace names another
    assert client_ids(f"run_id != '{seeded['source_run']}'", experiment_id=experiment_id) == []


# ---------------------------------------------------------------- spans, text, assessments

SPAN_FILTERS = [
    ("span.name = 'retrieve'", {"rag"}),
    ("span.name != 'agent'", {"rag", "failing", "tool"}),
    ("span.name IN ('tool', 'retrieve')", {"rag", "tool"}),
    ("span.name LIKE 'ret%'", {"rag"}),
    ("span.name RLIKE '^l+m$'", {"rag", "failing"}),
    ("span.type = 'LLM'", {"rag", "failing"}),
    ("span.type IN ('TOOL', 'RETRIEVER')", {"rag", "tool"}),
    ("span.type NOT IN ('CHAIN', 'LLM')", {"rag", "tool"}),
    ("span.status = 'ERROR'", {"failing"}),
    ("span.name = 'llm' AND span.status = 'OK'", {"rag"}),
    ("span.name = 'llm' AND span.type = 'RETRIEVER'", set()),  # both must hold for one span
    ("span.attributes.model = 'gpt-4o'", {"rag"}),
    ("span.attributes.model LIKE 'claude%'", {"failing"}),
    ("span.attributes.model LIKE '%claude%'", {"failing"}),  # the form the official server matches
    ("span.attributes.model ILIKE 'GPT%'", {"rag"}),
    ("span.attributes.model RLIKE '^gpt-[0-9]o$'", {"rag"}),
    ("span.attributes.model IN ('claude-3', 'gemini')", {"failing"}),
    # RLIKE searches the attribute's own value: not the span's later attributes or events
    ("span.attributes.model RLIKE 'gpt|claude'", {"rag", "failing"}),
    ("span.attributes.model RLIKE 'limited$'", set()),  # the failing span's exception message
    ("span.attributes.index RLIKE 'docs'", {"rag"}),
    ("span.attributes.index RLIKE 'zzz|mlflow'", set()),  # the retrieve span's inputs, after index
    ("span.attributes.model RLIKE '[(?]|4o$'", {"rag"}),
    ("span.attributes.top_k = '3'", {"rag"}),
    ("span.attributes.`mlflow.spanType` = 'TOOL'", {"tool"}),
    ("span.attributes.model = 'gpt-4o' AND span.type = 'LLM'", {"rag"}),
    ("trace.text LIKE '%Paris%'", {"tool"}),
    ("trace.text ILIKE '%paris%'", {"tool"}),
    ("text LIKE '%weather%'", {"tool"}),  # unprefixed (the official parser refuses this one)
    ("span.content LIKE '%rate limited%'", {"failing"}),
    ("feedback.helpful = 'true'", {"rag"}),
    ("feedback.helpful != 'true'", {"failing"}),
    ("feedback.score > 0.5", {"rag"}),
    ("feedback.score <= 0.5", {"failing"}),
    ("feedback.score >= 0.2 AND feedback.score < 1", {"rag", "failing"}),
    ("feedback.tone = 'friendly'", {"tool"}),
    ("feedback.tone LIKE '%friend%'", {"tool"}),
    ("feedback.score IS NULL", {"tool"}),
    ("feedback.score IS NOT NULL", {"rag", "failing"}),
    ("expectation.answer = '42'", {"rag"}),
    ("expectation.answer LIKE '%Paris%'", {"tool"}),
    ("expectation.answer IS NOT NULL AND feedback.helpful = 'true'", {"rag"}),
]


@pytest.mark.parametrize("filter_string, names", SPAN_FILTERS, ids=[f for f, _ in SPAN_FILTERS])
def test_filter_on_spans_text_and_assessments(client, traced, filter_string, names):
    experiment_id, ids = traced
    assert set(client_ids(filter_string, experiment_id=experiment_id)) == {ids[name] for name in names}


def test_search_traces_returns_spans_and_assessments(client, traced):
    experiment_id, ids = traced
    found = mlflow.search_traces(locations=[experiment_id], filter_string="span.type = 'RETRIEVER'",
                                 return_type="list")
    assert [t.info.trace_id for t in found] == [ids["rag"]]
    assert {s.name for s in found[0].data.spans} == {"agent", "retrieve", "llm"}
    assert {a.name: a.value for a in found[0].info.assessments} == {"helpful": True, "score": 0.9, "answer": "42"}
    frame = mlflow.search_traces(locations=[experiment_id], filter_string="feedback.helpful = 'false'")
    assert list(frame["trace_id"]) == [ids["failing"]]


def test_an_overridden_feedback_no_longer_matches(client, server):
    mlflow.set_experiment(unique("override"))

    @mlflow.trace
    def work():
        return 1
    work()
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    original = mlflow.log_feedback(trace_id=trace_id, name="correct", value=False, source=HUMAN)
    experiment_id = mlflow.get_trace(trace_id).info.experiment_id
    assert client_ids("feedback.correct = 'false'", experiment_id=experiment_id) == [trace_id]
    mlflow.override_feedback(trace_id=trace_id, assessment_id=original.assessment_id, value=True,
                             rationale="checked again", source=HUMAN)
    assert client_ids("feedback.correct = 'false'", experiment_id=experiment_id) == []
    assert client_ids("feedback.correct = 'true'", experiment_id=experiment_id) == [trace_id]


def test_filter_on_linked_prompts_and_issues(server):
    """prompt = 'name/version' finds the traces linked to that prompt version; issue.id those
    with a reference to that issue."""
    experiment_id = raw_experiment(http_api(server), unique("links"))
    first, second = (start_trace(server, experiment_id, BASE_MS + i) for i in range(2))
    for trace_id, versions in ((first, [("qa", "1"), ("summary", "3")]), (second, [("qa", "2")])):
        assert_ok(requests.post(f"{server.url}/api/2.0/mlflow/traces/link-prompts", timeout=30, json={
            "trace_id": trace_id, "prompt_versions": [{"name": n, "version": v} for n, v in versions]}))
    assert found_ids(server, experiment_id, "prompt = 'qa/1'") == [first]
    assert found_ids(server, experiment_id, "trace.prompt = 'qa/2'") == [second]
    assert found_ids(server, experiment_id, "prompt = 'summary/3'") == [first]
    assert found_ids(server, experiment_id, "prompt = 'qa/3'") == []
    issue = {"assessment": {"assessment_name": "iss-7", "trace_id": second, "issue": {"issue_name": "Slow answers"},
                            "source": {"source_type": "CODE", "source_id": "detector"}}}
    assert_ok(requests.post(f"{server.url}/api/3.0/mlflow/traces/{second}/assessments", json=issue, timeout=30))
    assert found_ids(server, experiment_id, "issue.id = 'iss-7'") == [second]
    assert found_ids(server, experiment_id, "issue.id = 'iss-8'") == []


# ---------------------------------------------------------------- order

def _sorted(traces, value, ascending: bool) -> list[str]:
    """Traces without the value last either way, then newest first, then by trace id."""
    ordered = default_order(traces)
    present = [t for t in ordered if value(t) is not None]
    missing = [t for t in ordered if value(t) is None]
    present.sort(key=value, reverse=not ascending)  # stable: ties keep the default order
    return [t.trace_id for t in present + missing]


ORDER_KEYS = [
    ("timestamp_ms", lambda t: t.request_time),
    ("trace.timestamp", lambda t: t.request_time),
    ("execution_time_ms", lambda t: t.duration),
    ("end_time_ms", lambda t: t.end_time),
    ("status", lambda t: t.state),
    ("request_id", lambda t: t.trace_id),
    ("name", lambda t: t.tags[TRACE_NAME]),
    ("run_id", lambda t: t.metadata.get(SOURCE_RUN)),
    ("experiment_id", lambda t: 0),
    ("tag.env", lambda t: t.tags.get("env")),
    ("metadata.user", lambda t: t.metadata["user"]),
]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("key, value", ORDER_KEYS, ids=[k for k, _ in ORDER_KEYS])
def test_order_by_each_key(client, seeded, key, value, direction):
    traces = seeded["traces"]
    expected = _sorted(traces, value, direction == "ASC")
    if key in ("timestamp_ms", "trace.timestamp"):  # ties then go by trace id
        expected = [t.trace_id for t in sorted(traces, key=lambda t: (t.request_time if direction == "ASC"
                                                                        else -t.request_time, t.trace_id))]
    if key == "request_id":
        expected = sorted((t.trace_id for t in traces), reverse=direction == "DESC")
    assert client_ids(order_by=[f"{key} {direction}"], experiment_id=seeded["experiment_id"]) == expected
    if direction == "ASC":  # ASC is the default direction
        assert client_ids(order_by=[key], experiment_id=seeded["experiment_id"]) == expected


def test_order_by_two_keys(client, seeded):
    """tag.env DESC (traces without it last), then status, then the default order."""
    ordered = sorted(default_order(seeded["traces"]), key=lambda t: t.state)
    present = sorted((t for t in ordered if "env" in t.tags), key=lambda t: t.tags["env"], reverse=True)
    expected = [t.trace_id for t in present + [t for t in ordered if "env" not in t.tags]]
    assert client_ids(order_by=["tag.env DESC", "status"], experiment_id=seeded["experiment_id"]) == expected


# ---------------------------------------------------------------- paging

@pytest.mark.parametrize("order_by", [None, ["timestamp_ms ASC"], ["execution_time_ms DESC"], ["tag.env"],
                                      ["metadata.user DESC", "status"]])
@pytest.mark.parametrize("page_size", [1, 3, 5])
def test_paging_visits_every_trace_once(client, seeded, order_by, page_size):
    experiment_id = seeded["experiment_id"]
    everything = client_ids(order_by=order_by, experiment_id=experiment_id)
    assert len(everything) == len(seeded["traces"])
    mlflow_client, paged, token = mlflow.MlflowClient(), [], None
    for _ in range(len(everything) + 2):
        page = mlflow_client.search_traces(locations=[experiment_id], order_by=order_by, max_results=page_size,
                                    page_token=token, include_spans=False)
        assert len(page) <= page_size
        paged += [t.info.trace_id for t in page]
        token = page.token
        if not token:
            break
    assert paged == everything


def test_paging_a_filtered_search_through_ties_with_raw_http(server):
    """Several traces at one millisecond, cut between pages: none twice, none missing."""
    experiment_id = raw_experiment(http_api(server), unique("ties"))
    start_trace(server, experiment_id, BASE_MS + 50_000, tags={"batch": "other"})
    tied = [start_trace(server, experiment_id, BASE_MS + 50_000, tags={"batch": "tied"}) for _ in range(7)]
    paged, token = [], None
    while True:
        body = assert_ok(search(server, [experiment_id], "tag.batch = 'tied'", max_results=2, page_token=token))
        paged += [t["trace_id"] for t in body.get("traces", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert paged == sorted(tied)


def test_page_token_of_another_search_is_refused(server, seeded):
    experiment_id = seeded["experiment_id"]
    body = assert_ok(search(server, [experiment_id], "trace.status = 'OK'", max_results=2))
    other = search(server, [experiment_id], "trace.status = 'ERROR'", max_results=2, page_token=body["next_page_token"])
    assert "page token" in assert_error(other, 400, "INVALID_PARAMETER_VALUE")["message"]
    assert_error(search(server, [experiment_id], page_token="not-a-token"), 400, "INVALID_PARAMETER_VALUE")


def test_max_results_bounds(server, seeded):
    experiment_id = seeded["experiment_id"]
    assert len(assert_ok(search(server, [experiment_id]))["traces"]) == len(seeded["traces"])  # default 100
    assert_ok(search(server, [experiment_id], max_results=500))
    for bad in (0, 501, -1):
        assert_error(search(server, [experiment_id], max_results=bad), 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- scope

def test_search_spans_experiments_and_hides_deleted_ones(client, server, seeded):
    api = http_api(server)
    other = raw_experiment(api, unique("other"))
    newest = start_trace(server, other, BASE_MS + 10_000_000)
    seeded_ids = found_ids(server, seeded["experiment_id"])
    assert client_ids(experiment_id=seeded["experiment_id"]) == seeded_ids
    body = assert_ok(search(server, [other, seeded["experiment_id"]], max_results=500))
    assert [t["trace_id"] for t in body["traces"]] == [newest, *seeded_ids]
    for order_by in (None, ["timestamp_ms ASC", "request_id DESC"]):  # pages over both, ties included
        everything = [t["trace_id"] for t in assert_ok(search(server, [other, seeded["experiment_id"]], None,
                                                              order_by, 500))["traces"]]
        paged, token = [], None
        while True:
            page = assert_ok(search(server, [other, seeded["experiment_id"]], None, order_by, 3, token))
            paged += [t["trace_id"] for t in page["traces"]]
            if not (token := page.get("next_page_token")):
                break
        assert paged == everything and len(everything) == len(seeded_ids) + 1
    assert_ok(api.post("experiments/delete", json={"experiment_id": other}))
    assert assert_ok(search(server, [other])) == {}
    assert found_ids(server, "123456789") == []  # no such experiment: nothing, as officially
    assert_error(search(server, []), 400, "INVALID_PARAMETER_VALUE")
    assert_error(search(server, ["abc"]), 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- errors

BAD_FILTERS = [
    ("trace.bogus = 'x'", "Invalid attribute key 'bogus'"),
    ("foo.bar = 'x'", "entity type 'foo'"),
    ("trace.status = 5", "numeric values"),
    ("trace.timestamp_ms = 'soon'", "numeric value"),
    ("trace.timestamp_ms LIKE '1%'", "Invalid comparator 'LIKE'"),
    ("trace.status IS NULL", "Invalid comparator 'IS NULL'"),
    ("trace.status > 'A'", "Invalid comparator '>'"),
    ("tag.env IN ('a')", "Invalid comparator 'IN'"),
    ("tag.env = 3", "quoted string"),
    ("metadata.user > 'a'", "Invalid comparator '>'"),
    ("span.foo = 'x'", "Invalid span attribute 'foo'"),
    ("span.content = 'x'", "Invalid comparator '='"),
    ("span.name IS NULL", "Invalid comparator 'IS NULL'"),
    ("span.attributes. = 'x'", "cannot be empty"),
    ("feedback.score > 'high'", "numeric value"),
    ("feedback.score = 0.5", "quoted string"),
    ("feedback.score IN ('a')", "Invalid comparator 'IN'"),
    ("issue.title = 'x'", "Invalid issue attribute"),
    ("prompt = 'no-version'", "name/version"),
    ("prompt LIKE 'a/1'", "Invalid comparator 'LIKE'"),
    ("trace.status = 'OK' OR trace.status = 'ERROR'", "AND"),
    ("trace.status = 'OK", "quote"),
    ("tag.env RLIKE '('", "regular expression"),
    ("tag.env RLIKE '(?i)PROD'", "'(?' other than '(?:'"),
    ("span.attributes.model RLIKE '(?i)GPT'", "'(?' other than '(?:'"),
    ("span.attributes.model RLIKE '(?P<a>gpt)'", "'(?' other than '(?:'"),
    ("metadata.`mlflow.trace.tokenUsage` LIKE '%input%'", "reserved metadata"),
    ("trace.status", "comparator"),
]


@pytest.mark.parametrize("filter_string, message", BAD_FILTERS, ids=[f for f, _ in BAD_FILTERS])
def test_invalid_filters_are_refused(server, seeded, filter_string, message):
    error = assert_error(search(server, [seeded["experiment_id"]], filter_string), 400, "INVALID_PARAMETER_VALUE")
    assert message in error["message"]


ODD_FILTERS = [
    "trace.timestamp_ms > 1e400", "trace.timestamp_ms < 99999999999999999999", "trace.execution_time_ms >= -1e30",
    "feedback.score > 1e400", "feedback.score < -1e400", "feedback.score >= 99999999999999999999",
    "trace.timestamp_ms > 1.5", "span.attributes.n = '99999999999999999999'", "tag.`a%_\\` LIKE '%\\%'",
    "metadata.user = 'é€😀'", "span.attributes.`k\"q` = 'v\"'",
    # regular expressions Python accepts that a database may read differently or refuse
    "tag.env RLIKE 'a{,3}'", "span.attributes.model RLIKE '\\Z'", "tag.env RLIKE '[[:alpha:]]'",
    "span.attributes.model RLIKE '(?:gpt)\\b'",
]


@pytest.mark.parametrize("filter_string", ODD_FILTERS)
def test_odd_values_get_an_answer_or_a_400_never_a_500(server, seeded, filter_string):
    resp = search(server, [seeded["experiment_id"]], filter_string)
    if resp.status_code != 200:
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


BAD_ORDERS = [
    (["span.name"], "order_by"),
    (["feedback.score"], "order_by"),
    (["text"], "Invalid attribute key 'text'"),
    (["bogus DESC"], "Invalid attribute key 'bogus'"),
    (["timestamp_ms sideways"], "ASC or DESC"),
    (["timestamp_ms", "timestamp DESC"], "duplicate"),
    (["tag.env", "tags.env"], "duplicate"),
    (["metadata.`mlflow.trace.cost`"], "reserved metadata"),
]


@pytest.mark.parametrize("order_by, message", BAD_ORDERS, ids=[" ".join(o) for o, _ in BAD_ORDERS])
def test_invalid_order_by_is_refused(server, seeded, order_by, message):
    error = assert_error(search(server, [seeded["experiment_id"]], order_by=order_by), 400, "INVALID_PARAMETER_VALUE")
    assert message in error["message"]


def test_the_client_shows_the_servers_message(client, seeded):
    with pytest.raises(mlflow.exceptions.MlflowException, match="Invalid attribute key 'bogus'"):
        mlflow.search_traces(locations=[seeded["experiment_id"]], filter_string="trace.bogus = 'x'")


# ---------------------------------------------------------------- the 2.x client's route

def test_v2_search_route(server, seeded):
    experiment_id = seeded["experiment_id"]
    traces = seeded["traces"]
    wanted = [t for t in default_order(traces) if t.state == "ERROR"]
    resp = requests.get(f"{server.url}/api/2.0/mlflow/traces", timeout=30,
                        params={"experiment_ids": experiment_id, "filter": "trace.status = 'ERROR'",
                                "max_results": 2})
    body = assert_ok(resp)
    assert [t["request_id"] for t in body["traces"]] == [t.trace_id for t in wanted[:2]]
    first, model = body["traces"][0], wanted[0]
    assert first["experiment_id"] == experiment_id and first["status"] == "ERROR"
    assert first["timestamp_ms"] == model.request_time and first["execution_time_ms"] == model.duration
    assert {m["key"]: m["value"] for m in first["request_metadata"]}.items() >= model.metadata.items()
    assert {m["key"]: m["value"] for m in first["tags"]}.items() >= model.tags.items()
    rest = assert_ok(requests.get(f"{server.url}/api/2.0/mlflow/traces", timeout=30, params={
        "experiment_ids": experiment_id, "filter": "trace.status = 'ERROR'", "page_token": body["next_page_token"]}))
    assert [t["request_id"] for t in rest["traces"]] == [t.trace_id for t in wanted[2:]]
    assert "next_page_token" not in rest
    ordered = assert_ok(requests.get(f"{server.url}/api/2.0/mlflow/traces", timeout=30, params={
        "experiment_ids": experiment_id, "order_by": ["timestamp_ms ASC", "request_id DESC"], "max_results": 500}))
    assert [t["request_id"] for t in ordered["traces"]][:2] == sorted((t.trace_id for t in traces[:2]), reverse=True)
    assert_error(requests.get(f"{server.url}/api/2.0/mlflow/traces", timeout=30), 400, "INVALID_PARAMETER_VALUE")
    assert_error(requests.get(f"{server.url}/api/2.0/mlflow/traces", timeout=30,
                              params={"experiment_ids": experiment_id, "filter": "tag.env >= 'a'"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_the_2x_client_searches_with_filter_order_and_pages(server, seeded, tmp_path):
    """mlflow 2.22's REST store (GET /api/2.0/mlflow/traces): a filter, an order and pages."""
    if not CLIENT2_PYTHON.exists():
        message = f"no mlflow 2.x client in {CLIENT2_PYTHON.parent.parent} (make test installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    script = tmp_path / "search2.py"
    script.write_text('''
import json, sys, mlflow
from mlflow.tracking._tracking_service.utils import _get_store
mlflow.set_tracking_uri(sys.argv[1])
store, found, token = _get_store(), [], None
while True:
    page, token = store.search_traces([sys.argv[2]], "trace.status != 'ERROR' AND tag.env = 'prod'", 2,
                                      ["execution_time_ms DESC"], token)
    found += [(t.request_id, t.status.value) for t in page]
    if not token:
        break
print(json.dumps(found))
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([str(CLIENT2_PYTHON), str(script), server.url, seeded["experiment_id"]],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    wanted = default_order(t for t in seeded["traces"] if t.state != "ERROR" and t.tags.get("env") == "prod")
    timed = sorted((t for t in wanted if t.duration is not None), key=lambda t: t.duration, reverse=True)
    expected = [[t.trace_id, t.state] for t in timed + [t for t in wanted if t.duration is None]]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


# ---------------------------------------------------------------- at scale

def _sqlalchemy_url(uri: str) -> str:
    scheme, rest = uri.split("://", 1)
    return {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg2"}.get(scheme, scheme) + "://" + rest


def test_a_filtered_top_100_among_20000_traces_stays_fast(server):
    """20,000 traces written straight into the database, each with a tag and a span; a filtered
    top 100 and its next page take milliseconds (bound loosely at 1 s), not a scan of them all."""
    api = http_api(server)
    experiment_id = raw_experiment(api, unique("scale"))
    engine = sa.create_engine(_sqlalchemy_url(server.backend_uri))
    metadata = sa.MetaData()
    trace_info, trace_tags, spans = (sa.Table(name, metadata, autoload_with=engine)
                                     for name in ("trace_info", "trace_tags", "spans"))
    count = 20_000
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            ids = [f"tr-{uuid.uuid4().hex}" for _ in range(start, min(count, start + 5000))]
            conn.execute(trace_info.insert(), [
                {"trace_id": t, "experiment_id": int(experiment_id), "request_time": BASE_MS + start + i,
                 "execution_duration": i % 700, "state": "ERROR" if i % 10 == 0 else "OK",
                 "tags_json": '[{"key":"env","value":"%s"}]' % ("prod" if i % 3 else "dev"), "metadata_json": "[]"}
                for i, t in enumerate(ids)])
            conn.execute(trace_tags.insert(), [{"trace_id": t, "key": "env", "value": "prod" if i % 3 else "dev"}
                                               for i, t in enumerate(ids)])
            conn.execute(spans.insert(), [
                {"trace_id": t, "span_id": "AAAAAAAAAAE=", "name": "root", "span_type": "CHAIN", "status": "OK",
                 "start_ns": 1, "end_ns": 2, "content": '{"name":"root","attributes":[]}'} for t in ids])
    engine.dispose()
    query = "trace.status = 'OK' AND tag.env = 'prod' AND span.type = 'CHAIN'"
    assert_ok(search(server, [experiment_id], query))  # warm up
    started = time.perf_counter()
    first = assert_ok(search(server, [experiment_id], query))
    second = assert_ok(search(server, [experiment_id], query, page_token=first["next_page_token"]))
    elapsed = time.perf_counter() - started
    assert len(first["traces"]) == len(second["traces"]) == 100
    times = [datetime.fromisoformat(t["request_time"]) for t in first["traces"] + second["traces"]]
    assert times == sorted(times, reverse=True)
    assert all(t["state"] == "OK" and t["tags"] == {"env": "prod"} for t in first["traces"] + second["traces"])
    assert elapsed < 1.0, f"two pages took {elapsed:.3f} s"
