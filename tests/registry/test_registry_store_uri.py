"""--registry-store-uri: the registry lives in its own database, and still resolves runs:/
sources through the tracking database."""
from __future__ import annotations

import sqlite3

import requests

from api_checks import assert_ok

REGISTRY_TABLES = ("registered_models", "registered_model_tags", "model_versions", "model_version_tags",
                   "registered_model_aliases")


def _counts(path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in (*REGISTRY_TABLES, "runs")}


def test_registry_rows_land_in_the_registry_database(start_server, tmp_path):
    tracking_db, registry_db = tmp_path / "tracking.db", tmp_path / "registry.db"
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tracking_db}",
                           "MLFLOW_REGISTRY_STORE_URI": f"sqlite:///{registry_db}",
                           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    base = f"{server.url}/api/2.0/mlflow/"

    def post(path, body):
        return assert_ok(requests.post(base + path, json=body, timeout=30))

    experiment_id = post("experiments/create", {"name": "split"})["experiment_id"]
    run = post("runs/create", {"experiment_id": experiment_id})["run"]["info"]
    post("registered-models/create", {"name": "split-model", "tags": [{"key": "k", "value": "v"}]})
    version = post("model-versions/create", {"name": "split-model", "source": f"runs:/{run['run_id']}/model",
                                             "tags": [{"key": "t", "value": "1"}]})["model_version"]
    post("registered-models/alias", {"name": "split-model", "alias": "champion", "version": version["version"]})

    assert _counts(registry_db) == {"registered_models": 1, "registered_model_tags": 1, "model_versions": 1,
                                    "model_version_tags": 1, "registered_model_aliases": 1, "runs": 0}
    assert _counts(tracking_db) == {"registered_models": 0, "registered_model_tags": 0, "model_versions": 0,
                                    "model_version_tags": 0, "registered_model_aliases": 0, "runs": 1}
    download = requests.get(base + "model-versions/get-download-uri",
                            params={"name": "split-model", "version": "1"}, timeout=30)
    assert assert_ok(download)["artifact_uri"] == f"{run['artifact_uri']}/model"
    # runs are looked up in the tracking database: one that is not there is refused when used
    missing = post("model-versions/create", {"name": "split-model", "source": "runs:/" + "f" * 32 + "/model"})
    refused = requests.get(base + "model-versions/get-download-uri", timeout=30,
                           params={"name": "split-model", "version": missing["model_version"]["version"]})
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
