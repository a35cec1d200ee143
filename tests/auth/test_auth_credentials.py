"""How users sign in: passwords (hashed, checked on every worker after a change), access tokens
with the official client's MLFLOW_TRACKING_TOKEN, a trusted proxy's header, and the limit on
failed sign-ins from one address."""
from __future__ import annotations

import http.client
import json
import sqlite3

import mlflow
import pytest
from mlflow.exceptions import RestException

from auth_support import (
    ADMIN, ADMIN_PASSWORD, PASSWORD, As, assert_error, assert_ok, auth_server, eventually, make_user,
)
from conftest import unique

V3 = "/api/3.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with auth_server(tmp_path_factory.mktemp("credentials")) as server:
        yield server


def test_passwords_are_stored_hashed_and_never_logged(server):
    name = make_user(server)
    database = sqlite3.connect(server.database.removeprefix("sqlite:///"))
    stored = dict(database.execute("SELECT username, password_hash FROM users").fetchall())
    assert stored[name].startswith("$argon2id$") and PASSWORD.format(name) not in stored[name]
    assert stored[ADMIN].startswith("$argon2id$")
    As(server, name, "a-wrong-password-1").get("users/current")
    log = server.log()
    for secret in (PASSWORD.format(name), ADMIN_PASSWORD, "a-wrong-password-1"):
        assert secret not in log


def test_a_changed_password_applies_on_every_worker_at_once(server):
    """The server runs 2 workers: each request may reach either, and each remembers checked
    passwords; none may accept the old one once it changed, nor a deleted user."""
    name = make_user(server)
    for _ in range(8):
        assert_ok(As(server, name).get("users/current"))
    assert_ok(As(server, ADMIN).request("PATCH", "users/update-password",
                                        json={"username": name, "password": "a-new-password-01"}))
    for _ in range(4):  # (10 failures in a minute would be refused: see the last tests)
        assert_error(As(server, name).get("users/current"), 401, "UNAUTHENTICATED")
        assert_ok(As(server, name, "a-new-password-01").get("users/current"))
    assert_ok(As(server, ADMIN).request("DELETE", "users/delete", json={"username": name}))
    for _ in range(4):
        assert_error(As(server, name, "a-new-password-01").get("users/current"), 401, "UNAUTHENTICATED")


def test_access_tokens_with_the_official_client(server, monkeypatch, tmp_path):
    name = make_user(server)
    created = assert_ok(As(server, name).post("users/tokens/create", json={"name": "ci", "expires_in_days": 7}))
    secret, token = created["secret"], created["token"]
    assert secret.startswith("mlft_") and token["name"] == "ci"
    assert token["expiration_time"] - token["creation_time"] == 7 * 24 * 3600 * 1000
    listed = assert_ok(As(server, name).get("users/tokens/list"))["tokens"]
    assert listed == [token] and secret not in json.dumps(listed)
    # the client sends it as a Bearer token; what it creates, its owner manages
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for variable in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    client = mlflow.MlflowClient(server.url)
    experiment_id = client.create_experiment(unique())
    client.log_metric(client.create_run(experiment_id).info.run_id, "m", 1.0)
    assert assert_ok(As(server, name).get("/api/3.0/mlflow/users/permissions/get", params={
        "username": name, "resource_type": "experiment", "resource_id": experiment_id}))["permission"] == "MANAGE"
    # tools that speak only Basic may send it as the password
    assert assert_ok(As(server, "anyone", secret).get("users/current"))["user"]["username"] == name
    # another user's tokens are not his to see or revoke; an admin's are
    other = make_user(server)
    assert_error(As(server, other).get("users/tokens/list", params={"username": name}), 403, "PERMISSION_DENIED")
    assert_error(As(server, other).request("DELETE", "users/tokens/delete", json={"id": token["id"]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert assert_ok(As(server, ADMIN).get("users/tokens/list", params={"username": name}))["tokens"] == [token]
    assert_ok(As(server, name).request("DELETE", "users/tokens/delete", json={"id": token["id"]}))
    with pytest.raises(RestException) as revoked:
        client.get_experiment(experiment_id)
    assert revoked.value.error_code == "UNAUTHENTICATED"
    assert_error(As(server, None, token=secret).get("users/current"), 401, "UNAUTHENTICATED")


def test_tokens_expire(server):
    name = make_user(server)
    created = assert_ok(As(server, name).post("users/tokens/create", json={"name": "short", "expires_in_days": 1}))
    assert_ok(As(server, None, token=created["secret"]).get("users/current"))
    # a day cannot pass in a test: the token's expiry is moved into the past in the database,
    # as a change made outside the server (it counts as one)
    database = sqlite3.connect(server.database.removeprefix("sqlite:///"))
    with database:
        database.execute("UPDATE access_tokens SET expiration_time = 1 WHERE id = ?", (created["token"]["id"],))
        database.execute("UPDATE auth_state SET generation = generation + 1")
    body = eventually(lambda: assert_error(As(server, None, token=created["secret"]).get("users/current"), 401))
    assert body["error_code"] == "UNAUTHENTICATED" and "expired" in body["message"]
    for days in (0, 3651, "soon"):
        response = As(server, name).post("users/tokens/create", json={"name": f"bad-{days}", "expires_in_days": days})
        assert_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_a_body_sent_without_credentials_does_not_break_the_connection(server):
    """The 401 comes before the body is read; the body is read anyway, so the next request on
    the kept-alive connection is understood."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"experiment_id": "0", "tags": [{"key": "k", "value": "v" * 100_000}]})
    connection.request("POST", "/api/2.0/mlflow/runs/create", body, {"Content-Type": "application/json"})
    first = connection.getresponse()
    assert first.status == 401
    first.read()
    connection.request("GET", "/health")
    second = connection.getresponse()
    assert (second.status, second.read()) == (200, b"OK")


def test_repeated_failed_sign_ins_from_one_address_are_refused_for_a_while(tmp_path):
    """Each worker counts failures per address and username; with one worker, the 11th attempt
    for one user within a minute is refused with 429 and Retry-After, even with the right
    password, while other users of the address may still sign in."""
    with auth_server(tmp_path, MLFLOW_WORKERS="1") as server:
        for _ in range(10):
            assert_error(As(server, ADMIN, "not-the-password").get("users/current"), 401, "UNAUTHENTICATED")
        refused = As(server, ADMIN).get("users/current")
        assert_error(refused, 429, "REQUEST_LIMIT_EXCEEDED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert_error(As(server, "someone-else", "not-the-password").get("users/current"), 401, "UNAUTHENTICATED")


def test_a_trusted_proxy_names_the_user(tmp_path):
    with auth_server(tmp_path, MLFLOW_AUTH_PROXY_HEADER="X-Forwarded-User",
                     MLFLOW_AUTH_TRUSTED_PROXIES="127.0.0.1") as server:
        proxied = As(server, None)
        proxied.session.headers["X-Forwarded-User"] = "hana@example.com"
        user = assert_ok(proxied.get("users/current"))["user"]
        assert (user["username"], user["is_admin"]) == ("hana@example.com", False)
        experiment_id = assert_ok(proxied.post("experiments/create", json={"name": unique()}))["experiment_id"]
        assert_error(As(server, make_user(server)).post("experiments/delete", json={"experiment_id": experiment_id}),
                     403, "PERMISSION_DENIED")
        assert_ok(proxied.post("experiments/delete", json={"experiment_id": experiment_id}))
        # a user the proxy made has no password to sign in with directly
        assert_error(As(server, "hana@example.com", "").get("users/current"), 401, "UNAUTHENTICATED")
        assert_ok(As(server, ADMIN).get("users/current"))  # Basic still works beside it
    (tmp_path / "untrusted").mkdir()
    with auth_server(tmp_path / "untrusted", MLFLOW_AUTH_PROXY_HEADER="X-Forwarded-User",
                     MLFLOW_AUTH_TRUSTED_PROXIES="10.9.9.9") as server:
        spoofed = As(server, None)
        spoofed.session.headers["X-Forwarded-User"] = ADMIN
        assert_error(spoofed.get("users/current"), 401, "UNAUTHENTICATED")
        assert "not a trusted proxy" in server.log()
