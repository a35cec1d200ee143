"""`db export` (issue 19, "and out"): our server, filled through the official client, is exported
into an empty official database made by the official `mlflow db upgrade`; the OFFICIAL server
then reads it and must answer, entity by entity, what our server answers (REST JSON). On
SQLite, PostgreSQL and MariaDB (the target is a database of the same kind as ours). Also the
refusals: a non-empty target, one at another revision, a bad URI (no traceback, no password).
"""
from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from conftest import BACKENDS, ROOT, Server, create_mysql_database, create_postgres_database, free_port
from server.server_support import app_cli

OFFICIAL = ROOT / ".venv-official" / "bin"
DOUBLE_MAX = 1.7976931348623157e308


def canonical(value, drop: frozenset = frozenset()):
    """JSON as the tests compare it: lists of tags in key order (the official server keeps the
    order of insertion, ours the order of keys; neither is part of the API), without the fields
    named in `drop` (what the official server does not answer in that read, see below), and
    +-Infinity as the official server answers it: the +-DOUBLE_MAX both databases store."""
    if isinstance(value, dict):
        return {k: canonical(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        items = [canonical(v, drop) for v in value]
        if items and all(isinstance(v, dict) and "key" in v and "value" in v for v in items):
            items.sort(key=lambda v: (v["key"], str(v.get("step")), str(v.get("timestamp"))))
        return items
    return {"Infinity": DOUBLE_MAX, "-Infinity": -DOUBLE_MAX}.get(value, value) if isinstance(value, str) else value


# Fields the official server leaves out where ours answers them: the workspace only it has; a
# version's model_id (the official schema has no column for it); aliases in a model's
# latest_versions and in model-versions/search (the official lists them on version reads and on
# the model); model_inputs in runs/search (the official shows them in runs/get only, compared whole).
NOT_IN_OFFICIAL = frozenset({"workspace", "model_id", "aliases", "model_inputs"})


def official_env(tmp: Path) -> dict:
    """The official venv has no MySQL driver: lend it the test venv's PyMySQL (pure Python)."""
    import pymysql
    lend = tmp / "lend"
    if not lend.exists():
        lend.mkdir()
        (lend / "pymysql").symlink_to(Path(pymysql.__file__).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "PYTHONPATH": str(lend)}


def official_uri(uri: str) -> str:
    """The drivers the official venv has (mlflow 3.17 takes postgresql:// as psycopg 3)."""
    return uri.replace("mysql://", "mysql+pymysql://", 1).replace("postgresql://", "postgresql+psycopg2://", 1)


def official_schema(uri: str, tmp: Path) -> None:
    done = subprocess.run([str(OFFICIAL / "mlflow"), "db", "upgrade", official_uri(uri)], env=official_env(tmp),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def new_database(kind: str, tmp: Path, name: str):
    if kind == "sqlite":
        return f"sqlite:///{tmp / name}", lambda: None
    return create_postgres_database() if kind == "postgresql" else create_mysql_database()


def populate(url: str) -> dict:
    """Rich data through the official client; returns what the tests look up by."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    exp = client.create_experiment("export-a", tags={"team": "x", "note": "tab\tand\nnewline \\ back"})
    with mlflow.start_run(experiment_id=exp, run_name="parent") as parent:
        mlflow.log_params({"lr": "0.1", "layers": "3"})
        mlflow.set_tags({"stage": "train", "unicode": "é✓", "empty": "", "quoted": "say \"hi\", \\N"})
        for step, value in enumerate([0.5, math.nan, math.inf, -math.inf, 0.25, 0.125]):
            mlflow.log_metric("loss", value, step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metric("acc", 0.9)
        data = mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), name="train-set", targets="b")
        mlflow.log_input(data, context="training", tags={"split": "train"})
        with mlflow.start_run(experiment_id=exp, run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 3.0, step=2)
        model = client.create_logged_model(exp, name="model-a", params={"alpha": "1"}, tags={"kind": "demo"},
                                           source_run_id=parent.info.run_id, model_type="sk")
        client.log_batch(parent.info.run_id, metrics=[Metric("val", 0.75, 1_700_000_000_100, 3,
                                                             model_id=model.model_id)])
        client.log_outputs(parent.info.run_id, [LoggedModelOutput(model.model_id, step=3)])
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    with mlflow.start_run(experiment_id=exp, run_name="consumer") as consumer:
        client.log_inputs(consumer.info.run_id, models=[LoggedModelInput(model.model_id)])
    gone = client.create_run(exp, run_name="gone")
    client.delete_run(gone.info.run_id)
    dead = client.create_experiment("export-deleted")
    client.create_run(dead, run_name="in-deleted")
    client.delete_experiment(dead)

    client.create_registered_model("reg-a", tags={"owner": "me"}, description="a model")
    v1 = client.create_model_version("reg-a", f"models:/{model.model_id}", run_id=parent.info.run_id,
                                     tags={"v": "1"}, description="first", model_id=model.model_id)
    client.create_model_version("reg-a", f"runs:/{parent.info.run_id}/model", run_id=parent.info.run_id)
    v3 = client.create_model_version("reg-a", f"runs:/{child.info.run_id}/model", run_id=child.info.run_id)
    client.transition_model_version_stage("reg-a", v1.version, "Production")
    client.set_registered_model_alias("reg-a", "champion", v1.version)
    client.delete_model_version("reg-a", v3.version)  # the next version is 4, not 3, also over there
    mlflow.genai.register_prompt("prompt-a", "Hello {{name}}", commit_message="first", tags={"lang": "en"})
    mlflow.genai.register_prompt("prompt-a", "Hi {{name}}!", commit_message="second")
    mlflow.genai.set_prompt_alias("prompt-a", "prod", 1)
    return {"experiments": [exp, dead], "model": model.model_id}


class Api:
    def __init__(self, url: str):
        self.base = f"{url}/api/2.0/mlflow/"

    def get(self, path: str, **params):
        answer = requests.get(self.base + path, params=params, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    def post(self, path: str, body: dict):
        answer = requests.post(self.base + path, json=body, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()


def start_official(uri: str, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp / f"official-{port}.log", "wb")
    process = subprocess.Popen([str(OFFICIAL / "mlflow"), "server", "--backend-store-uri", official_uri(uri),
                                "--artifacts-destination", str(tmp / "official-artifacts"), "--host", "127.0.0.1",
                                "--port", str(port), "--workers", "1"], env=official_env(tmp), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / f"official-{port}.log").read_text()
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("the official server did not start")


def stop(process: subprocess.Popen) -> None:
    """The official server's group: SIGTERM, then SIGKILL when it has not ended in 30 s (uvicorn
    sometimes waits on a kept-alive connection)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Exported:
    ours: Api
    official: Api
    made: dict  # what populate returned
    done: subprocess.CompletedProcess  # the export
    source: str  # our database
    target: str  # the official database


@pytest.fixture(scope="module", params=BACKENDS)
def exported(request, tmp_path_factory):
    """Our server on a database of the kind, filled, exported into a new official database of
    the same kind, which the official server then serves."""
    tmp = tmp_path_factory.mktemp(f"export-{request.param}")
    source, drop_source = new_database(request.param, tmp, "ours.db")
    target, drop_target = new_database(request.param, tmp, "official.db")
    ours = Server({"MLFLOW_BACKEND_STORE_URI": source, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    process = None
    try:
        made = populate(ours.wait_ready().url)
        official_schema(target, tmp)
        done = app_cli(["db", "export", "--to", target, "--backend-store-uri", source])
        assert done.returncode == 0, done.stderr + done.stdout
        process, url = start_official(target, tmp)
        yield Exported(Api(ours.url), Api(url), made, done, source, target)
    finally:
        ours.stop()
        if process is not None:
            stop(process)
        drop_source()
        drop_target()


def experiments(api: Api) -> list[dict]:
    found = api.post("experiments/search", {"view_type": "ALL", "max_results": 1000})["experiments"]
    return sorted(canonical(found, frozenset({"workspace"})), key=lambda e: int(e["experiment_id"]))


def runs(api: Api, experiment_ids: list[str]) -> list[dict]:
    found = api.post("runs/search", {"experiment_ids": experiment_ids, "run_view_type": "ALL",
                                     "max_results": 1000})["runs"]
    return sorted(canonical(found, frozenset({"model_inputs"})), key=lambda r: r["info"]["run_id"])


def test_counts_read_equal_written(exported):
    done = exported.done
    lines = {line[:22].strip(): line[22:].split() for line in done.stdout.splitlines()[1:] if line[:1] != " "}
    assert lines["metrics"][:2] == ["9", "9"] and lines["model versions"][:2] == ["4", "4"], done.stdout
    assert all(values[0] == values[1] for values in lines.values() if len(values) >= 2), done.stdout


def test_experiments_equal(exported):
    ours, official = exported.ours, exported.official
    assert experiments(official) == experiments(ours)


def test_runs_with_data_and_inputs_equal(exported):
    ours, official, made = exported.ours, exported.official, exported.made
    ids = [e["experiment_id"] for e in experiments(ours)]
    mine = runs(ours, ids)
    assert len(mine) == 5 and runs(official, ids) == mine
    for run in mine:
        run_id = run["info"]["run_id"]
        assert canonical(official.get("runs/get", run_id=run_id)) == canonical(ours.get("runs/get", run_id=run_id))
    consumer = next(r for r in mine if r["info"]["run_name"] == "consumer")["info"]["run_id"]
    assert official.get("runs/get", run_id=consumer)["run"]["inputs"]["model_inputs"] == [{"model_id": made["model"]}]


def test_metric_histories_equal(exported):
    ours, official = exported.ours, exported.official
    ids = [e["experiment_id"] for e in experiments(ours)]
    checked = 0
    for run in runs(ours, ids):
        for metric in run["data"].get("metrics", []):
            params = {"run_id": run["info"]["run_id"], "metric_key": metric["key"]}
            assert (canonical(official.get("metrics/get-history", **params))
                    == canonical(ours.get("metrics/get-history", **params)))
            checked += 1
    assert checked >= 4


def test_logged_models_equal(exported):
    ours, official, made = exported.ours, exported.official, exported.made
    body = {"experiment_ids": made["experiments"][:1], "max_results": 100}
    mine = ours.post("logged-models/search", body)["models"]
    assert len(mine) == 1 and canonical(official.post("logged-models/search", body)["models"]) == canonical(mine)
    path = f"logged-models/{made['model']}"
    assert canonical(official.get(path)) == canonical(ours.get(path))


def registered_models(api: Api, **query) -> list[dict]:
    """registered-models/search, its latest_versions in version order without aliases."""
    found = canonical(api.get("registered-models/search", max_results=100, **query)["registered_models"])
    for model in found:
        model["latest_versions"] = sorted(canonical(model.get("latest_versions", []), NOT_IN_OFFICIAL),
                                          key=lambda v: int(v["version"]))
    return found


def assert_versions_equal(ours: Api, official: Api, name: str, versions: list[str], prompt: bool = False) -> None:
    query = {"filter": f"name='{name}'" + (" AND tags.`mlflow.prompt.is_prompt` = 'true'" if prompt else ""),
             "max_results": 100}
    found = ours.get("model-versions/search", **query)["model_versions"]
    assert sorted(v["version"] for v in found) == versions
    theirs = official.get("model-versions/search", **query)["model_versions"]
    order = lambda v: int(v["version"])  # noqa: E731
    assert sorted(canonical(theirs, NOT_IN_OFFICIAL), key=order) == sorted(canonical(found, NOT_IN_OFFICIAL), key=order)
    for version in versions:
        key = {"name": name, "version": version}
        assert (canonical(official.get("model-versions/get", **key), frozenset({"model_id"}))
                == canonical(ours.get("model-versions/get", **key), frozenset({"model_id"})))


def test_registry_equal(exported):
    ours, official = exported.ours, exported.official
    mine = registered_models(ours)
    assert [m["name"] for m in mine] == ["reg-a"] and len(mine[0]["latest_versions"]) == 2
    assert registered_models(official) == mine
    assert_versions_equal(ours, official, "reg-a", ["1", "2"])
    alias = {"name": "reg-a", "alias": "champion"}
    assert (canonical(official.get("registered-models/alias", **alias), frozenset({"model_id"}))
            == canonical(ours.get("registered-models/alias", **alias), frozenset({"model_id"})))


def test_prompts_equal_and_numbering_continues(exported):
    ours, official = exported.ours, exported.official
    prompts = {"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"}
    mine = registered_models(ours, **prompts)
    assert [m["name"] for m in mine] == ["prompt-a"]
    assert registered_models(official, **prompts) == mine
    assert_versions_equal(ours, official, "prompt-a", ["1", "2"], prompt=True)
    alias = {"name": "prompt-a", "alias": "prod"}
    assert canonical(official.get("registered-models/alias", **alias)) == canonical(ours.get("registered-models/alias", **alias))


def test_the_official_server_goes_on_from_our_ids(exported):
    """Its next experiment id follows ours (PostgreSQL's sequence is moved on), and the deleted
    version 3 of reg-a is not given out again."""
    official = exported.official
    last = max(int(e["experiment_id"]) for e in experiments(official))
    assert official.post("experiments/create", {"name": "after-export"})["experiment_id"] == str(last + 1)
    source = official.get("model-versions/get", name="reg-a", version="2")["model_version"]
    created = official.post("model-versions/create", {"name": "reg-a", "source": source["source"],
                                                      "run_id": source["run_id"]})
    assert created["model_version"]["version"] == "4"


OFFICIAL_TABLES = ["experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics",
                   "datasets", "inputs", "input_tags", "logged_models", "logged_model_tags", "logged_model_params",
                   "logged_model_metrics", "registered_models", "registered_model_tags", "model_versions",
                   "model_version_tags", "registered_model_aliases"]


def official_rows(uri: str) -> dict[str, list[str]]:
    """Every row of the official tables, sorted, but the rows of deleted versions."""
    import sqlalchemy as sa
    engine = sa.create_engine(official_uri(uri))
    tables = sa.MetaData()
    tables.reflect(engine, only=OFFICIAL_TABLES)
    try:
        with engine.connect() as conn:
            return {name: sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)).mappings()
                                 if row.get("current_stage") != "Deleted_Internal")
                    for name, table in tables.tables.items()}
    finally:
        engine.dispose()


def test_round_trip_official_ours_official_loses_nothing(exported, tmp_path):
    """The exported database, with what the official server then wrote, imported into a new
    database of ours (db import) and exported again: the same rows in every official table
    (deleted versions aside: the official keeps a row per deleted version, we the number)."""
    kind = exported.target.split(":", 1)[0]
    ours, drop_ours = new_database(kind, tmp_path, "ours-again.db")
    again, drop_again = new_database(kind, tmp_path, "official-again.db")
    try:
        imported = app_cli(["db", "import", "--from", exported.target, "--backend-store-uri", ours], timeout=600)
        assert imported.returncode == 0, imported.stderr + imported.stdout
        official_schema(again, tmp_path)
        done = app_cli(["db", "export", "--to", again, "--backend-store-uri", ours])
        assert done.returncode == 0, done.stderr + done.stdout
        first, second = official_rows(exported.target), official_rows(again)
        assert len(first["metrics"]) == 9 and len(first["model_versions"]) == 5
        assert second == first
    finally:
        drop_ours()
        drop_again()


def test_refuses_a_target_that_is_not_empty(exported):
    again = app_cli(["db", "export", "--to", exported.target, "--backend-store-uri", exported.source])
    assert again.returncode == 1
    assert "is not empty" in again.stderr and "Traceback" not in again.stderr


@pytest.fixture
def our_sqlite(tmp_path) -> str:
    uri = f"sqlite:///{tmp_path / 'ours.db'}"
    done = app_cli(["db", "upgrade", "--backend-store-uri", uri])
    assert done.returncode == 0, done.stderr
    return uri


def test_refuses_another_revision_and_a_database_without_schema(our_sqlite, tmp_path):
    target = f"sqlite:///{tmp_path / 'official.db'}"
    official_schema(target, tmp_path)
    with sqlite3.connect(tmp_path / "official.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '1b5f0d9ad7c1'")
    done = app_cli(["db", "export", "--to", target, "--backend-store-uri", our_sqlite])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "revision 1b5f0d9ad7c1" in done.stderr and "mlflow db upgrade" in done.stderr
    bare = app_cli(["db", "export", "--to", f"sqlite:///{tmp_path / 'bare.db'}", "--backend-store-uri", our_sqlite])
    assert bare.returncode == 1 and "no official MLflow schema" in bare.stderr


def test_a_bad_uri_is_one_line_without_the_password(our_sqlite):
    for uri, expected in [("postgresql://me:s3cret-pw@127.0.0.1:1/db", "failed"),
                          ("oracle://me:s3cret-pw@host/db", "unsupported database scheme"),
                          ("mysql://me:s3cret-pw@127.0.0.1", "no database name")]:
        done = app_cli(["db", "export", "--to", uri, "--backend-store-uri", our_sqlite])
        assert done.returncode == 1, done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert "s3cret-pw" not in done.stderr + done.stdout and len(done.stderr.strip().splitlines()) == 1
    missing = app_cli(["db", "export", "--to", "sqlite:////tmp/none.db", "--backend-store-uri",
                       f"sqlite:///{our_sqlite[10:]}-missing"])
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_a_registry_database_of_its_own_is_exported_too(start_server, tmp_path):
    import mlflow
    source, registry = f"sqlite:///{tmp_path / 'ours.db'}", f"sqlite:///{tmp_path / 'registry.db'}"
    ours = start_server({"MLFLOW_BACKEND_STORE_URI": source, "MLFLOW_REGISTRY_STORE_URI": registry,
                         "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    client = mlflow.MlflowClient(ours.url)
    run = client.create_run(client.create_experiment("with-registry"))
    client.create_registered_model("elsewhere")
    client.create_model_version("elsewhere", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    target = f"sqlite:///{tmp_path / 'official.db'}"
    official_schema(target, tmp_path)
    done = app_cli(["db", "export", "--to", target, "--backend-store-uri", source, "--registry-store-uri", registry])
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "official.db") as conn:
        assert conn.execute("SELECT name, version, run_id FROM model_versions").fetchall() == [
            ("elsewhere", 1, run.info.run_id)]
        assert conn.execute("SELECT name FROM experiments ORDER BY experiment_id").fetchall() == [
            ("Default",), ("with-registry",)]


@pytest.mark.postgres
def test_refuses_experiment_ids_beyond_32_bits_outside_sqlite(our_sqlite, tmp_path):
    """An 18-digit id, as `db import` keeps from an official file store: the official schema's
    experiment ids have 32 bits on PostgreSQL and MySQL; said before anything is written."""
    with sqlite3.connect(our_sqlite[10:]) as conn:
        conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
                     "creation_time, last_update_time) VALUES (123456789012345678, 'big', 'x', 'active', 0, 0)")
    target, drop = create_postgres_database()
    try:
        official_schema(target, tmp_path)
        done = app_cli(["db", "export", "--to", target, "--backend-store-uri", our_sqlite])
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "experiment id 123456789012345678" in done.stderr and "export into SQLite" in done.stderr
    finally:
        drop()
