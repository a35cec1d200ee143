"""`python -m app gc` against a real server's database and artifact store (issue 19).

The server runs through run.sh on SQLite, PostgreSQL and MariaDB with proxied artifacts in a
local folder (and, on SQLite, in S3 on moto); the official client creates and deletes runs,
logged models and experiments with artifacts, gc runs as an operator runs it, and the official
client, plain HTTP, the store and the database's tables say what is left.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric
from mlflow.exceptions import MlflowException

from conftest import BACKENDS, unique
from operate.gc_support import gc, gc_server
from server.server_support import app_cli
from servers.moto import moto_s3  # noqa: F401 (fixture)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """This module's server (the conftest's `client` and `api` use it), recording the backend
    URI and artifacts destination gc is given."""
    with gc_server(request.param, tmp_path_factory.mktemp(f"gc-{request.param}")) as srv:
        yield srv


def seed_run(client, experiment_id: str, tmp_path, name: str = "run") -> str:
    """A finished run with a param, a tag, a 5-point history, a dataset input and an artifact."""
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), now + i, i) for i in range(5)])
    client.log_param(run_id, "lr", "0.1")
    client.set_tag(run_id, "team", "a")
    dataset = Dataset(name=f"ds-{name}", digest=uuid.uuid4().hex[:8], source_type="local", source='{"uri": "x"}')
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "train")])])
    path = tmp_path / f"{name}-{run_id}.txt"
    path.write_text(f"artifact of {run_id}")
    client.log_artifact(run_id, str(path), "files")
    client.set_terminated(run_id)
    return run_id


def seed_model(client, experiment_id: str, tmp_path, run_id: str | None = None) -> str:
    """A logged model with a tag, a param, an artifact and (given a run) a metric and a run link."""
    model = client.create_logged_model(experiment_id, name="m", source_run_id=run_id, tags={"k": "v"},
                                       params={"p": "1"})
    path = tmp_path / f"model-{model.model_id}.txt"
    path.write_text("weights")
    client.log_model_artifact(model.model_id, str(path))
    if run_id:
        client.log_metric(run_id, "acc", 0.9, model_id=model.model_id)
    return model.model_id


def run_folder(srv, client, run_id: str) -> str:
    return os.path.join(srv.destination, client.get_experiment(client.get_run(run_id).info.experiment_id)
                        .experiment_id, run_id)


def model_folder(srv, experiment_id: str, model_id: str) -> str:
    return os.path.join(srv.destination, experiment_id, "models", model_id)


def status(api, path: str, **params) -> int:
    return api.get(path, params=params).status_code


def _sqlalchemy_url(srv) -> str:
    scheme, rest = srv.backend_uri.split("://", 1)
    return {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg2"}.get(scheme, scheme) + "://" + rest


def rows_naming(srv, run_ids=(), model_ids=(), experiment_ids=()) -> dict[str, int]:
    """{table.column: rows} of the rows that still name any of the ids, straight from the database."""
    columns = {"run_uuid": (run_ids, ["runs", "params", "tags", "metrics", "latest_metrics", "run_inputs",
                                      "run_input_tags", "run_models"]),
               "model_id": (model_ids, ["logged_models", "logged_model_tags", "logged_model_params",
                                        "logged_model_metrics", "run_models"]),
               "experiment_id": ([int(i) for i in experiment_ids],
                                 ["experiments", "experiment_tags", "runs", "logged_models", "datasets",
                                  "latest_metrics"])}
    engine = sa.create_engine(_sqlalchemy_url(srv))
    found = {}
    try:
        with engine.connect() as conn:
            for column, (ids, tables) in columns.items():
                for table in tables if ids else ():
                    count = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} IN :ids")
                                         .bindparams(sa.bindparam("ids", expanding=True)), {"ids": list(ids)}).scalar()
                    if count:
                        found[f"{table}.{column}"] = count
    finally:
        engine.dispose()
    return found


def test_gc_deletes_what_is_deleted_with_its_artifacts_and_nothing_else(client, api, server, tmp_path):
    kept_exp = client.create_experiment(unique())
    kept_run = seed_run(client, kept_exp, tmp_path, "kept")
    kept_model = seed_model(client, kept_exp, tmp_path, kept_run)
    gone_run = seed_run(client, kept_exp, tmp_path, "gone")
    gone_model = seed_model(client, kept_exp, tmp_path, gone_run)
    gone_exp = client.create_experiment(unique())
    client.set_experiment_tag(gone_exp, "owner", "x")
    inner_run = seed_run(client, gone_exp, tmp_path, "inner")
    inner_model = seed_model(client, gone_exp, tmp_path, inner_run)
    folders = {"gone run": run_folder(server, client, gone_run), "inner run": run_folder(server, client, inner_run),
               "gone model": model_folder(server, kept_exp, gone_model),
               "inner model": model_folder(server, gone_exp, inner_model)}
    kept_folders = [run_folder(server, client, kept_run), model_folder(server, kept_exp, kept_model)]
    client.delete_run(gone_run)
    client.delete_logged_model(gone_model)
    client.delete_experiment(gone_exp)

    dry = gc(server, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for entity_id in (gone_run, gone_model, gone_exp, inner_run, inner_model):
        assert f"with ID {entity_id} would be permanently deleted" in dry.stdout
    assert kept_run not in dry.stdout and kept_model not in dry.stdout
    assert "nothing was deleted" in dry.stdout
    assert client.get_run(gone_run).info.lifecycle_stage == "deleted"
    assert all(os.path.isdir(folder) for folder in folders.values())

    result = gc(server)
    assert result.returncode == 0, result.stderr
    assert f"Run with ID {gone_run} has been permanently deleted." in result.stdout
    assert f"Logged model with ID {gone_model} has been permanently deleted." in result.stdout
    assert f"Experiment with ID {gone_exp} has been permanently deleted." in result.stdout
    assert "gc: permanently deleted 2 runs, 2 logged models, 1 experiment" in result.stdout
    assert result.stderr == ""

    for run_id in (gone_run, inner_run):
        assert status(api, "runs/get", run_id=run_id) == 404
        assert status(api, "metrics/get-history", run_id=run_id, metric_key="loss") == 404
        with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST|not found|does not exist"):
            client.get_run(run_id)
    for model_id in (gone_model, inner_model):
        assert status(api, f"logged-models/{model_id}", allow_deleted="true") == 404
    assert status(api, "experiments/get", experiment_id=gone_exp) == 404
    assert not [name for name, folder in folders.items() if os.path.exists(folder)]
    assert not os.path.exists(os.path.join(server.destination, gone_exp))  # its emptied folder too
    assert rows_naming(server, [gone_run, inner_run], [gone_model, inner_model], [gone_exp]) == {}

    # the active run and model, their rows and artifacts are untouched
    assert client.get_run(kept_run).data.params == {"lr": "0.1"}
    assert len(client.get_metric_history(kept_run, "loss")) == 5
    assert len(client.get_run(kept_run).inputs.dataset_inputs) == 1
    assert client.get_logged_model(kept_model).params == {"p": "1"}
    downloaded = client.download_artifacts(kept_run, f"files/kept-{kept_run}.txt", str(tmp_path))
    assert open(downloaded).read() == f"artifact of {kept_run}"
    assert all(os.path.isdir(folder) for folder in kept_folders)
    assert [r.info.run_id for r in client.search_runs([kept_exp], run_view_type=3)] == [kept_run]

    again = gc(server)  # nothing left to do
    assert again.returncode == 0 and "gc: permanently deleted 0 runs, 0 logged models, 0 experiments" in again.stdout


def test_older_than_respects_the_deletion_time(client, api, server, tmp_path):
    experiment_id = client.create_experiment(unique())
    old, new = (seed_run(client, experiment_id, tmp_path, name) for name in ("old", "new"))
    client.delete_run(old)
    time.sleep(8)
    client.delete_run(new)

    result = gc(server, "--older-than", "6s")  # "new" is a second or two old when gc starts
    assert result.returncode == 0, result.stderr
    assert f"Run with ID {old} has been permanently deleted." in result.stdout and new not in result.stdout
    assert status(api, "runs/get", run_id=old) == 404
    assert client.get_run(new).info.lifecycle_stage == "deleted"
    assert os.path.isdir(run_folder(server, client, new))

    refused = gc(server, "--older-than", "0.5h", "--run-ids", new)
    assert refused.returncode == 1
    assert f"Run {new} is not older than the required age" in refused.stderr and "Nothing was deleted" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert gc(server, "--older-than", "1d").stdout.startswith("gc: permanently deleted 0 runs")
    assert gc(server).returncode == 0
    assert status(api, "runs/get", run_id=new) == 404


def test_ids_select_and_active_or_unknown_ids_are_refused(client, api, server, tmp_path):
    experiment_id = client.create_experiment(unique())
    active_run, chosen, other = (seed_run(client, experiment_id, tmp_path, n) for n in ("active", "chosen", "other"))
    active_model = seed_model(client, experiment_id, tmp_path)
    client.delete_run(chosen)
    client.delete_run(other)
    for args, message in [
        (["--run-ids", f"{chosen},{active_run}"], f"Run {active_run} is not in `deleted` lifecycle stage"),
        (["--experiment-ids", experiment_id], f"Experiment {experiment_id} is not in `deleted` lifecycle stage"),
        (["--logged-model-ids", active_model], f"Logged model {active_model} is not in `deleted` lifecycle stage"),
        (["--run-ids", "0123456789abcdef0123456789abcdef"], "Run '0123456789abcdef0123456789abcdef' does not exist"),
        (["--experiment-ids", "nope"], "Experiment 'nope' does not exist"),
        (["--older-than", "2 days"], "Could not parse any time information from '2 days'"),
    ]:
        result = gc(server, *args)
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stdout == ""
    assert client.get_run(chosen).info.lifecycle_stage == "deleted"  # the refusals deleted nothing

    result = gc(server, "--run-ids", chosen)
    assert result.returncode == 0, result.stderr
    assert status(api, "runs/get", run_id=chosen) == 404
    assert client.get_run(other).info.lifecycle_stage == "deleted"  # only the ids given
    assert client.get_run(active_run).info.lifecycle_stage == "active"
    client.delete_logged_model(active_model)
    result = gc(server, "--logged-model-ids", active_model, "--run-ids", other)
    assert result.returncode == 0, result.stderr
    assert status(api, f"logged-models/{active_model}") == 404 and status(api, "runs/get", run_id=other) == 404


def test_a_store_refusing_one_run_leaves_it_whole_and_the_rest_goes(client, api, server, tmp_path):
    """The artifact store refuses to delete one run's folder (a symlink out of the store, which
    the store never follows): that run keeps all its rows, and so does its experiment; the rest
    goes, gc exits 1, and once the cause is gone the next gc finishes."""
    experiment_id = client.create_experiment(unique())
    stuck, fine = seed_run(client, experiment_id, tmp_path, "stuck"), seed_run(client, experiment_id, tmp_path, "fine")
    model_id = seed_model(client, experiment_id, tmp_path, stuck)
    folder = run_folder(server, client, stuck)
    outside = tmp_path / "outside"
    os.rename(folder, outside)
    os.symlink(outside, folder)
    client.delete_experiment(experiment_id)

    result = gc(server, "--experiment-ids", experiment_id)
    assert result.returncode == 1
    assert f"Run with ID {stuck} was not deleted" in result.stderr and "leaves the artifact root" in result.stderr
    assert f"Experiment with ID {experiment_id} was not deleted" in result.stderr
    assert "Traceback" not in result.stderr
    assert f"Run with ID {fine} has been permanently deleted." in result.stdout
    assert "gc: permanently deleted 1 run, 1 logged model, 0 experiments" in result.stdout
    assert (outside / "artifacts" / "files" / f"stuck-{stuck}.txt").exists()
    # the kept run is whole: every row, in the deleted stage, in its deleted experiment
    run = client.get_run(stuck)
    assert (run.info.lifecycle_stage, run.data.params, len(run.inputs.dataset_inputs)) == ("deleted", {"lr": "0.1"}, 1)
    assert len(client.get_metric_history(stuck, "loss")) == 5
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert status(api, "runs/get", run_id=fine) == 404 and status(api, f"logged-models/{model_id}") == 404

    os.unlink(folder)
    os.rename(outside, folder)
    result = gc(server, "--experiment-ids", experiment_id)
    assert result.returncode == 0, result.stderr
    assert status(api, "experiments/get", experiment_id=experiment_id) == 404
    assert not os.path.exists(folder)
    assert rows_naming(server, [stuck, fine], [model_id], [experiment_id]) == {}


REFUSE_DELETE = {  # a trigger that makes the database refuse to delete one run's row
    "sqlite": ["CREATE TRIGGER gc_refuse BEFORE DELETE ON runs WHEN old.run_uuid = '{run}' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"],
    "postgresql": ["CREATE FUNCTION gc_refuse() RETURNS trigger AS $$ BEGIN "
                   "RAISE EXCEPTION 'refused by a test trigger'; END $$ LANGUAGE plpgsql",
                   "CREATE TRIGGER gc_refuse BEFORE DELETE ON runs FOR EACH ROW "
                   "WHEN (old.run_uuid = '{run}') EXECUTE FUNCTION gc_refuse()"],
    "mysql": ["CREATE TRIGGER gc_refuse BEFORE DELETE ON runs FOR EACH ROW IF old.run_uuid = '{run}' THEN "
              "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a test trigger'; END IF"],
}


def execute_sql(srv, *statements: str) -> None:
    engine = sa.create_engine(_sqlalchemy_url(srv))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_a_database_failure_mid_run_leaves_the_run_whole(client, api, server, tmp_path):
    """The database refuses the last statement of a run's deletion (its row), after its
    metrics, params, tags and inputs were deleted in the same transaction: all of them are
    still there afterwards; gc exits 1 without a traceback, and finishes once it can."""
    experiment_id = client.create_experiment(unique())
    run_id = seed_run(client, experiment_id, tmp_path, "refused")
    client.delete_run(run_id)
    kind = server.backend_uri.split(":", 1)[0]
    execute_sql(server, *(s.replace("{run}", run_id) for s in REFUSE_DELETE[kind]))
    try:
        result = gc(server, "--run-ids", run_id)
    finally:
        execute_sql(server, "DROP TRIGGER gc_refuse" + (" ON runs" if kind == "postgresql" else ""),
                    *(["DROP FUNCTION gc_refuse"] if kind == "postgresql" else []))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # PyMySQL raises the trigger's error as the kind a lost connection raises, which the
    # store reports as the database being unavailable: then that run is reported as kept
    assert ("refused by a test trigger" in result.stderr and "keeps all its rows" in result.stderr
            or f"Run with ID {run_id} was not deleted" in result.stderr), result.stderr
    run = client.get_run(run_id)
    assert (run.info.lifecycle_stage, run.data.params, run.data.tags.get("team")) == ("deleted", {"lr": "0.1"}, "a")
    assert len(client.get_metric_history(run_id, "loss")) == 5 and len(run.inputs.dataset_inputs) == 1
    assert gc(server, "--run-ids", run_id).returncode == 0
    assert status(api, "runs/get", run_id=run_id) == 404


def test_a_local_root_outside_the_stores_is_kept(client, api, server, tmp_path):
    """An experiment's artifact_location elsewhere on the server's disk (a client's choice): gc
    does not delete there, keeps that run whole and deletes the others."""
    elsewhere = client.create_experiment(unique(), artifact_location=str(tmp_path / "elsewhere"))
    kept = seed_run(client, elsewhere, tmp_path, "elsewhere")
    other = seed_run(client, client.create_experiment(unique()), tmp_path, "other")
    client.delete_run(kept)
    client.delete_run(other)
    result = gc(server)
    assert result.returncode == 1
    assert f"Run with ID {kept} was not deleted" in result.stderr
    assert "outside the default artifact root" in result.stderr
    assert f"Run with ID {other} has been permanently deleted." in result.stdout
    assert (tmp_path / "elsewhere" / kept / "artifacts" / "files" / f"elsewhere-{kept}.txt").exists()
    assert client.get_run(kept).data.params == {"lr": "0.1"} and status(api, "runs/get", run_id=other) == 404
    client.restore_run(kept)  # the next tests' gc without ids must not meet it


def test_bad_configuration_is_one_line_without_secrets(tmp_path):
    missing = app_cli(["gc", "--backend-store-uri", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.returncode == 1 and "no database at" in missing.stderr and not (tmp_path / "none.db").exists()
    refused = app_cli(["gc", "--backend-store-uri", "postgresql://gc:hunter2secret@127.0.0.1:5432/nodb",
                       "--db-wait-timeout", "0"])
    assert refused.returncode == 1 and "hunter2secret" not in refused.stderr + refused.stdout
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    unknown = app_cli(["gc", "--no-such-option"])
    assert unknown.returncode == 2


def test_s3_store(moto_s3, tmp_path, start_server):  # noqa: F811
    """Artifacts proxied to S3 (moto), on SQLite: the deleted run's and model's objects go,
    the others stay."""
    bucket = moto_s3.create_bucket()
    destination = f"s3://{bucket}/root"
    srv = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 's3.db'}",
                        "MLFLOW_ARTIFACTS_DESTINATION": destination, **moto_s3.env()})
    from mlflow import MlflowClient
    s3_client = MlflowClient(srv.url)
    experiment_id = s3_client.create_experiment(unique())
    kept, gone = (seed_run(s3_client, experiment_id, tmp_path, name) for name in ("kept", "gone"))
    gone_model = seed_model(s3_client, experiment_id, tmp_path, gone)
    s3_client.delete_run(gone)
    s3_client.delete_logged_model(gone_model)
    before = set(moto_s3.objects(bucket))
    assert any(gone in key for key in before) and any(gone_model in key for key in before)

    result = app_cli(["gc", "--backend-store-uri", f"sqlite:///{tmp_path / 's3.db'}", "--artifacts-destination",
                      destination], env=moto_s3.env())
    assert result.returncode == 0, result.stderr
    after = set(moto_s3.objects(bucket))
    assert after == {key for key in before if gone not in key and gone_model not in key}
    assert any(kept in key for key in after)
    assert moto_s3.env()["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr
