"""A bad configuration stops start-up before the port is bound: non-zero exit, one clear
line on stderr naming the cause, nothing listening, nothing created."""
from __future__ import annotations

import subprocess

import pytest

from conftest import free_port
from server_support import port_listening, run_sh

CASES = [
    pytest.param({"MLFLOW_BACKEND_STORE_URI": "foo://x"}, ["foo", "backend-store-uri"], id="bad-backend-scheme"),
    pytest.param({"MLFLOW_PORT": "70000"}, ["70000", "port"], id="port-out-of-range"),
    pytest.param({"MLFLOW_ARTIFACTS_ONLY": "true", "MLFLOW_SERVE_ARTIFACTS": "false"},
                 ["artifacts-only", "serve-artifacts"], id="artifacts-only-without-serving"),
    pytest.param({"MLFLOW_APP_NAME": "oidc-auth"}, ["app-name", "oidc-auth"], id="unknown-app-name"),
    pytest.param({"MLFLOW_ENABLE_WORKSPACES": "true"}, ["enable-workspaces", "not supported yet"],
                 id="unsupported-option"),
    pytest.param({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_DEFAULT_PERMISSION": "ALL"},
                 ["auth-default-permission", "ALL", "NO_PERMISSIONS"], id="auth-bad-default-permission"),
    pytest.param({"MLFLOW_AUTH_DEFAULT_PERMISSION": "READ"}, ["auth-default-permission", "app-name basic-auth"],
                 id="auth-option-without-auth"),
    pytest.param({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_PROXY_HEADER": "X-Forwarded-User"},
                 ["auth-proxy-header", "auth-trusted-proxies"], id="auth-proxy-header-without-trusted-proxies"),
    pytest.param({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_PROXY_HEADER": "X-User",
                  "MLFLOW_AUTH_TRUSTED_PROXIES": "10.0.0.0/33"}, ["auth-trusted-proxies", "10.0.0.0/33"],
                 id="auth-bad-trusted-proxy"),
    pytest.param({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_CONFIG_PATH": "/nonexistent/basic_auth.ini"},
                 ["auth-config-path", "/nonexistent/basic_auth.ini"], id="auth-missing-ini"),
    pytest.param({"MLFLOW_ARTIFACTS_DESTINATION": "s3://b/x"}, ["artifacts-destination", "bucket"],
                 id="s3-destination-bad-bucket"),
    pytest.param({"MLFLOW_DEFAULT_ARTIFACT_ROOT": "foo://x/y"}, ["Unknown"], id="unknown-artifact-scheme"),
    pytest.param({"MLFLOW_WORKERS": "abc"}, ["workers", "abc"], id="workers-not-an-int"),
    pytest.param({"MLFLOW_WORKERS": "0"}, ["workers"], id="workers-zero"),
    pytest.param({"MLFLOW_UPGRADE_DB": "maybe"}, ["upgrade-db", "maybe"], id="bool-not-a-bool"),
    pytest.param({"MLFLOW_LOG_LEVEL": "loud"}, ["log-level", "loud"], id="log-level-choice"),
    pytest.param({"MLFLOW_STATIC_PREFIX": "mlflow/"}, ["static-prefix"], id="static-prefix-shape"),
    pytest.param({"MLFLOW_BACKEND_STORE_URI": "postgresql://u:pw@/nodb"}, ["backend-store-uri", "host"],
                 id="postgres-without-host"),
    pytest.param({"MLFLOW_BACKEND_STORE_URI": "sqlite://host/x.db"}, ["sqlite"], id="sqlite-two-slashes"),
]


@pytest.mark.parametrize("env, words", CASES)
def test_bad_configuration_stops_start_up(tmp_path, env, words):
    port = free_port()
    full_env = {"MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1",
                "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}",
                "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"), **env}
    try:
        result = run_sh(full_env, cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server started (or hung) with a bad configuration {env}")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    line = lines[0].lower()
    for word in words:
        assert word.lower() in line, f"{word!r} not in {lines[0]!r}"
    assert "traceback" not in result.stderr.lower()
    assert result.stdout.strip() == ""
    assert "listening at" not in (result.stdout + result.stderr).lower()
    if env.get("MLFLOW_PORT") != "70000":
        assert not port_listening(port)
    # stopped before touching the database or the artifacts destination
    assert not (tmp_path / "db").exists()
    assert not (tmp_path / "artifacts").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_bad_configuration_through_start_server_fixture(start_server):
    """The same through the suite's fixture (stdout and stderr merged): exits, never listens."""
    server = start_server(env={"MLFLOW_ENABLE_WORKSPACES": "true"}, wait=False)
    assert server.process.wait(timeout=30) != 0
    assert not port_listening(server.port)
    output = server.log()
    assert "not supported yet" in output and "enable-workspaces" in output.lower()
    assert len([line for line in output.splitlines() if line.strip()]) == 1, output


def test_unreachable_database_is_one_line_after_the_wait(tmp_path):
    """A database that never answers: one line naming it (not a traceback), after db_wait_timeout."""
    port = free_port()
    dead = free_port()  # nothing listens there
    result = run_sh({"MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1", "MLFLOW_DB_WAIT_TIMEOUT": "1",
                     "MLFLOW_BACKEND_STORE_URI": f"postgresql://postgres:pw@127.0.0.1:{dead}/nodb",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")}, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "traceback" not in result.stderr.lower(), result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlflow-server: error:")]
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{dead}" in errors[0] and "pw@" not in result.stderr
    assert not port_listening(port)
