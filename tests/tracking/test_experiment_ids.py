"""Experiment ids are 64-bit, so a file store's random 18-digit ids survive `db import --from ./mlruns`.

A file store is made by the official client in file-store mode (MLFLOW_TRACKING_URI=file:<dir>,
.venv-test's mlflow): an experiment with a tag and a run. It is imported into a fresh SQLite,
PostgreSQL and MariaDB database, our server started on it, and the official client works in the
imported experiment as in any other: read by id and name, searched, runs, metrics, tags,
delete/restore, artifacts, logged models, datasets. A new experiment is created after it; ids
beyond 64 bits are not found. Migration 0013 is checked from revision 0012 with data present.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa

from conftest import BACKENDS, ROOT, Server, backend_uri
from server.server_support import APP_PYTHON, app_cli

TOO_BIG = str(2**63)  # one past the largest BIGINT
# Run with the server's interpreter: the schema at revision 0012; prints the SQLAlchemy URL.
AT_0012 = """
import sys
from alembic import command
from app.config import resolve
from app.options import Settings
from app.store.db import _alembic_config, make_engine
engine = make_engine(resolve(Settings(backend_store_uri=sys.argv[1])).backend_store_uri)
with engine.begin() as conn:
    command.upgrade(_alembic_config(engine, conn), "0012")
print(engine.url.render_as_string(hide_password=False))
"""
MADE_IN_FILE_STORE = """
import mlflow
experiment_id = mlflow.create_experiment("moved-in", tags={"team": "vision"})
with mlflow.start_run(experiment_id=experiment_id, run_name="before") as run:
    mlflow.log_param("lr", "0.1")
    mlflow.log_metric("loss", 0.5, step=1)
print(experiment_id, run.info.run_id)
"""


@pytest.fixture(scope="module", params=BACKENDS)
def imported(request, tmp_path_factory):
    """Our server on a fresh database of the kind into which a file store, made by the official
    client (its own one per backend: the runs logged here write artifacts into it), was imported;
    with the file store's experiment_id and run_id, and the backend_uri."""
    tmp = tmp_path_factory.mktemp(f"imported-{request.param}")
    store = tmp / "mlruns"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    made = subprocess.run([sys.executable, "-c", MADE_IN_FILE_STORE], capture_output=True, text=True, timeout=300,
                          env={**env, "MLFLOW_TRACKING_URI": store.as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"})
    assert made.returncode == 0, made.stderr[-3000:]
    experiment_id, run_id = made.stdout.split()
    assert len(experiment_id) >= 18 and int(experiment_id) >= 2**31
    uri, cleanup = backend_uri(request.param, tmp)
    try:
        done = app_cli(["db", "import", "--from", str(store), "--backend-store-uri", uri], timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        server = Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")},
                        tmp)
        server.experiment_id, server.run_id, server.backend_uri = experiment_id, run_id, uri
        try:
            yield server.wait_ready()
        finally:
            server.stop()
    finally:
        cleanup()


@pytest.fixture
def client(imported, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", imported.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(imported.url)
    yield mlflow.MlflowClient(imported.url)
    if mlflow.active_run():
        mlflow.end_run()


def api(server, path: str, **body) -> requests.Response:
    return requests.post(f"{server.url}/api/2.0/mlflow/{path}", json=body, timeout=30)


def test_the_imported_experiment_keeps_its_id(imported, client):
    experiment_id, run_id = imported.experiment_id, imported.run_id
    experiment = client.get_experiment(experiment_id)
    assert (experiment.experiment_id, experiment.name, experiment.tags["team"]) == (experiment_id, "moved-in", "vision")
    assert client.get_experiment_by_name("moved-in").experiment_id == experiment_id
    found = client.search_experiments(filter_string="name = 'moved-in'")
    assert [e.experiment_id for e in found] == [experiment_id]
    run = client.get_run(run_id)
    assert (run.info.experiment_id, run.data.params, run.data.metrics) == (experiment_id, {"lr": "0.1"}, {"loss": 0.5})


def test_runs_metrics_and_searches_in_it(imported, client):
    experiment_id, old_run = imported.experiment_id, imported.run_id
    run = client.create_run(experiment_id, run_name="after")
    assert run.info.experiment_id == experiment_id
    for step, loss in enumerate([0.9, 0.3, 0.1]):
        client.log_metric(run.info.run_id, "loss", loss, step=step)
    client.set_tag(run.info.run_id, "kind", "new")
    client.set_terminated(run.info.run_id)
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [0.9, 0.3, 0.1]
    ordered = client.search_runs([experiment_id], filter_string="metrics.loss < 1", order_by=["metrics.loss ASC"])
    assert [r.info.run_id for r in ordered] == [run.info.run_id, old_run]
    tagged = client.search_runs([experiment_id], filter_string="tags.kind = 'new'")
    assert [(r.info.run_id, r.info.experiment_id) for r in tagged] == [(run.info.run_id, experiment_id)]


def test_tags_delete_and_restore(imported, client):
    experiment_id = imported.experiment_id
    client.set_experiment_tag(experiment_id, "stage", "moved")
    assert client.get_experiment(experiment_id).tags["stage"] == "moved"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    from mlflow.entities import ViewType
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string="name = 'moved-in'")
    assert [e.experiment_id for e in deleted] == [experiment_id]
    gc = ["gc", "--dry-run", "--backend-store-uri", imported.backend_uri, "--experiment-ids"]
    listed = app_cli([*gc, experiment_id])  # gc finds it, and not an id past 64 bits
    assert listed.returncode == 0 and experiment_id in listed.stdout, listed.stderr
    refused = app_cli([*gc, f"{experiment_id},{TOO_BIG}"])
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"Experiment '{TOO_BIG}' does not exist" in refused.stderr
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_artifacts_logged_models_and_datasets(imported, client, tmp_path):
    import mlflow
    import pandas as pd
    experiment_id = imported.experiment_id
    (tmp_path / "notes.txt").write_text("hello")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train-set"), context="training")
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["notes.txt"]
    downloaded = client.download_artifacts(run.info.run_id, "notes.txt", str(tmp_path / "back"))
    assert open(downloaded).read() == "hello"
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train-set"]
    summaries = api(imported, "experiments/search-datasets", experiment_ids=[experiment_id]).json()
    assert [(s["experiment_id"], s["name"]) for s in summaries["dataset_summaries"]] == [(experiment_id, "train-set")]

    model = client.create_logged_model(experiment_id, name="clf")
    assert client.get_logged_model(model.model_id).experiment_id == experiment_id
    found = client.search_logged_models([experiment_id])
    assert [m.model_id for m in found] == [model.model_id]


def test_a_new_experiment_after_the_import(imported, client):
    imported_id = imported.experiment_id
    new_id = client.create_experiment("created-after")
    assert new_id != imported_id and int(new_id) > 0
    assert client.get_experiment(new_id).name == "created-after"
    run = client.create_run(new_id)
    assert client.get_run(run.info.run_id).info.experiment_id == new_id
    assert client.search_experiments(filter_string="name = 'created-after'")[0].experiment_id == new_id


@pytest.mark.parametrize("experiment_id", [TOO_BIG, "9" * 30])
def test_ids_beyond_64_bits_are_not_found(imported, experiment_id):
    for path, body in (("runs/create", {"experiment_id": experiment_id}),
                       ("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"}),
                       ("logged-models", {"experiment_id": experiment_id, "name": "m"})):
        answer = api(imported, path, **body)
        assert (answer.status_code, answer.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), path
    got = requests.get(f"{imported.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id},
                       timeout=30)
    assert (got.status_code, got.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert api(imported, "runs/search", experiment_ids=[experiment_id]).json().get("runs", []) == []
    assert api(imported, "logged-models/search", experiment_ids=[experiment_id]).json().get("models", []) == []
    found = api(imported, "experiments/search", filter=f"attribute.experiment_id = '{experiment_id}'")
    assert (found.status_code, found.json().get("experiments", [])) == (200, [])


@pytest.mark.parametrize("kind", BACKENDS)
def test_upgrade_from_0012_widens_the_ids_and_keeps_the_data(kind, tmp_path, start_server):
    """Revision 0013 on a database holding experiments 0 and 7 with a run, a tag, a latest metric,
    a dataset and a logged model: all still there, the keys still cascade, an 18-digit id fits and
    the next experiment created gets an id after it."""
    uri, cleanup = backend_uri(kind, tmp_path)
    big = 123456789012345678
    try:
        done = subprocess.run([str(APP_PYTHON), "-c", AT_0012, uri], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(done.stdout.strip())

        def insert(conn, table: str, *rows: dict) -> None:
            conn.execute(sa.table(table, *map(sa.column, rows[0])).insert(), list(rows))
        with engine.begin() as conn:
            if kind == "mysql":
                conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
            insert(conn, "experiments", *({"experiment_id": i, "name": f"e{i}", "artifact_location": f"/a/{i}",
                                           "lifecycle_stage": "active", "creation_time": 1, "last_update_time": 1}
                                          for i in (0, 7)))
            insert(conn, "experiment_tags", {"experiment_id": 7, "key": "k", "value": "v"})
            insert(conn, "runs", {"run_uuid": "a" * 32, "experiment_id": 7, "name": "r", "user_id": "u",
                                  "status": "FINISHED", "start_time": 1, "lifecycle_stage": "active",
                                  "artifact_uri": "/a/7/r", "params_json": "[]", "tags_json": "[]"})
            insert(conn, "latest_metrics", {"run_uuid": "a" * 32, "key": "loss", "value": 0.5, "is_nan": False,
                                            "timestamp": 1, "step": 2, "experiment_id": 7,
                                            "metric_json": '{"key": "loss", "value": 0.5, "timestamp": 1, "step": 2}'})
            insert(conn, "datasets", {"dataset_uuid": "d" * 32, "experiment_id": 7, "name": "ds", "digest": "x",
                                      "source_type": "local", "source": "{}"})
            insert(conn, "logged_models", {"model_id": "m-" + "b" * 32, "experiment_id": 7, "name": "m",
                                           "artifact_location": "/a/7/m", "creation_timestamp_ms": 1,
                                           "last_updated_timestamp_ms": 1, "status": "READY",
                                           "lifecycle_stage": "active"})
        upgraded = app_cli(["db", "upgrade", "--backend-store-uri", uri])
        assert upgraded.returncode == 0, upgraded.stderr
        with engine.begin() as conn:
            assert conn.execute(sa.text("select experiment_id from experiments order by 1")).scalars().all() == [0, 7]
            insert(conn, "experiments", {"experiment_id": big, "name": "big", "artifact_location": "/a/big",
                                         "lifecycle_stage": "active", "creation_time": 1, "last_update_time": 1})
            insert(conn, "runs", {"run_uuid": "c" * 32, "experiment_id": big, "name": "r", "user_id": "u",
                                  "status": "FINISHED", "start_time": 1, "lifecycle_stage": "active",
                                  "artifact_uri": "/a/big/r", "params_json": "[]", "tags_json": "[]"})
            if kind == "postgresql":  # as db import sets it after writing experiments
                conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                                     "(SELECT MAX(experiment_id) FROM experiments))")
        engine.dispose()

        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": uri,
                                   "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        old = api(server, "runs/search", experiment_ids=["7"], order_by=["metrics.loss DESC"]).json()["runs"]
        assert [(r["info"]["run_id"], r["data"]["metrics"]) for r in old] == [
            ("a" * 32, [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 2}])]
        assert api(server, "runs/search", experiment_ids=[str(big)]).json()["runs"][0]["info"]["run_id"] == "c" * 32
        created = api(server, "experiments/create", name="next")
        assert created.status_code == 200, created.text
        assert int(created.json()["experiment_id"]) == big + 1
        if kind != "sqlite":  # the recreated keys cascade (SQLite's were not touched)
            with engine.begin() as conn:
                conn.execute(sa.text("delete from experiments where experiment_id in (7, :big)"), {"big": big})
                for table in ("experiment_tags", "runs", "datasets", "logged_models"):
                    assert conn.execute(sa.text(f"select count(*) from {table}")).scalar() == 0, table
            engine.dispose()
    finally:
        cleanup()
