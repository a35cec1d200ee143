"""/ready, the readiness probe of the Helm chart: 200 while the database answers, 503 when it
is gone (while /health, the liveness probe, stays 200); answered whatever Host is allowed."""
from __future__ import annotations

import pytest
import requests

from conftest import create_postgres_database


@pytest.mark.postgres
def test_ready_follows_the_database(start_server):
    uri, drop = create_postgres_database()
    try:
        server = start_server({"MLFLOW_BACKEND_STORE_URI": uri})
        assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"
    finally:
        drop()  # DROP DATABASE ... WITH (FORCE) ends the server's connections too
    gone = requests.get(f"{server.url}/ready", timeout=10)
    assert gone.status_code == 503 and gone.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


def test_ready_is_exempt_from_the_host_check(start_server, tmp_path):
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                           "MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com"})
    # a kubelet probes the pod's IP, not the public host name
    assert requests.get(f"{server.url}/ready", timeout=10).status_code == 200
    assert requests.get(f"{server.url}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=10).status_code == 403
