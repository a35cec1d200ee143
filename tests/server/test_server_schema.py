"""Schema versions: `python -m app db upgrade` creates the schema; a database at a revision
this server does not know is refused at start-up with a message naming `db upgrade`."""
from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest
import sqlalchemy as sa

from conftest import BACKENDS, backend_uri, free_port
from server_support import APP_PYTHON, ROOT, app_cli, port_listening, run_sh

EXPECTED_TABLES = {"alembic_version", "experiments", "experiment_tags", "runs", "params", "tags", "metrics",
                   "latest_metrics"}


def sqlalchemy_url(uri: str) -> str:
    if uri.startswith("postgresql://"):
        return uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    if uri.startswith("mysql://"):
        return uri.replace("mysql://", "mysql+pymysql://", 1)
    return uri


def revision(uri: str) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(uri))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select version_num from alembic_version")).fetchall()
        return rows[0][0] if rows else None
    finally:
        engine.dispose()


def tables(uri: str) -> set[str]:
    engine = sa.create_engine(sqlalchemy_url(uri))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def set_revision(db_file, value: str) -> None:
    with sqlite3.connect(db_file) as db:
        db.execute("update alembic_version set version_num = ?", (value,))


@pytest.mark.parametrize("kind", BACKENDS)
def test_db_upgrade_creates_schema_then_server_starts(kind, tmp_path, start_server):
    uri, cleanup = backend_uri(kind, tmp_path)
    try:
        first = app_cli(["db", "upgrade", "--backend-store-uri", uri])
        assert first.returncode == 0, first.stderr
        assert "empty ->" in first.stdout, first.stdout
        head = revision(uri)
        assert head, "no alembic revision recorded"
        assert EXPECTED_TABLES <= tables(uri)
        again = app_cli(["db", "upgrade", "--backend-store-uri", uri])  # idempotent
        assert again.returncode == 0, again.stderr
        assert f"{head} -> {head}" in again.stdout, again.stdout
        assert "traceback" not in (first.stderr + again.stderr).lower()

        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": uri,
                                   "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        assert "upgrading database schema" not in server.log()
        import requests
        assert requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                            timeout=30).json()["experiment"]["name"] == "Default"
        server.stop()
        assert revision(uri) == head
    finally:
        cleanup()


def test_db_upgrade_reads_env_var_and_directory(tmp_path):
    result = app_cli(["db", "upgrade"], env={"MLFLOW_BACKEND_STORE_URI": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert revision(f"sqlite:///{tmp_path / 'data' / 'mlflow.db'}")


def test_db_upgrade_rejects_bad_uri_in_one_line(tmp_path):
    result = app_cli(["db", "upgrade", "--backend-store-uri", "foo://x"])
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "foo" in lines[0], result.stderr


def _start_on(db_file, tmp_path, extra: dict | None = None):
    port = free_port()
    env = {"MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1", "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{db_file}",
           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"), **(extra or {})}
    return port, run_sh(env, cwd=tmp_path, timeout=60)


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("mlflow-server: error:")]


def test_unknown_revision_is_refused_naming_db_upgrade(tmp_path):
    db_file = tmp_path / "old.db"
    assert app_cli(["db", "upgrade", "--backend-store-uri", f"sqlite:///{db_file}"]).returncode == 0
    set_revision(db_file, "old0")

    port, result = _start_on(db_file, tmp_path)
    assert result.returncode != 0
    errors = _error_lines(result)
    assert len(errors) == 1, result.stderr
    assert "db upgrade" in errors[0] and "old0" in errors[0], errors[0]
    assert "traceback" not in result.stderr.lower()
    assert "listening at" not in result.stderr.lower()
    assert not port_listening(port)
    # refusing changed nothing
    with sqlite3.connect(db_file) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [("old0",)]


def test_unknown_revision_with_upgrade_db_fails_cleanly(tmp_path):
    """MLFLOW_UPGRADE_DB=true cannot upgrade from a revision alembic does not know: it must
    still stop with one error line (no traceback) and a non-zero exit."""
    db_file = tmp_path / "old.db"
    assert app_cli(["db", "upgrade", "--backend-store-uri", f"sqlite:///{db_file}"]).returncode == 0
    set_revision(db_file, "old0")
    port, result = _start_on(db_file, tmp_path, {"MLFLOW_UPGRADE_DB": "true"})
    assert result.returncode != 0
    errors = _error_lines(result)
    assert len(errors) == 1 and "old0" in errors[0], result.stderr
    assert "traceback" not in result.stderr.lower(), result.stderr
    assert not port_listening(port)


def test_db_upgrade_command_on_unknown_revision_fails_cleanly(tmp_path):
    db_file = tmp_path / "old.db"
    assert app_cli(["db", "upgrade", "--backend-store-uri", f"sqlite:///{db_file}"]).returncode == 0
    set_revision(db_file, "old0")
    result = app_cli(["db", "upgrade", "--backend-store-uri", f"sqlite:///{db_file}"])
    assert result.returncode != 0
    assert "old0" in result.stderr
    assert "traceback" not in result.stderr.lower(), f"db upgrade printed a traceback:\n{result.stderr}"


def test_foreign_tables_without_revision_are_refused(tmp_path):
    db_file = tmp_path / "foreign.db"
    with sqlite3.connect(db_file) as db:
        db.execute("create table experiments (id integer primary key, name text)")
    port, result = _start_on(db_file, tmp_path, {"MLFLOW_UPGRADE_DB": "true"})
    assert result.returncode != 0
    errors = _error_lines(result)
    assert len(errors) == 1 and "schema version" in errors[0], result.stderr
    assert not port_listening(port)
    with sqlite3.connect(db_file) as db:  # left alone
        assert {r[0] for r in db.execute("select name from sqlite_master where type='table'")} == {"experiments"}


# Run with the server's interpreter: it compares app/store/schema.py with the database.
COMPARE_SCHEMA = """
import sys
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from app.store.db import make_engine
from app.store.schema import metadata
from app.config import resolve
from app.options import Settings

settings = resolve(Settings(backend_store_uri=sys.argv[1]))
with make_engine(settings.backend_store_uri, settings).connect() as conn:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    for difference in compare_metadata(context, metadata):
        if not (difference[0] == "remove_table" and difference[1].name == "alembic_version"):
            print(difference)
"""


@pytest.mark.parametrize("kind", BACKENDS)
def test_migrations_build_the_schema_the_server_declares(kind, tmp_path):
    """The tables, columns, keys and indexes the migrations create are those of
    app/store/schema.py, so that code and database never disagree on any backend."""
    uri, cleanup = backend_uri(kind, tmp_path)
    try:
        result = app_cli(["db", "upgrade", "--backend-store-uri", uri])
        assert result.returncode == 0, result.stderr
        compared = subprocess.run([str(APP_PYTHON), "-c", COMPARE_SCHEMA, uri], cwd=ROOT, capture_output=True,
                                  text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert compared.returncode == 0, compared.stderr
        assert compared.stdout == "", f"schema.py and the migrations differ:\n{compared.stdout}"
    finally:
        cleanup()


UPGRADE_TO = """
import sys
from alembic import command
from app.store.db import _alembic_config, make_engine
engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    command.upgrade(_alembic_config(engine, conn), sys.argv[2])
"""


def _key_values(name: str):
    return sa.table(name, sa.column("run_uuid"), sa.column("key"), sa.column("value"))


@pytest.mark.parametrize("kind", BACKENDS)
def test_upgrade_keeps_params_tags_and_metric_order(kind, tmp_path, start_server):
    """Runs written before revisions 0008 and 0010 (which keep a run's params, tags and latest
    metrics as JSON on the run) and 0009 (latest metrics know their experiment) read back with
    all their params, tags and metrics after the upgrade, in a run read and a search, and sort
    by their metrics."""
    import requests
    uri, cleanup = backend_uri(kind, tmp_path)
    first, second = "a" * 32, "b" * 32
    try:
        done = subprocess.run([str(APP_PYTHON), "-c", UPGRADE_TO, sqlalchemy_url(uri), "0007"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(sqlalchemy_url(uri))
        with engine.begin() as conn:
            conn.execute(sa.text("insert into experiments (experiment_id, name, artifact_location, lifecycle_stage,"
                                 " creation_time, last_update_time) values (7, 'old', '/a', 'active', 1, 1)"))
            conn.execute(sa.text("insert into runs (run_uuid, experiment_id, name, user_id, status, start_time,"
                                 " lifecycle_stage, artifact_uri) values (:id, 7, 'old', 'u', 'FINISHED', 1,"
                                 " 'active', '/a')"), [{"id": first}, {"id": second}])
            conn.execute(_key_values("params").insert(), [{"run_uuid": first, "key": "lr", "value": "0.1"},
                                                          {"run_uuid": first, "key": "q", "value": 'say "hi" ü'}])
            conn.execute(_key_values("tags").insert(), [{"run_uuid": first, "key": "mlflow.runName", "value": "old"},
                                                        {"run_uuid": second, "key": "t", "value": "x"}])
            latest = sa.table("latest_metrics", *map(sa.column, ("run_uuid", "key", "value", "is_nan", "timestamp",
                                                                 "step")))
            conn.execute(latest.insert(), [{"run_uuid": run_id, "key": key, "value": value, "is_nan": is_nan,
                                            "timestamp": 5, "step": 3} for run_id, key, value, is_nan in (
                (first, "loss", 0.5, False), (second, "loss", 0.25, False), (first, "lr", 1 / 3, False),
                (first, "nan", 0.0, True))])
        engine.dispose()

        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_UPGRADE_DB": "true",
                                   "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        base = f"{server.url}/api/2.0/mlflow"
        data = requests.get(f"{base}/runs/get", params={"run_id": first}, timeout=30).json()["run"]["data"]
        assert {p["key"]: p["value"] for p in data["params"]} == {"lr": "0.1", "q": 'say "hi" ü'}
        assert data["tags"] == [{"key": "mlflow.runName", "value": "old"}]
        found = requests.post(f"{base}/runs/search", json={"experiment_ids": ["7"], "filter": "tags.t = 'x'"},
                              timeout=30).json()["runs"]
        assert [(r["info"]["run_id"], r["data"].get("params"), r["data"]["tags"]) for r in found] == \
            [(second, None, [{"key": "t", "value": "x"}])]
        for order, expected in (("ASC", [second, first]), ("DESC", [first, second])):
            found = requests.post(f"{base}/runs/search", json={"experiment_ids": ["7"], "filter": "metrics.loss > 0.1",
                                                               "order_by": [f"metrics.loss {order}"]},
                                  timeout=30).json()["runs"]
            assert [r["info"]["run_id"] for r in found] == expected
        # every digit of a double, and NaN, as the official server returns them
        assert sorted(found[0]["data"]["metrics"], key=lambda m: m["key"]) == [
            {"key": "loss", "value": 0.5, "timestamp": 5, "step": 3},
            {"key": "lr", "value": 1 / 3, "timestamp": 5, "step": 3},
            {"key": "nan", "value": "NaN", "timestamp": 5, "step": 3}]
        logged = requests.post(f"{base}/runs/log-metric", json={"run_id": second, "key": "loss", "value": 0.75,
                                                                 "timestamp": 6, "step": 4}, timeout=30)
        assert logged.status_code == 200, logged.text
        found = requests.post(f"{base}/runs/search", json={"experiment_ids": ["7"], "order_by": ["metrics.loss DESC"]},
                              timeout=30).json()["runs"]
        assert [r["info"]["run_id"] for r in found] == [second, first]
        assert found[0]["data"]["metrics"] == [{"key": "loss", "value": 0.75, "timestamp": 6, "step": 4}]
    finally:
        cleanup()


@pytest.mark.parametrize("kind", BACKENDS)
def test_upgrade_strips_passwords_from_stored_uris(kind, tmp_path, start_server):
    """Revision 0011: URIs stored with a password (from a root configured with one) keep the
    user and lose the password, in the database and in every answer; other URIs stay as they
    are."""
    import requests
    uri, cleanup = backend_uri(kind, tmp_path)
    secret, run_id, model_id = "s3cr:et@x", "c" * 32, "m-" + "d" * 32
    root = f"ftp://u:{secret}@files.example:2121/root"
    shown = "ftp://u@files.example:2121/root"
    kept = ["wasbs://box@acct.blob.core.windows.net/x", "sftp://u@files.example/x", "mlflow-artifacts:/a/b:c@d"]
    try:
        done = subprocess.run([str(APP_PYTHON), "-c", UPGRADE_TO, sqlalchemy_url(uri), "0010"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(sqlalchemy_url(uri))
        with engine.begin() as conn:
            def insert(table: str, *rows: dict) -> None:
                conn.execute(sa.table(table, *map(sa.column, rows[0])).insert(), list(rows))
            insert("experiments", *({"experiment_id": i, "name": f"e{i}", "artifact_location": location,
                                     "lifecycle_stage": "active", "creation_time": 1, "last_update_time": 1}
                                    for i, location in enumerate([f"{root}/7", *kept], start=7)))
            insert("runs", {"run_uuid": run_id, "experiment_id": 7, "name": "r", "user_id": "u", "status": "FINISHED",
                            "start_time": 1, "lifecycle_stage": "active", "params_json": "[]", "tags_json": "[]",
                            "artifact_uri": f"{root}/7/{run_id}/artifacts"})
            insert("logged_models", {"model_id": model_id, "experiment_id": 7, "name": "m",
                                     "artifact_location": f"{root}/7/models/{model_id}/artifacts",
                                     "creation_timestamp_ms": 1, "last_updated_timestamp_ms": 1, "status": "READY",
                                     "lifecycle_stage": "active"})
            insert("registered_models", {"id": 1, "name": "reg", "creation_time": 1, "last_updated_time": 1,
                                         "last_version": 2})
            insert("model_versions", *({"registered_model_id": 1, "version": version, "creation_time": 1,
                                        "last_updated_time": 1, "current_stage": "None", "source": source,
                                        "storage_location": location, "run_id": run_id, "status": "READY"}
                                       for version, source, location in (
                (1, f"{root}/7/{run_id}/artifacts/model", f"{root}/7/{run_id}/artifacts/model"),
                (2, f"runs:/{run_id}/model", f"{root}/7/{run_id}/artifacts/model"))))
        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_UPGRADE_DB": "true",
                                   "MLFLOW_DEFAULT_ARTIFACT_ROOT": root})
        base = f"{server.url}/api/2.0/mlflow"
        answers = [requests.get(f"{base}/experiments/get", params={"experiment_id": i}, timeout=30)
                   for i in (7, 8, 9, 10)]
        assert [a.json()["experiment"]["artifact_location"] for a in answers] == [f"{shown}/7", *kept]
        answers.append(requests.get(f"{base}/runs/get", params={"run_id": run_id}, timeout=30))
        assert answers[-1].json()["run"]["info"]["artifact_uri"] == f"{shown}/7/{run_id}/artifacts"
        answers.append(requests.get(f"{base}/logged-models/{model_id}", timeout=30))
        assert answers[-1].json()["model"]["info"]["artifact_uri"] == f"{shown}/7/models/{model_id}/artifacts"
        for version, source in ((1, f"{shown}/7/{run_id}/artifacts/model"), (2, f"runs:/{run_id}/model")):
            answers.append(requests.get(f"{base}/model-versions/get", params={"name": "reg", "version": version},
                                        timeout=30))
            assert answers[-1].json()["model_version"]["source"] == source
            answers.append(requests.get(f"{base}/model-versions/get-download-uri",
                                        params={"name": "reg", "version": version}, timeout=30))
            assert answers[-1].json()["artifact_uri"] == f"{shown}/7/{run_id}/artifacts/model"
        assert all(a.status_code == 200 and "s3cr" not in a.text for a in answers)
        with engine.connect() as conn:
            stored = [value for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                                  ("logged_models", "artifact_location"), ("model_versions", "source"),
                                                  ("model_versions", "storage_location"))
                      for (value,) in conn.execute(sa.text(f"select {column} from {table}"))]
        assert not [value for value in stored if "s3cr" in value], stored
        engine.dispose()
    finally:
        cleanup()
