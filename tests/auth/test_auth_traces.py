"""basic-auth and traces: a trace is judged by its experiment, as the official server judges it.
READ on the experiment reads its traces (get, search, batch, assessments); EDIT also writes
them (tags, assessments, new traces, OTLP spans); deleting traces takes MANAGE; a search
naming an experiment the caller may not read is refused. The official client (3.17) traces
with a username and password end to end; OTLP is sent as any OpenTelemetry SDK sends it."""
from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import AssessmentSource
from mlflow.exceptions import MlflowException
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from auth_support import ADMIN, As, assert_error, assert_ok, auth_server, make_user, signed_in  # noqa: F401
from conftest import BACKENDS, unique

V3 = "/api/3.0/mlflow/"


@pytest.fixture(scope="module", params=BACKENDS[:2])
def server(request, tmp_path_factory):
    with auth_server(tmp_path_factory.mktemp(f"auth-traces-{request.param}"), request.param) as server:
        yield server


@pytest.fixture(autouse=True)
def tracking_uri(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    mlflow.set_tracking_uri(server.url)


def denied(call):
    with pytest.raises(MlflowException) as raised:
        call()
    assert raised.value.error_code == "PERMISSION_DENIED", raised.value


def grant(server, user: str, experiment_id: str, permission: str, again: bool = False) -> None:
    """The admin grants the user a permission on the experiment (again: another one instead)."""
    request = {"username": user, "experiment_id": experiment_id, "permission": permission}
    assert_ok(As(server, ADMIN).request("PATCH" if again else "POST",
                                        f"experiments/permissions/{'update' if again else 'create'}", json=request))


def traced(experiment_id: str, question: str) -> str:
    """A trace of two spans by the official client's decorator, as the signed-in user; its id."""
    mlflow.set_experiment(experiment_id=experiment_id)

    @mlflow.trace(span_type="CHAIN")
    def answer(q):
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"q": q})
        return q.upper()

    assert answer(question) == question.upper()
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def trace_ids(server, experiment_id: str) -> list[str]:
    """What the admin finds in the experiment."""
    found = assert_ok(As(server, ADMIN).post(V3 + "traces/search", json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]}))
    return sorted(t["trace_id"] for t in found.get("traces", []))


def otlp_body(name: str) -> tuple[bytes, str]:
    """One finished span as the OpenTelemetry SDK's OTLP/HTTP exporter encodes it, and the id of
    the trace the server makes of it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth-test").start_as_current_span(name):
        pass
    spans = memory.get_finished_spans()
    return encode_spans(spans).SerializeToString(), f"tr-{spans[0].context.trace_id:032x}"


def otlp(server, user: str | None, experiment_id: str | None, body: bytes):
    headers = {"Content-Type": "application/x-protobuf"}
    if experiment_id is not None:
        headers["x-mlflow-experiment-id"] = experiment_id
    return As(server, user).post("/v1/traces", data=body, headers=headers)


@pytest.fixture
def alices_trace(server, signed_in):
    """An experiment alice created (she manages it), a trace in it from her decorated function,
    and bob, who holds the default READ on it."""
    alice, bob = make_user(server), make_user(server)
    signed_in(alice)
    experiment_id = mlflow.create_experiment(unique())
    trace_id = traced(experiment_id, "hello")
    return alice, bob, experiment_id, trace_id


def test_the_official_client_traces_as_a_permitted_user(server, signed_in, alices_trace):
    alice, _, experiment_id, trace_id = alices_trace
    client = mlflow.MlflowClient()
    trace = client.get_trace(trace_id)
    assert trace.info.experiment_id == experiment_id
    assert sorted(s.name for s in trace.data.spans) == ["answer", "retrieve"]
    found = client.search_traces(locations=[experiment_id], filter_string="trace.status = 'OK'")
    assert [t.info.trace_id for t in found] == [trace_id]
    client.set_trace_tag(trace_id, "env", "prod")
    feedback = mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True, rationale="to the point",
                                   source=AssessmentSource(source_type="HUMAN", source_id=alice))
    assert {a.name for a in client.get_trace(trace_id).info.assessments} == {"helpful"}
    mlflow.delete_assessment(trace_id, feedback.assessment_id)
    assert client.delete_traces(experiment_id, trace_ids=[trace_id]) == 1
    assert trace_ids(server, experiment_id) == []


def test_a_reader_reads_traces_and_changes_nothing(server, signed_in, alices_trace):
    alice, bob, experiment_id, trace_id = alices_trace
    feedback = mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True)  # by alice
    client = mlflow.MlflowClient()

    signed_in(bob)
    assert client.get_trace(trace_id).info.trace_id == trace_id
    assert [t.info.trace_id for t in client.search_traces(locations=[experiment_id])] == [trace_id]
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).value is True
    bobs = As(server, bob)
    batch = assert_ok(bobs.get(V3 + "traces/batchGet", params={"trace_ids": [trace_id]}))
    assert [t["trace_info"]["trace_id"] for t in batch["traces"]] == [trace_id]
    denied(lambda: client.set_trace_tag(trace_id, "by", "bob"))
    denied(lambda: client.delete_trace_tag(trace_id, "mlflow.traceName"))
    denied(lambda: mlflow.log_feedback(trace_id=trace_id, name="bob-says", value=False))
    denied(lambda: mlflow.log_expectation(trace_id=trace_id, name="expected", value="HELLO"))
    denied(lambda: mlflow.override_feedback(trace_id=trace_id, assessment_id=feedback.assessment_id, value=False))
    denied(lambda: mlflow.delete_assessment(trace_id, feedback.assessment_id))
    denied(lambda: client.delete_traces(experiment_id, trace_ids=[trace_id]))
    assert_error(bobs.post(V3 + "traces", json={"trace": {"trace_info": {
        "trace_id": "tr-" + "b0b" * 10 + "00", "request_time": "2026-12-07T14:24:12.185Z", "state": "OK",
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}}}}),
        403, "PERMISSION_DENIED")
    # the 2.x client's start and end
    assert_error(bobs.post("traces", json={"experiment_id": experiment_id, "timestamp_ms": 1}), 403,
                 "PERMISSION_DENIED")
    assert_error(bobs.request("PATCH", f"traces/{trace_id}", json={"timestamp_ms": 2, "status": "ERROR"}), 403,
                 "PERMISSION_DENIED")

    signed_in(alice)  # nothing of bob's landed
    trace = client.get_trace(trace_id)
    assert "by" not in trace.info.tags and [a.name for a in trace.info.assessments] == ["helpful"]
    assert trace_ids(server, experiment_id) == [trace_id]


def test_edit_writes_traces_and_manage_deletes_them(server, signed_in, alices_trace):
    alice, bob, experiment_id, trace_id = alices_trace
    grant(server, bob, experiment_id, "EDIT")
    client = mlflow.MlflowClient()

    signed_in(bob)
    client.set_trace_tag(trace_id, "reviewed-by", "bob")
    client.delete_trace_tag(trace_id, "reviewed-by")
    client.set_trace_tag(trace_id, "env", "prod")
    feedback = mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True)
    mlflow.log_expectation(trace_id=trace_id, name="expected", value="HELLO")
    mlflow.override_feedback(trace_id=trace_id, assessment_id=feedback.assessment_id, value=False,
                             rationale="on second thought")
    bobs_trace = traced(experiment_id, "from bob")  # a new trace in alice's experiment
    trace = client.get_trace(trace_id)
    assert trace.info.tags["env"] == "prod"
    assert sorted(a.name for a in trace.info.assessments if a.valid is not False) == ["expected", "helpful"]
    denied(lambda: client.delete_traces(experiment_id, trace_ids=[trace_id]))  # deleting takes MANAGE

    grant(server, bob, experiment_id, "MANAGE", again=True)
    assert client.delete_traces(experiment_id, trace_ids=[trace_id, bobs_trace]) == 2
    assert trace_ids(server, experiment_id) == []


def test_no_permissions_refuses_every_trace_route(server, signed_in, alices_trace):
    alice, bob, experiment_id, trace_id = alices_trace
    feedback = mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True)
    grant(server, bob, experiment_id, "NO_PERMISSIONS")
    client = mlflow.MlflowClient()

    signed_in(bob)
    bobs_run = client.create_run(client.create_experiment(unique())).info.run_id
    denied(lambda: client.get_trace(trace_id))
    denied(lambda: client.set_trace_tag(trace_id, "by", "bob"))
    denied(lambda: mlflow.log_feedback(trace_id=trace_id, name="bob-says", value=False))
    denied(lambda: client.delete_traces(experiment_id, trace_ids=[trace_id]))
    denied(lambda: client.search_traces(locations=[experiment_id]))
    bobs = As(server, bob)
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    for method, path, kw in [
        ("GET", V3 + f"traces/{trace_id}", {}),
        ("GET", V3 + "traces/get", {"params": {"trace_id": trace_id}}),
        ("GET", V3 + "traces/batchGet", {"params": {"trace_ids": [trace_id]}}),
        ("GET", V3 + "traces/batchGetInfos", {"params": {"trace_ids": [trace_id]}}),
        ("POST", V3 + "traces/search", {"json": {"locations": [location]}}),
        ("GET", "traces", {"params": {"experiment_ids": [experiment_id]}}),  # the 2.x client's search
        ("GET", f"traces/{trace_id}/info", {}),
        ("GET", "/ajax-api/2.0/mlflow/get-trace-artifact", {"params": {"request_id": trace_id}}),
        ("GET", V3 + f"traces/{trace_id}/assessments/{feedback.assessment_id}", {}),
        ("DELETE", f"traces/{trace_id}/tags", {"params": {"key": "mlflow.traceName"}}),
        ("POST", "traces/link-to-run", {"json": {"trace_ids": [trace_id], "run_id": bobs_run}}),
    ]:
        assert_error(bobs.request(method, path, **kw), 403, "PERMISSION_DENIED")

    signed_in(alice)
    assert client.get_trace(trace_id).info.tags.get("by") is None
    assert [a.name for a in client.get_trace(trace_id).info.assessments] == ["helpful"]


def test_a_search_naming_an_unreadable_experiment_is_refused(server, signed_in, alices_trace):
    alice, bob, experiment_id, trace_id = alices_trace
    secret = mlflow.create_experiment(unique())  # alice's too
    traced(secret, "secret")
    grant(server, bob, secret, "NO_PERMISSIONS")
    client = mlflow.MlflowClient()

    signed_in(bob)
    assert [t.info.trace_id for t in client.search_traces(locations=[experiment_id])] == [trace_id]
    denied(lambda: client.search_traces(locations=[experiment_id, secret]))
    bobs = As(server, bob)
    # as officially: a search that names no experiment is for admins
    assert_error(bobs.post(V3 + "traces/search", json={}), 403, "PERMISSION_DENIED")
    assert_error(bobs.get("traces", params={"experiment_ids": [experiment_id, secret]}), 403,
                 "PERMISSION_DENIED")


def test_a_trace_that_does_not_exist_answers_404_to_a_reader(server, signed_in, alices_trace):
    _, bob, _, _ = alices_trace
    missing = "tr-" + "0" * 32
    assert_error(As(server, bob).get(V3 + f"traces/{missing}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_otlp_export_needs_edit_on_the_experiment_its_header_names(server, signed_in, alices_trace):
    alice, bob, experiment_id, trace_id = alices_trace
    body, otlp_trace = otlp_body("from bob's collector")

    assert_error(otlp(server, None, experiment_id, body), 401, "UNAUTHENTICATED")
    assert_error(otlp(server, bob, experiment_id, body), 403, "PERMISSION_DENIED")  # READ
    assert_error(otlp(server, bob, None, body), 400, "BAD_REQUEST")
    assert trace_ids(server, experiment_id) == [trace_id]  # nothing stored

    grant(server, bob, experiment_id, "EDIT")
    assert otlp(server, bob, experiment_id, body).status_code == 200
    assert trace_ids(server, experiment_id) == sorted([trace_id, otlp_trace])
    signed_in(bob)
    assert [s.name for s in mlflow.MlflowClient().get_trace(otlp_trace).data.spans] == ["from bob's collector"]


def test_a_writer_elsewhere_cannot_take_over_anothers_trace(server, signed_in, alices_trace):
    """Bob may write his own experiment only: neither StartTraceV3 nor OTLP spans naming alice's
    trace move it into his experiment or change it."""
    alice, bob, experiment_id, trace_id = alices_trace
    signed_in(bob)
    bobs_experiment = mlflow.create_experiment(unique())
    bobs = As(server, bob)
    bobs.post(V3 + "traces", json={"trace": {"trace_info": {
        "trace_id": trace_id, "request_time": "2026-12-07T14:24:12.185Z", "state": "ERROR",
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": bobs_experiment}}}}})
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth-test").start_as_current_span("injected"):
        pass
    spans = encode_spans(memory.get_finished_spans())
    spans.resource_spans[0].scope_spans[0].spans[0].trace_id = bytes.fromhex(trace_id[3:])
    otlp(server, bob, bobs_experiment, spans.SerializeToString())

    signed_in(alice)
    trace = mlflow.MlflowClient().get_trace(trace_id)
    assert trace.info.experiment_id == experiment_id and trace.info.state.value == "OK"
    assert sorted(s.name for s in trace.data.spans) == ["answer", "retrieve"]
    assert trace_ids(server, bobs_experiment) == []


def test_a_trace_id_recreated_in_another_experiment_is_judged_by_the_new_one(server, signed_in, alices_trace):
    """Trace ids are the client's: once alice deletes her trace and logs one of the same id in an
    experiment bob may not read, bob's permission comes from that experiment."""
    alice, bob, experiment_id, trace_id = alices_trace
    secret = mlflow.create_experiment(unique())
    grant(server, bob, secret, "NO_PERMISSIONS")
    bobs, alices = As(server, bob), As(server, alice)
    for _ in range(8):  # reaches every worker
        assert_ok(bobs.get(V3 + f"traces/{trace_id}"))
    assert mlflow.MlflowClient().delete_traces(experiment_id, trace_ids=[trace_id]) == 1
    assert_ok(alices.post(V3 + "traces", json={"trace": {"trace_info": {
        "trace_id": trace_id, "request_time": "2026-12-07T14:24:12.185Z", "state": "OK",
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": secret}}}}}))
    for _ in range(8):
        assert_error(bobs.get(V3 + f"traces/{trace_id}"), 403, "PERMISSION_DENIED")
