"""Fixtures that start the real server through run.sh, as a user would, on a free port.

Databases: SQLite always; PostgreSQL (127.0.0.1:5432) and MariaDB/MySQL (127.0.0.1:3306)
when reachable. The suite creates and drops its own databases there. When one is not
reachable the tests that need it skip with the reason, except under CI=true, where they fail.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
RUN_SH = ROOT / "run.sh"
PG = {"host": "127.0.0.1", "port": 5432, "user": os.environ.get("TEST_PG_USER", "postgres")}
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process started by run.sh; `url` is its base URL."""

    def __init__(self, env: dict, cwd: Path, args: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd = cwd
        self.log_path = cwd / f"server-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        full_env.update({"MLFLOW_PORT": str(self.port), "MLFLOW_WORKERS": "2"})
        full_env.update(env)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([str(RUN_SH), *(args or [])], cwd=cwd, env=full_env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def settle(self, timeout: float = 30) -> bool | None:
        """Wait until the server answers /health (True), exits (False) or the time is up (None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                pass
            time.sleep(0.05)
        return None

    def wait_ready(self, timeout: float = 30) -> "Server":
        state = self.settle(timeout)
        if state is True:
            return self
        if state is False:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
        self.stop()
        raise RuntimeError(f"server did not answer /health within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _unavailable(what: str, error: Exception):
    message = f"{what} is not reachable ({str(error).strip().splitlines()[0]})"
    if CI:
        pytest.fail(message + "; CI must run the tests of every database")
    pytest.skip(message)


def create_postgres_database() -> tuple[str, callable]:
    import psycopg2
    name = f"mlflow_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg2.connect(dbname="test", connect_timeout=3, **PG)
    except psycopg2.OperationalError as error:
        _unavailable("PostgreSQL on 127.0.0.1:5432", error)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop():
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
    return f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}", drop


def create_mysql_database() -> tuple[str, callable]:
    import pymysql
    name = f"mlflow_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = pymysql.connect(connect_timeout=3, autocommit=True, **MYSQL)
    except pymysql.MySQLError as error:
        _unavailable("MariaDB/MySQL on 127.0.0.1:3306", error)
    conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

    def drop():
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    return f"mysql://{MYSQL['user']}@{MYSQL['host']}:{MYSQL['port']}/{name}", drop


def backend_uri(kind: str, tmp: Path):
    """(URI, cleanup) of a fresh database of the kind: sqlite, postgresql or mysql."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'mlflow.db'}", lambda: None
    if kind == "postgresql":
        return create_postgres_database()
    return create_mysql_database()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture
def start_server(tmp_path):
    """start_server(env=None, args=None, wait=True) -> Server, stopped at teardown."""
    started = []

    def start(env: dict | None = None, args: list[str] | None = None, wait: bool = True) -> Server:
        server = Server(env or {}, tmp_path, args)
        started.append(server)
        return server.wait_ready() if wait else server
    yield start
    for server in started:
        server.stop()


@contextlib.contextmanager
def started_server(kind: str, tmp: Path, env: dict | None = None):
    """A server on a fresh database of the kind, with proxied artifacts in tmp/artifacts (and
    `env` besides); stopped, and its database dropped, on exit."""
    uri, cleanup = backend_uri(kind, tmp)
    srv = Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts"),
                  **(env or {})}, tmp)
    try:
        srv.wait_ready()
        srv.backend = kind
        srv.artifacts = tmp / "artifacts"
        yield srv
    finally:
        srv.stop()
        cleanup()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """One server per test module and backend, with proxied artifacts in a temp folder."""
    with started_server(request.param, tmp_path_factory.mktemp(f"server-{request.param}")) as srv:
        yield srv


@pytest.fixture
def client(server, monkeypatch):
    """The official MLflow client pointed at the module's server."""
    import mlflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    yield mlflow.MlflowClient(server.url)
    if mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def api(server):
    """Raw HTTP against the module's server: api.post('runs/create', json=...) etc."""
    class Api:
        base = f"{server.url}/api/2.0/mlflow/"

        def get(self, path, **kw):
            return requests.get(self.base + path, timeout=30, **kw)

        def post(self, path, **kw):
            return requests.post(self.base + path, timeout=30, **kw)

        def request(self, method, path, **kw):
            return requests.request(method, self.base + path, timeout=30, **kw)
    return Api()


def unique(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (make test runs `-n 2`), a module's tests stay on one worker, so its
    module-scoped servers start once; the container tests, which build and run the same images,
    all go to one worker, and so do the browser tests: a container's network coming up makes
    Chromium fail its page loads with ERR_NETWORK_CHANGED."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "tests/container" if module.startswith(("tests/container/", "tests/ui/")) else module
    return ByModule(config, log)
