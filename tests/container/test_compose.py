"""docker-compose.yaml brought up with podman-compose: the server with PostgreSQL and an S3
server (stand-ins built from tests/container/standins/, see compose.standins.yaml), the
migrations run by the one-shot service, the official client's workflow, then `down` and `up`
again, with authentication turned on in `.env`, and everything still there; the artifacts-only
and SQLite profiles."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from container_support import (HERE, SERVER_IMAGE, Container, check_persisted, free_port, images, podman,  # noqa: F401
                               server_image, try_mlflow, unique)

from conftest import ROOT

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]


ADMIN = ("admin", "compose-admin-password")


class Compose:
    """podman-compose on docker-compose.yaml + the stand-ins, as one project of its own. The
    project's folder is a temporary one holding links to docker-compose.yaml and docker/, so
    that its `.env` (self.dotenv) is the test's, not the working tree's."""

    def __init__(self, podman, directory: Path):
        self.podman = podman
        (directory / "docker-compose.yaml").symlink_to(ROOT / "docker-compose.yaml")
        (directory / "docker").symlink_to(ROOT / "docker", target_is_directory=True)
        self.directory, self.dotenv = directory, directory / ".env"
        self.project = unique("compose")
        self.port, self.artifacts_port = free_port(), free_port()
        self.env = {**podman.env, "SERVER_IMAGE": SERVER_IMAGE, "SERVER_PORT": str(self.port),
                    "ARTIFACTS_PORT": str(self.artifacts_port), "S3_PORT": str(free_port()),
                    # the S3 stand-in knows this one key pair
                    "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}

    def __call__(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "podman_compose", "--project-name", self.project,
                               "--file", str(self.directory / "docker-compose.yaml"),
                               "--file", str(HERE / "compose.standins.yaml"), *args],
                              cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"podman-compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def container(self, service: str, port: int) -> Container:
        return Container(self.podman, f"{self.project}_{service}_1", port)

    def logs(self, service: str) -> str:
        return self.container(service, 0).logs()


@pytest.fixture
def compose(podman, server_image, tmp_path):
    project = Compose(podman, tmp_path)
    yield project
    project("--profile", "artifacts-only", "--profile", "sqlite", "down", "--volumes")


def test_every_server_container_reads_dotenv():
    """Settings in .env, such as MLFLOW_APP_NAME and MLFLOW_AUTH_ADMIN_PASSWORD, reach every
    container of the server's image (the migrate one-shot included): none sets them itself."""
    services = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]
    servers = {name for name, service in services.items() if service["image"].startswith("${SERVER_IMAGE")}
    assert servers == {"create-bucket", "migrate", "mlflow", "mlflow-artifacts", "mlflow-sqlite"}
    for name in servers:
        assert services[name]["env_file"] == [{"path": ".env", "required": False}], name
        assert not [key for key in services[name].get("environment", {})
                    if key == "MLFLOW_APP_NAME" or key.startswith("MLFLOW_AUTH_")], name


def test_up_down_up_keeps_runs_metrics_and_artifacts(compose, monkeypatch):
    compose("up", "--detach")
    server = compose.container("mlflow", compose.port)
    server.wait_healthy(timeout=120)
    assert re.search(r"mlflow: mlflow-server schema \S+ -> \d+", compose.logs("migrate"))  # the one-shot migrated
    assert "bucket mlflow created" in compose.logs("create-bucket")
    assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"
    session = try_mlflow(server.url)

    # scenario 6, the artifacts-only proxy on the same bucket
    compose("--profile", "artifacts-only", "up", "--detach", "mlflow-artifacts")
    proxy = compose.container("mlflow-artifacts", compose.artifacts_port)
    proxy.wait_healthy(timeout=60)
    url = f"{proxy.url}/api/2.0/mlflow-artifacts/artifacts/team/notes.txt"
    assert requests.put(url, data=b"proxied", timeout=30).status_code == 200
    assert requests.get(url, timeout=30).content == b"proxied"

    # authentication turned on for the existing deployment: two lines in .env, which every
    # server container reads; the one-shot creates the auth schema, the server the admin
    compose("--profile", "artifacts-only", "down")
    compose.dotenv.write_text(f"MLFLOW_APP_NAME=basic-auth\nMLFLOW_AUTH_ADMIN_PASSWORD={ADMIN[1]}\n")
    compose("up", "--detach")
    server.wait_healthy(timeout=120)
    assert re.search(r"mlflow: mlflow-server auth schema \S+ -> auth\d+", compose.logs("migrate"))
    assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"  # the probes stay open
    experiments = f"{server.url}/api/2.0/mlflow/experiments/search?max_results=10"
    assert requests.get(experiments, timeout=10).status_code == 401
    assert requests.get(experiments, auth=ADMIN, timeout=10).status_code == 200
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    check_persisted(server.url, session)
    # the artifacts-only proxy signs users in against the same database
    compose("--profile", "artifacts-only", "up", "--detach", "mlflow-artifacts")
    proxy.wait_healthy(timeout=60)
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, auth=ADMIN, timeout=30).content == b"proxied"


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
