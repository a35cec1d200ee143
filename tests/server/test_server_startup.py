"""Start-up: the logged configuration (secrets redacted), defaults in the working
directory, a directory as backend store, restarts, CLI flags over env vars, --help."""
from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import RUN_SH, create_postgres_database, free_port, unique
from server_support import clean_env, import_options, wait_http

SECRET = "s3cret"


def mlflow_client(url: str, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    return mlflow.MlflowClient(url)


def config_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "configuration: host=" in line]
    assert len(lines) == 1, f"expected one configuration line in:\n{output}"
    return lines[0]


def settle(server, timeout: float = 60) -> bool:
    """Wait until the server answers /health (True) or exits (False)."""
    state = server.settle(timeout)
    assert state is not None, f"server neither started nor exited:\n{server.log()}"
    return state


@pytest.mark.postgres
@pytest.mark.parametrize("log_level", ["info", "debug"])
def test_password_of_database_uri_is_never_printed(start_server, tmp_path, log_level):
    """postgres:s3cret@...: whether or not the password is checked (trust auth), the secret
    appears nowhere in the output, and the configuration line shows it redacted."""
    uri, drop = create_postgres_database()
    try:
        name = uri.rsplit("/", 1)[1]
        secret_uri = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}"
        registry_uri = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}?sslmode=disable"
        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": secret_uri,
                                   "MLFLOW_REGISTRY_STORE_URI": registry_uri,
                                   "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
                                   "MLFLOW_DB_WAIT_TIMEOUT": "2", "MLFLOW_LOG_LEVEL": log_level},
                              wait=False)
        started = settle(server)
        if started:  # exercise some requests so that request logging has a chance to leak
            requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": unique()}, timeout=30)
            requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "nope"},
                         timeout=30)
            server.stop()
        else:
            assert server.process.returncode != 0
        output = server.log_path.read_text(errors="replace")
        assert SECRET not in output, f"the database password leaked into the output:\n{output}"
        line = config_line(output)
        assert f"backend_store_uri=postgresql+psycopg2://postgres:***@127.0.0.1:5432/{name}" in line or \
            f"backend_store_uri=postgresql://postgres:***@127.0.0.1:5432/{name}" in line, line
        assert "registry_store_uri=" in line and "postgres:***@" in line.split("registry_store_uri=")[1]
    finally:
        drop()


def test_configuration_line_shows_effective_values(start_server, tmp_path):
    server = start_server(env={"MLFLOW_BACKEND_STORE_URI": str(tmp_path / "data"),
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "arts"),
                               "MLFLOW_THREADS": "3"})
    line = config_line(server.log())
    assert f"port={server.port}" in line
    assert "workers=2" in line and "threads=3" in line
    # the directory became its SQLite database, and the derived defaults are shown
    assert f"backend_store_uri=sqlite:///{tmp_path / 'data' / 'mlflow.db'}" in line
    assert f"artifacts_destination={tmp_path / 'arts'}" in line
    assert "default_artifact_root=mlflow-artifacts:/" in line


def test_defaults_create_database_and_artifacts_in_working_directory(start_server, tmp_path, monkeypatch):
    server = start_server(env={})
    assert (tmp_path / "mlflow.db").is_file()
    assert (tmp_path / "mlartifacts").is_dir()
    client = mlflow_client(server.url, monkeypatch)
    assert client.get_experiment("0").artifact_location == "mlflow-artifacts:/0"
    run = client.create_run(client.create_experiment(unique()))
    src = tmp_path / "note.txt"
    src.write_text("hello")
    client.log_artifact(run.info.run_id, str(src))
    landed = tmp_path / "mlartifacts" / run.info.experiment_id / run.info.run_id / "artifacts" / "note.txt"
    assert landed.read_text() == "hello"
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] >= 1


def test_directory_backend_store_keeps_database_inside_and_survives_restart(start_server, tmp_path, monkeypatch):
    env = {"MLFLOW_BACKEND_STORE_URI": str(tmp_path / "data"),
           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "data" / "artifacts")}
    first = start_server(env=env)
    assert (tmp_path / "data" / "mlflow.db").is_file()
    assert not (tmp_path / "mlflow.db").exists()
    client = mlflow_client(first.url, monkeypatch)
    name = unique()
    exp_id = client.create_experiment(name)
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "loss", 0.25, step=7)
    client.log_param(run.info.run_id, "lr", "0.1")
    client.log_text(run.info.run_id, "kept", "kept.txt")
    assert first.stop() == 0

    second = start_server(env=env)
    client = mlflow_client(second.url, monkeypatch)
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    data = client.get_run(run.info.run_id).data
    assert data.metrics == {"loss": 0.25} and data.params == {"lr": "0.1"}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(7, 0.25)]
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["kept.txt"]


def test_file_uri_backend_store_is_a_directory(start_server, tmp_path):
    start_server(env={"MLFLOW_BACKEND_STORE_URI": f"file://{tmp_path / 'viafile'}"})
    assert (tmp_path / "viafile" / "mlflow.db").is_file()


def test_cli_flags_override_env(start_server, tmp_path):
    port = free_port()
    server = start_server(
        env={"MLFLOW_PORT": "70000", "MLFLOW_WORKERS": "abc", "MLFLOW_BACKEND_STORE_URI": "foo://x",
             "MLFLOW_SERVER_X_FRAME_OPTIONS": "NONE", "MLFLOW_STATIC_PREFIX": "/from-env",
             "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "env-artifacts")},
        args=["--port", str(port), "-w", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'cli.db'}",
              "--x-frame-options", "DENY", "--static-prefix", "/from-cli",
              "--artifacts-destination", str(tmp_path / "cli-artifacts")],
        wait=False)
    base = f"http://127.0.0.1:{port}"
    response = wait_http(f"{base}/from-cli/health", process=server.process, log=server.log)
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert requests.get(f"{base}/from-env/health", timeout=5).status_code == 404
    assert (tmp_path / "cli.db").is_file()
    assert (tmp_path / "cli-artifacts").is_dir() and not (tmp_path / "env-artifacts").exists()
    line = config_line(server.log())
    assert f"port={port}" in line and "workers=1" in line and "x_frame_options=DENY" in line
    # one worker: the gunicorn master and a single worker process
    pgid = server.process.pid
    members = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pgid]
    assert len(members) == 2, members


def _pgid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def test_help_lists_every_option():
    options = import_options()
    result = subprocess.run([str(RUN_SH), "--help"], env=clean_env({"COLUMNS": "100"}), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    missing = []
    for option in options.OPTIONS:
        for token in (option.flag, option.env) + ((option.flag_alias,) if option.flag_alias else ()):
            if token not in text:
                missing.append(f"{option.name}: {token}")
    assert not missing, f"./run.sh --help does not mention: {missing}\n{text}"
    for option in options.OPTIONS:
        if not option.supported:
            # the help says so next to the option
            block = text.split(option.flag, 1)[1].split("\n  -", 1)[0]
            assert "not supported yet" in " ".join(block.split()), option.flag
