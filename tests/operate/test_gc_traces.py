"""`python -m app gc` removes the traces of the experiments it deletes (issue 20).

The official client traces into two experiments of a real server (SQLite, PostgreSQL) with
proxied artifacts: spans, a tag, a feedback, a trace linked to a run, and each trace's
traces.json in the artifact store. One experiment is deleted;
gc --older-than leaves it alone, gc removes it with its traces' rows and artifact folder, and the
other experiment's traces are untouched.
"""
from __future__ import annotations

import json
import os

import mlflow
import pytest
import requests
import sqlalchemy as sa
from mlflow.entities import AssessmentSource

from conftest import unique
from operate.gc_support import gc, gc_server

TRACE_TABLES = ("trace_info", "trace_tags", "trace_metadata", "trace_runs", "spans", "assessments")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with gc_server(request.param, tmp_path_factory.mktemp(f"gc-traces-{request.param}")) as srv:
        yield srv


def trace_into(client, experiment_id: str, count: int, run_id: str | None = None) -> list[str]:
    """`count` traces of two spans each through @mlflow.trace, with a tag and a feedback."""
    mlflow.tracing.reset()  # the exporters are made again for this module's server of the backend
    mlflow.set_experiment(experiment_id=experiment_id)

    @mlflow.trace(span_type="CHAIN")
    def answer(question):
        mlflow.update_current_trace(tags={"team": "search"})
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"q": question})
            span.set_outputs(["doc"])
        return question.upper()

    made = []
    for i in range(count):
        answer(f"question {i}")
        made.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()
    mlflow.log_feedback(trace_id=made[0], name="helpful", value=True,
                        source=AssessmentSource(source_type="HUMAN", source_id="ana"))
    if run_id:
        client.link_traces_to_run(made, run_id)
    return made


def upload_trace_data(srv, client, experiment_id: str, trace_id: str) -> str:
    """The trace's traces.json (its spans) where the client puts it when the server does not
    say it keeps them (StartTraceV3 before the spans; 2.x servers): its local folder."""
    path = f"{experiment_id}/traces/{trace_id}/artifacts/traces.json"
    data = json.dumps(client.get_trace(trace_id).data.to_dict())
    answer = requests.put(f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/{path}", data=data, timeout=30)
    assert answer.status_code == 200, answer.text
    return os.path.join(srv.destination, experiment_id, "traces", trace_id)


def rows_naming(srv, trace_ids: list[str]) -> dict[str, int]:
    """{table: rows} of the trace tables' rows that still name any of the traces."""
    scheme, rest = srv.backend_uri.split("://", 1)
    engine = sa.create_engine({"postgresql": "postgresql+psycopg2"}.get(scheme, scheme) + "://" + rest)
    found = {}
    try:
        with engine.connect() as conn:
            for table in TRACE_TABLES:
                count = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE trace_id IN :ids")
                                     .bindparams(sa.bindparam("ids", expanding=True)), {"ids": trace_ids}).scalar()
                if count:
                    found[table] = count
    finally:
        engine.dispose()
    return found


def test_gc_removes_the_traces_of_a_deleted_experiment(client, server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")  # a busy machine's 503 does not lose spans
    kept_exp, gone_exp = client.create_experiment(unique()), client.create_experiment(unique())
    gone_run = client.create_run(gone_exp).info.run_id
    gone = trace_into(client, gone_exp, 2, gone_run)
    kept = trace_into(client, kept_exp, 1)
    folders = {trace_id: upload_trace_data(server, client, gone_exp, trace_id) for trace_id in gone}
    kept_folder = upload_trace_data(server, client, kept_exp, kept[0])
    assert set(rows_naming(server, gone)) >= {"trace_info", "trace_tags", "spans", "assessments", "trace_runs"}
    client.delete_experiment(gone_exp)

    young = gc(server, "--older-than", "1d")  # deleted a moment ago: not old enough
    assert young.returncode == 0, young.stderr
    assert "1 experiment" not in young.stdout and rows_naming(server, gone)["trace_info"] == 2

    dry = gc(server, "--dry-run")
    assert f"Experiment with ID {gone_exp} would be permanently deleted (with 2 traces)." in dry.stdout
    result = gc(server)
    assert result.returncode == 0, result.stderr
    assert f"Experiment with ID {gone_exp} has been permanently deleted." in result.stdout
    assert "1 run, 0 logged models, 1 experiment, 2 traces" in result.stdout
    assert rows_naming(server, gone) == {}
    assert not any(os.path.exists(folder) for folder in folders.values())
    assert not os.path.exists(os.path.join(server.destination, gone_exp))

    trace = client.get_trace(kept[0])  # the other experiment's trace is whole
    assert [span.name for span in trace.data.spans] == ["answer", "retrieve"]
    assert trace.info.tags["team"] == "search" and [a.name for a in trace.info.assessments] == ["helpful"]
    assert os.path.isdir(kept_folder)
