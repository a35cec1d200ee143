"""Sources inside the configured artifact root are accepted, by scheme, host and whole path
segments; everything else is refused, whatever the root (a local folder without the proxy,
or a remote store URI)."""
from __future__ import annotations

import requests

from api_checks import assert_error, assert_ok


def _api(server):
    base = f"{server.url}/api/2.0/mlflow/"
    return lambda path, body: requests.post(base + path, json=body, timeout=30)


def _run(post) -> dict:
    experiment_id = assert_ok(post("experiments/create", {"name": "roots"}))["experiment_id"]
    return assert_ok(post("runs/create", {"experiment_id": experiment_id}))["run"]["info"]


def test_local_default_root_without_the_proxy(start_server, tmp_path):
    root = tmp_path / "mlruns"
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": str(root)})
    post = _api(server)
    run = _run(post)
    assert run["artifact_uri"].startswith(str(root) + "/")
    assert_ok(post("registered-models/create", {"name": "m"}))
    version = assert_ok(post("model-versions/create", {"name": "m", "source": f"runs:/{run['run_id']}/model"}))
    download = requests.get(f"{server.url}/api/2.0/mlflow/model-versions/get-download-uri",
                            params={"name": "m", "version": version["model_version"]["version"]}, timeout=30)
    assert assert_ok(download)["artifact_uri"] == f"{run['artifact_uri']}/model"
    assert_ok(post("model-versions/create", {"name": "m", "source": f"file://{root}/1/model"}))
    for source in ["mlflow-artifacts:/1/model",  # not proxied by this server
                   f"{root}-evil/1/model", f"{root}/../db.sqlite", f"{tmp_path}/other/model",
                   f"{tmp_path}/mlartifacts/1/model",  # the destination is no root without the proxy
                   "/etc/passwd", f"file://{root}/%2e%2e/db.sqlite"]:
        assert_error(post("model-versions/create", {"name": "m", "source": source}), 400, "INVALID_PARAMETER_VALUE")


def test_remote_default_root(start_server, tmp_path):
    root = "https://store.example.com/models"
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT": root})
    post = _api(server)
    run = _run(post)
    assert run["artifact_uri"].startswith(root + "/")
    assert_ok(post("registered-models/create", {"name": "m"}))
    for source in [f"runs:/{run['run_id']}/model", f"{root}/1/model", "HTTPS://STORE.EXAMPLE.COM/models/1/model",
                   "mlflow-artifacts:/1/model", f"{tmp_path / 'artifacts'}/1/model"]:
        assert_ok(post("model-versions/create", {"name": "m", "source": source}))
    for source in ["https://store.example.com/modelsx/1/model", "https://store.example.com/other/model",
                   "https://store.example.com/Models/1/model", "https://evil.example.com/models/1/model",
                   "http://store.example.com/models/1/model", "https://store.example.com:8443/models/1/model",
                   f"{root}/../other/model", f"{root}/%2e%2e/other/model", f"{root}/1/a%20b", f"{root}/1/model?x=1",
                   f"{root}/1/model#x", "https://store.example.com", "https://store.example.com/model"]:
        assert_error(post("model-versions/create", {"name": "m", "source": source}), 400, "INVALID_PARAMETER_VALUE")
