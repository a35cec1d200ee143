"""Turning basic-auth on: the admin user made at the first start (never with a default password),
the official ini file, a database of its own for users and permissions, `db upgrade`, and the
2.x client's permission routes."""
from __future__ import annotations

import sqlite3
import subprocess
import textwrap

import sqlalchemy as sa

from auth_support import ADMIN, ADMIN_PASSWORD, As, assert_error, assert_ok, auth_server, eventually, make_user
from conftest import ROOT, Server, free_port, unique


def start(tmp_path, env: dict) -> subprocess.CompletedProcess:
    """run.sh with a configuration that must stop start-up (it exits by itself)."""
    full = {"PATH": "/usr/bin:/bin", "MLFLOW_PORT": str(free_port()), "MLFLOW_WORKERS": "1", "MLFLOW_APP_NAME": "basic-auth",
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"), **env}
    return subprocess.run([str(ROOT / "run.sh")], env=full, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlflow-server: error:")]
    assert len(lines) == 1 and "traceback" not in result.stderr.lower(), result.stderr
    return lines[0]


def test_there_is_no_default_admin_password(tmp_path):
    line = one_error_line(start(tmp_path, {}))
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in line and "no default" in line
    line = one_error_line(start(tmp_path, {"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}))
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in line and "12 characters" in line


def test_the_admin_is_made_once_and_keeps_its_password(tmp_path):
    with auth_server(tmp_path) as server:
        assert assert_ok(As(server, ADMIN).get("users/current"))["user"]["is_admin"] is True
        assert_ok(As(server, ADMIN).request("PATCH", "users/update-password", json={
            "username": ADMIN, "password": "rotated-password-01", "current_password": ADMIN_PASSWORD}))
    # a restart with the first password configured does not undo the rotation
    restarted = Server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                        "MLFLOW_BACKEND_STORE_URI": server.database,
                        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")}, tmp_path)
    try:
        restarted.wait_ready()
        assert_error(As(restarted, ADMIN).get("users/current"), 401, "UNAUTHENTICATED")
        assert_ok(As(restarted, ADMIN, "rotated-password-01").get("users/current"))
    finally:
        restarted.stop()
    # once the admin exists, no password needs to be configured
    again = Server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_BACKEND_STORE_URI": server.database,
                    "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")}, tmp_path)
    try:
        again.wait_ready()
        assert_ok(As(again, ADMIN, "rotated-password-01").get("users/current"))
    finally:
        again.stop()


def test_the_official_ini_file_and_a_database_of_its_own(tmp_path):
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(textwrap.dedent(f"""\
        [mlflow]
        default_permission = NO_PERMISSIONS
        database_uri = sqlite:///{tmp_path / 'users.db'}
        admin_username = root
        admin_password = ini-password-00001
        authorization_function = mlflow.server.auth:authenticate_request_basic_auth
        """))
    env = {"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_CONFIG_PATH": str(ini),
           "MLFLOW_AUTH_ADMIN_PASSWORD": "env-password-000001",  # the variable wins over the file
           "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")}
    server = Server(env, tmp_path)
    try:
        server.wait_ready()
        assert_error(As(server, "root", "ini-password-00001").get("users/current"), 401, "UNAUTHENTICATED")
        root = As(server, "root", "env-password-000001")
        assert assert_ok(root.get("users/current"))["user"]["is_admin"] is True
        assert_ok(root.post("users/create", json={"username": "ivan", "password": "ivans-password-1"}))
        assert assert_ok(As(server, "ivan", "ivans-password-1").get("experiments/search")) == {}  # sees nothing
    finally:
        server.stop()
    users = set(sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'users.db'}")).get_table_names())
    tracking = set(sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'mlflow.db'}")).get_table_names())
    assert {"users", "roles", "role_permissions", "access_tokens"} <= users and "experiments" not in users
    assert "experiments" in tracking and not users & tracking - {"alembic_version"}


def test_db_upgrade_creates_the_auth_schema(tmp_path):
    env = {k: v for k, v in {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}.items()}
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "db", "upgrade",
                             "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--app-name", "basic-auth",
                             "--auth-database-uri", f"sqlite:///{tmp_path / 'users.db'}"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "auth schema empty -> " in result.stdout
    with sqlite3.connect(tmp_path / "users.db") as database:
        assert database.execute("SELECT version_num FROM auth_alembic_version").fetchone()


CLIENT2_SCRIPT = """
import os, sys
from mlflow.server.auth.client import AuthServiceClient
import mlflow
uri, experiment_id, user = sys.argv[1:4]
client = AuthServiceClient(uri)
created = client.create_experiment_permission(experiment_id, user, "EDIT")
assert (created.experiment_id, created.permission) == (experiment_id, "EDIT"), created.to_json()
assert client.get_experiment_permission(experiment_id, user).permission == "EDIT"
client.update_experiment_permission(experiment_id, user, "MANAGE")
assert client.get_experiment_permission(experiment_id, user).permission == "MANAGE"
client.delete_experiment_permission(experiment_id, user)
try:
    client.get_experiment_permission(experiment_id, user)
    raise SystemExit("the deleted permission is still there")
except mlflow.exceptions.RestException as error:
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST", error
name = "model-" + experiment_id
mlflow.MlflowClient(uri).create_registered_model(name)
client.create_registered_model_permission(name, user, "READ")
assert client.get_registered_model_permission(name, user).permission == "READ"
client.delete_registered_model_permission(name, user)
print("ok")
"""


def test_the_2x_client_manages_permissions(tmp_path):
    with auth_server(tmp_path) as server:
        user = make_user(server)
        experiment_id = assert_ok(As(server, ADMIN).post("experiments/create", json={"name": unique()}))[
            "experiment_id"]
        env = {"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
               "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
        result = subprocess.run([str(ROOT / ".venv-client2" / "bin" / "python"), "-c", CLIENT2_SCRIPT, server.url,
                                 experiment_id, user], env=env, capture_output=True, text=True, timeout=120,
                                cwd=tmp_path)
        assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_a_lost_password_is_set_from_the_servers_machine(tmp_path):
    with auth_server(tmp_path) as server:
        for _ in range(4):  # each worker has the admin's password in its cache
            assert_ok(As(server, ADMIN).get("users/current"))
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "auth", "set-password", ADMIN,
                                 "--backend-store-uri", server.database], input="a-recovered-password\n",
                                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "a-recovered-password" not in result.stdout + result.stderr
        # a change made outside the server reaches every worker within seconds (each As is a new
        # connection, which any worker may take)
        eventually(lambda: [assert_ok(As(server, ADMIN, "a-recovered-password").get("users/current"))
                            for _ in range(4)])
        eventually(lambda: [assert_error(As(server, ADMIN).get("users/current"), 401, "UNAUTHENTICATED")
                            for _ in range(4)])


def test_an_artifacts_only_server_shares_the_tracking_servers_users(tmp_path):
    with auth_server(tmp_path) as tracking:
        user = make_user(tracking)
        proxy = Server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_ARTIFACTS_ONLY": "true",
                        "MLFLOW_BACKEND_STORE_URI": tracking.database,
                        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "proxied")}, tmp_path)
        try:
            proxy.wait_ready()
            in_experiment = "/api/2.0/mlflow-artifacts/artifacts/0/some-run/artifacts/notes.txt"
            assert_error(As(proxy, None).request("PUT", in_experiment, data=b"x"), 401, "UNAUTHENTICATED")
            assert_ok(As(proxy, ADMIN).request("PUT", in_experiment, data=b"by the admin"))
            assert As(proxy, user).get(in_experiment).content == b"by the admin"  # READ by default
            assert_error(As(proxy, user).request("PUT", in_experiment, data=b"x"), 403, "PERMISSION_DENIED")
            assert_error(As(proxy, user).get("/api/2.0/mlflow-artifacts/artifacts/elsewhere/x"), 403)
            assert_error(As(proxy, ADMIN).get("users/current"), 501, "NOT_IMPLEMENTED")  # managed on the tracking server
        finally:
            proxy.stop()
