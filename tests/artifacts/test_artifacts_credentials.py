"""A password in the server's artifact roots (ftp://user:password@host/path) never reaches a
client: experiments, runs, logged models, model versions and listings name the store without
it, the server still reads and writes the store with it, and a client cannot store one."""
from __future__ import annotations

import shutil
import uuid

import pytest
import requests

from artifacts.artifact_support import PROXY, wait_ready
from conftest import Server, unique
from servers.vsftpd import FTP_PASSWORD, FTP_USER, vsftpd  # noqa: F401 (fixture)

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def ftp_server(vsftpd, tmp_path_factory):
    """A server whose default artifact root and artifacts destination are both on vsftpd, with
    the password; `shown` is the root as clients must see it."""
    name = f"credentials-{uuid.uuid4().hex[:10]}"
    local = vsftpd.home / name
    local.mkdir()
    shutil.chown(local, vsftpd.user)
    tmp = tmp_path_factory.mktemp("credentials")
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_DEFAULT_ARTIFACT_ROOT": vsftpd.url(f"/{name}/root"),
                     "MLFLOW_ARTIFACTS_DESTINATION": vsftpd.url(f"/{name}/proxied")}, tmp)
    try:
        wait_ready(server)
        server.shown = f"ftp://{FTP_USER}@127.0.0.1:{vsftpd.port}/{name}/root"
        server.local = local
        yield server
    finally:
        server.stop()
        shutil.rmtree(local, ignore_errors=True)


def call(server: Server, method: str, path: str, status: int = 200, **kw) -> dict:
    response = requests.request(method, f"{server.url}{API}/{path}", timeout=60, **kw)
    assert FTP_PASSWORD not in response.text, (path, response.text)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.json()


def test_experiments_and_runs_name_the_root_without_password(ftp_server):
    shown = ftp_server.shown
    default = call(ftp_server, "GET", "experiments/get", params={"experiment_id": "0"})["experiment"]
    assert default["artifact_location"] == f"{shown}/0"
    experiment_id = call(ftp_server, "POST", "experiments/create", json={"name": unique()})["experiment_id"]
    experiment = call(ftp_server, "GET", "experiments/get", params={"experiment_id": experiment_id})["experiment"]
    assert experiment["artifact_location"] == f"{shown}/{experiment_id}"
    call(ftp_server, "POST", "experiments/search", json={"max_results": 1000})
    run = call(ftp_server, "POST", "runs/create", json={"experiment_id": experiment_id})["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["artifact_uri"] == f"{shown}/{experiment_id}/{run_id}/artifacts"
    assert call(ftp_server, "GET", "runs/get", params={"run_id": run_id})["run"]["info"] == run["info"]
    call(ftp_server, "POST", "runs/search", json={"experiment_ids": [experiment_id]})
    model = call(ftp_server, "POST", "logged-models", json={"experiment_id": experiment_id})["model"]
    assert model["info"]["artifact_uri"].startswith(f"{shown}/{experiment_id}/models/")


def test_server_lists_the_root_with_its_configured_password(ftp_server):
    experiment_id = call(ftp_server, "POST", "experiments/create", json={"name": unique()})["experiment_id"]
    run_id = call(ftp_server, "POST", "runs/create", json={"experiment_id": experiment_id})["run"]["info"]["run_id"]
    written = ftp_server.local / "root" / experiment_id / run_id / "artifacts" / "model"
    written.mkdir(parents=True)
    (written / "MLmodel").write_text("flavors: {}\n")
    listed = call(ftp_server, "GET", "artifacts/list", params={"run_id": run_id, "path": "model"})
    assert listed == {"root_uri": f"{ftp_server.shown}/{experiment_id}/{run_id}/artifacts",
                      "files": [{"path": "model/MLmodel", "is_dir": False, "file_size": 12}]}


def test_model_versions_name_the_root_without_password(ftp_server):
    experiment_id = call(ftp_server, "POST", "experiments/create", json={"name": unique()})["experiment_id"]
    run = call(ftp_server, "POST", "runs/create", json={"experiment_id": experiment_id})["run"]["info"]
    name = unique("model")
    call(ftp_server, "POST", "registered-models/create", json={"name": name})
    for source in (f"runs:/{run['run_id']}/model", f"{run['artifact_uri']}/model"):
        version = call(ftp_server, "POST", "model-versions/create",
                       json={"name": name, "source": source, "run_id": run["run_id"]})["model_version"]
        call(ftp_server, "GET", "model-versions/get", params={"name": name, "version": version["version"]})
        uri = call(ftp_server, "GET", "model-versions/get-download-uri",
                   params={"name": name, "version": version["version"]})["artifact_uri"]
        assert uri == f"{run['artifact_uri']}/model"
    call(ftp_server, "GET", "model-versions/search", params={"filter": f"name = '{name}'"})
    call(ftp_server, "GET", "registered-models/get", params={"name": name})


@pytest.mark.parametrize("field", ["artifact_location", "source"])
def test_client_uris_with_a_password_are_refused(ftp_server, field):
    """Stored, they would be shown to every reader: refused, naming the fix, without echoing
    the password."""
    uri = f"ftp://someone:{FTP_PASSWORD}@files.example:2121/models/x"
    if field == "artifact_location":
        body = call(ftp_server, "POST", "experiments/create", 400, json={"name": unique(), field: uri})
    else:
        name = unique("model")
        call(ftp_server, "POST", "registered-models/create", json={"name": name})
        body = call(ftp_server, "POST", "model-versions/create", 400, json={"name": name, field: uri})
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "ftp://someone@files.example:2121/models/x" in body["message"], body
    assert "without" in body["message"] and "password" in body["message"], body


def test_official_client_logs_and_reads_through_the_proxy(ftp_server, tmp_path, monkeypatch):
    """The proxy writes to the destination with its configured password; the client never
    sees it."""
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(ftp_server.url)
    client = mlflow.MlflowClient(ftp_server.url)
    run = client.create_run(client.create_experiment(unique(), artifact_location="mlflow-artifacts:/team"))
    (tmp_path / "notes.txt").write_text("proxied to FTP")
    client.log_artifact(run.info.run_id, str(tmp_path / "notes.txt"), "docs")
    assert [f.path for f in client.list_artifacts(run.info.run_id, "docs")] == ["docs/notes.txt"]
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/docs/notes.txt") == "proxied to FTP"
    landed = ftp_server.local / "proxied" / "team" / run.info.run_id / "artifacts" / "docs" / "notes.txt"
    assert landed.read_text() == "proxied to FTP"
    listing = requests.get(f"{ftp_server.url}{PROXY}", params={"path": f"team/{run.info.run_id}/artifacts/docs"},
                           timeout=60)
    assert listing.json() == {"files": [{"path": "notes.txt", "is_dir": False, "file_size": 14}]}
    assert FTP_PASSWORD not in listing.text
