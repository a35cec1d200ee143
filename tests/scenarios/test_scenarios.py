"""The six MLflow deployment scenarios, end to end with the official client.

1 and 2 need no server (the client's own file and SQLite stores): they check the suite's
client runs them. 3-6 start our server with run.sh as README's scenario commands do; S3 is
moto. Each logs params, metrics and a tree of artifacts, lists and downloads them, and uses
a per-experiment artifact_location too.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from artifacts.artifact_support import wait_ready
from artifacts.stores.store_checks import store_server
from conftest import Server, create_postgres_database, unique
from servers.moto import moto_s3  # noqa: F401 (fixture)

TREE = {"model/weights.bin": bytes(range(256)) * 64, "model/meta/config.json": b'{"layers": 3}',
        "notes.txt": "résumé\n".encode()}
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                 "AWS_PROFILE", "MLFLOW_S3_ENDPOINT_URL")


@pytest.fixture
def mlflow_client(monkeypatch):
    """The official client module with retries off; no AWS credentials unless a test sets them."""
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    previous = mlflow.get_tracking_uri()
    yield mlflow
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def servers(tmp_path):
    """servers(env) -> a run.sh server on tmp_path, stopped at teardown."""
    started = []

    def start(env: dict) -> Server:
        server = Server(env, tmp_path)
        started.append(server)
        return wait_ready(server)
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def postgres():
    uri, drop = create_postgres_database()
    yield uri
    drop()


def workflow(mlflow, tmp_path: Path, experiment_location: str | None = None) -> str:
    """Log a run with artifacts, read everything back; the run's artifact URI."""
    source = tmp_path / "source"
    for rel, data in TREE.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    name = unique("scenario")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(name, artifact_location=experiment_location))
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_metric("loss", 0.25, step=3)
        mlflow.log_artifacts(str(source / "model"), "model")
        mlflow.log_artifact(str(source / "notes.txt"))
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"alpha": "0.5"} and got.data.metrics == {"loss": 0.25}
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)] == [
        ("model", True), ("notes.txt", False)]
    sizes = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "model")}
    assert sizes == {"model/meta": None, "model/weights.bin": len(TREE["model/weights.bin"])}, sizes
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl")))
    got_files = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert got_files == TREE, sorted(got_files)
    if experiment_location:
        assert got.info.artifact_uri.startswith(experiment_location.rstrip("/") + "/"), got.info.artifact_uri
    return got.info.artifact_uri


def s3_keys(moto, bucket: str, prefix: str) -> set[str]:
    return {key[len(prefix):] for key in moto.objects(bucket) if key.startswith(prefix)}


def test_1_localhost_file_store(mlflow_client, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps ./mlruns behind this switch
    mlflow_client.set_tracking_uri((tmp_path / "mlruns").as_uri())
    uri = workflow(mlflow_client, tmp_path)
    assert Path(uri.removeprefix("file://")).is_dir()


def test_2_localhost_sqlite(mlflow_client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the client's default artifact root ./mlruns
    mlflow_client.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    workflow(mlflow_client, tmp_path / "default")
    workflow(mlflow_client, tmp_path / "custom", experiment_location=(tmp_path / "elsewhere").as_uri())
    assert any((tmp_path / "elsewhere").rglob("weights.bin"))


def test_3_local_tracking_server_with_shared_folder(mlflow_client, servers, tmp_path):
    shared = tmp_path / "shared-artifacts"
    server = servers({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                      "MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": str(shared)})
    mlflow_client.set_tracking_uri(server.url)
    uri = workflow(mlflow_client, tmp_path / "a")
    assert uri.startswith(str(shared) + "/"), uri  # the client wrote straight into the folder
    assert (Path(uri) / "model" / "weights.bin").read_bytes() == TREE["model/weights.bin"]
    run_id = Path(uri).parent.name
    listed = requests.get(f"{server.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert {f["path"] for f in listed.json()["files"]} == {"model", "notes.txt"}, listed.text
    workflow(mlflow_client, tmp_path / "b", experiment_location=str(shared / "team-b"))


def test_4_postgres_and_s3_client_writes_directly(mlflow_client, servers, postgres, moto_s3, tmp_path,
                                                  monkeypatch):
    bucket = moto_s3.create_bucket()
    server = servers({"MLFLOW_BACKEND_STORE_URI": postgres, "MLFLOW_SERVE_ARTIFACTS": "false",
                      "MLFLOW_DEFAULT_ARTIFACT_ROOT": f"s3://{bucket}/mlruns", **moto_s3.env()})
    for name, value in moto_s3.env().items():  # the client needs the store's credentials here
        monkeypatch.setenv(name, value)
    mlflow_client.set_tracking_uri(server.url)
    uri = workflow(mlflow_client, tmp_path / "a")
    assert uri.startswith(f"s3://{bucket}/mlruns/"), uri
    run_prefix = uri.removeprefix(f"s3://{bucket}/") + "/"
    assert s3_keys(moto_s3, bucket, run_prefix) == set(TREE)
    run_id = uri.split("/")[-2]
    listed = requests.get(f"{server.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert {f["path"] for f in listed.json()["files"]} == {"model", "notes.txt"}, listed.text

    other = workflow(mlflow_client, tmp_path / "b", experiment_location=f"s3://{bucket}/other")
    assert s3_keys(moto_s3, bucket, other.removeprefix(f"s3://{bucket}/") + "/") == set(TREE)

    client = mlflow_client.MlflowClient()
    client.create_registered_model("scenario-4")
    version = client.create_model_version("scenario-4", f"{uri}/model", run_id=run_id)
    assert client.get_model_version_download_uri("scenario-4", version.version) == f"{uri}/model"
    with pytest.raises(Exception, match="INVALID_PARAMETER_VALUE|outside"):
        client.create_model_version("scenario-4", f"s3://{bucket}-x/mlruns/model")


def test_5_postgres_and_s3_behind_the_proxy(mlflow_client, servers, postgres, moto_s3, tmp_path):
    bucket = moto_s3.create_bucket()
    server = servers({"MLFLOW_BACKEND_STORE_URI": postgres,
                      "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{bucket}/proxied", **moto_s3.env()})
    mlflow_client.set_tracking_uri(server.url)  # and no AWS credentials in this process
    uri = workflow(mlflow_client, tmp_path / "a")
    assert uri.startswith("mlflow-artifacts:/"), uri
    assert s3_keys(moto_s3, bucket, f"proxied/{uri.removeprefix('mlflow-artifacts:/')}/") == set(TREE)
    other = workflow(mlflow_client, tmp_path / "b", experiment_location="mlflow-artifacts:/team-b")
    assert s3_keys(moto_s3, bucket, f"proxied/{other.removeprefix('mlflow-artifacts:/')}/") == set(TREE)


@pytest.mark.parametrize("root_kind", ["mlflow-artifacts", "http"])
def test_6_artifacts_only_proxy_used_by_a_tracking_server(mlflow_client, servers, moto_s3, tmp_path, root_kind):
    bucket = moto_s3.create_bucket()
    (tmp_path / "proxy").mkdir()
    proxy = store_server(tmp_path / "proxy", f"s3://{bucket}/store", {"MLFLOW_ARTIFACTS_ONLY": "true", **moto_s3.env()})
    try:
        host = f"127.0.0.1:{proxy.port}"
        root = (f"mlflow-artifacts://{host}/runs" if root_kind == "mlflow-artifacts"
                else f"http://{host}/api/2.0/mlflow-artifacts/artifacts/runs")
        tracking = servers({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                            "MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": root})
        mlflow_client.set_tracking_uri(tracking.url)
        uri = workflow(mlflow_client, tmp_path / "a")
        assert uri.startswith(root + "/"), uri
        assert s3_keys(moto_s3, bucket, f"store/runs/{uri.removeprefix(root + '/')}/") == set(TREE)
        workflow(mlflow_client, tmp_path / "b", experiment_location=f"{root}/team-b")
        refused = requests.post(f"{proxy.url}/api/2.0/mlflow/experiments/create", json={"name": "x"}, timeout=30)
        assert refused.status_code == 501 and refused.json()["error_code"] == "NOT_IMPLEMENTED"
    finally:
        proxy.stop()
