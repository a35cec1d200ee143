"""Servers with basic-auth on, and the official client or plain HTTP as one user or another."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import requests

from api_checks import assert_error, assert_ok  # noqa: F401
from conftest import Server, backend_uri, unique  # noqa: F401

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-0001"
PASSWORD = "password-of-{}-0001"  # every test user's password: PASSWORD.format(name)


def auth_env(tmp: Path, backend: str, **extra) -> dict:
    return {"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "MLFLOW_BACKEND_STORE_URI": backend,
            "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts"), **extra}


@contextlib.contextmanager
def auth_server(tmp: Path, kind: str = "sqlite", **extra):
    """A started server with basic-auth on, on a new database of the kind; `.backend` names it."""
    uri, cleanup = backend_uri(kind, tmp)
    server = Server(auth_env(tmp, uri, **extra), tmp)
    try:
        server.wait_ready()
        server.backend, server.database = kind, uri
        yield server
    finally:
        server.stop()
        cleanup()


class As:
    """Plain HTTP to the server's REST API as one user (None: without credentials)."""

    def __init__(self, server: Server, user: str | None, password: str | None = None, token: str | None = None):
        self.url, self.base = server.url, f"{server.url}/api/2.0/mlflow/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif user:
            self.session.auth = (user, password or (ADMIN_PASSWORD if user == ADMIN else PASSWORD.format(user)))

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """path: below /api/2.0/mlflow/, or from the server's root when it starts with '/'."""
        url = self.url + path if path.startswith("/") else self.base + path
        return self.session.request(method, url, timeout=30, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


def eventually(check, seconds: float = 5.0):
    """check() until it passes (a change made outside the server reaches its workers within
    app.services.auth.RECHECK_SECONDS); its last failure otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def make_user(server: Server, name: str | None = None) -> str:
    name = name or unique("user")
    assert_ok(As(server, ADMIN).post("users/create", json={"username": name, "password": PASSWORD.format(name)}))
    return name


@pytest.fixture
def signed_in(monkeypatch):
    """signed_in(user) -> the official client signs in as that user (ADMIN for the admin)
    for the rest of the test, or until the next call."""
    def sign_in(user: str, password: str | None = None):
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD",
                           password or (ADMIN_PASSWORD if user == ADMIN else PASSWORD.format(user)))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return sign_in
