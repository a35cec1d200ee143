"""What the gc tests share: a server that records the backend URI and artifacts destination
gc is given, and gc run as an operator runs it."""
from __future__ import annotations

import contextlib

from artifacts.artifact_support import wait_ready
from conftest import Server, backend_uri
from server.server_support import app_cli


@contextlib.contextmanager
def gc_server(kind: str, tmp):
    """A server on a fresh database of the kind, its artifacts in tmp/artifacts; stopped, and its
    database dropped, on exit."""
    uri, cleanup = backend_uri(kind, tmp)
    srv = Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    try:
        wait_ready(srv)
        srv.backend_uri, srv.destination = uri, str(tmp / "artifacts")
        yield srv
    finally:
        srv.stop()
        cleanup()


def gc(srv, *args: str, env: dict | None = None):
    return app_cli(["gc", "--backend-store-uri", srv.backend_uri, "--artifacts-destination", srv.destination,
                    *args], env=env)
