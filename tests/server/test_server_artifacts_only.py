"""--artifacts-only: the artifact proxy works without a database; tracking routes answer a
clear JSON error instead of a 500."""
from __future__ import annotations

import pytest
import requests

from conftest import Server

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def artifacts_only(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("artifacts-only")
    # an unusable database URI: an artifacts-only server must not need one
    server = Server({"MLFLOW_ARTIFACTS_ONLY": "true", "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts"),
                     "MLFLOW_BACKEND_STORE_URI": "postgresql://nobody@127.0.0.1:1/none",
                     "MLFLOW_DB_WAIT_TIMEOUT": "1"}, tmp)
    try:
        server.wait_ready()
        server.artifacts = tmp / "artifacts"
        yield server
    finally:
        server.stop()


def test_artifact_routes_work(artifacts_only):
    base = f"{artifacts_only.url}{PROXY}"
    assert requests.put(f"{base}/1/run/artifacts/a/b.txt", data=b"payload", timeout=10).status_code == 200
    assert (artifacts_only.artifacts / "1" / "run" / "artifacts" / "a" / "b.txt").read_bytes() == b"payload"
    got = requests.get(f"{base}/1/run/artifacts/a/b.txt", timeout=10)
    assert got.status_code == 200 and got.content == b"payload"
    listed = requests.get(base, params={"path": "1/run/artifacts/a"}, timeout=10)
    assert listed.json() == {"files": [{"path": "b.txt", "is_dir": False, "file_size": 7}]}
    assert requests.delete(f"{base}/1/run/artifacts/a/b.txt", timeout=10).status_code == 200
    assert requests.get(f"{base}/1/run/artifacts/a/b.txt", timeout=10).status_code == 404


def test_official_client_artifact_repository_works(artifacts_only, tmp_path):
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    repo = HttpArtifactRepository(f"{artifacts_only.url}{PROXY}/5/r1/artifacts")
    src = tmp_path / "f.txt"
    src.write_text("via client")
    repo.log_artifact(str(src), "sub")
    assert [(f.path, f.file_size) for f in repo.list_artifacts("sub")] == [("sub/f.txt", 10)]
    (tmp_path / "dl").mkdir()
    local = repo.download_artifacts("sub/f.txt", str(tmp_path / "dl"))
    assert open(local).read() == "via client"


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("GET", "/api/2.0/mlflow/runs/get?run_id=abc"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("GET", "/api/2.0/mlflow/artifacts/list?run_id=abc"),
    ("POST", "/ajax-api/2.0/mlflow/runs/search"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
])
def test_tracking_routes_answer_clear_json_error(artifacts_only, method, path):
    response = requests.request(method, f"{artifacts_only.url}{path}", json={} if method == "POST" else None,
                                timeout=10)
    assert response.status_code != 500 and response.status_code >= 400, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body.get("error_code") and body.get("error_code") != "INTERNAL_ERROR", body
    assert "artifacts-only" in body.get("message", "").lower() or "artifacts only" in body.get("message", "").lower()


def test_health_and_server_info(artifacts_only):
    assert requests.get(f"{artifacts_only.url}/health", timeout=10).status_code == 200
    info = requests.get(f"{artifacts_only.url}/api/3.0/mlflow/server-info", timeout=10)
    assert info.status_code == 200 and info.json().get("multipart_uploads_enabled") is False
    assert not (artifacts_only.cwd / "mlflow.db").exists()
