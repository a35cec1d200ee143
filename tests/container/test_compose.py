"""docker-compose.yaml brought up with podman-compose: the server with PostgreSQL and an S3
server (stand-ins built from tests/container/standins/, see compose.standins.yaml), the
migrations run by the one-shot service, the official client's workflow, then `down` and `up`
again with everything still there; the artifacts-only and SQLite profiles."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests
from container_support import (HERE, SERVER_IMAGE, Container, check_persisted, free_port, images, podman,  # noqa: F401
                               server_image, try_mlflow, unique)

from conftest import ROOT

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]


class Compose:
    """podman-compose on docker-compose.yaml + the stand-ins, as one project of its own."""

    def __init__(self, podman):
        self.podman = podman
        self.project = unique("compose")
        self.port, self.artifacts_port = free_port(), free_port()
        self.env = {**podman.env, "SERVER_IMAGE": SERVER_IMAGE, "SERVER_PORT": str(self.port),
                    "ARTIFACTS_PORT": str(self.artifacts_port), "S3_PORT": str(free_port()),
                    # the S3 stand-in knows this one key pair
                    "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}

    def __call__(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "podman_compose", "--project-name", self.project,
                               "--file", str(ROOT / "docker-compose.yaml"),
                               "--file", str(HERE / "compose.standins.yaml"), *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"podman-compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def container(self, service: str, port: int) -> Container:
        return Container(self.podman, f"{self.project}_{service}_1", port)

    def logs(self, service: str) -> str:
        return self.container(service, 0).logs()


@pytest.fixture
def compose(podman, server_image):
    project = Compose(podman)
    yield project
    project("--profile", "artifacts-only", "--profile", "sqlite", "down", "--volumes")


def test_up_down_up_keeps_runs_metrics_and_artifacts(compose):
    compose("up", "--detach")
    server = compose.container("mlflow", compose.port)
    server.wait_healthy(timeout=120)
    assert re.search(r"mlflow: schema \S+ -> \d+", compose.logs("migrate"))  # the one-shot migrated
    assert "bucket mlflow created" in compose.logs("create-bucket")
    assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"
    session = try_mlflow(server.url)

    compose("down")
    compose("up", "--detach")
    server.wait_healthy(timeout=120)
    check_persisted(server.url, session)

    # scenario 6, the artifacts-only proxy on the same bucket
    compose("--profile", "artifacts-only", "up", "--detach", "mlflow-artifacts")
    proxy = compose.container("mlflow-artifacts", compose.artifacts_port)
    proxy.wait_healthy(timeout=60)
    url = f"{proxy.url}/api/2.0/mlflow-artifacts/artifacts/team/notes.txt"
    assert requests.put(url, data=b"proxied", timeout=30).status_code == 200
    assert requests.get(url, timeout=30).content == b"proxied"


def test_sqlite_profile_keeps_its_volume(compose):
    compose("--profile", "sqlite", "up", "--detach", "mlflow-sqlite")
    server = compose.container("mlflow-sqlite", compose.port)
    server.wait_healthy(timeout=60)
    api = f"{server.url}/api/2.0/mlflow"
    created = requests.post(f"{api}/experiments/create", json={"name": "kept"}, timeout=10).json()
    compose("--profile", "sqlite", "down")
    compose("--profile", "sqlite", "up", "--detach", "mlflow-sqlite")
    server.wait_healthy(timeout=60)
    got = requests.get(f"{api}/experiments/get-by-name", params={"experiment_name": "kept"}, timeout=10)
    assert got.json()["experiment"]["experiment_id"] == created["experiment_id"]
