"""Helpers shared by the artifact tests: a SQLite-backed server per module, raw HTTP that
keeps paths exactly as written, and the memory of a server's process tree."""
from __future__ import annotations

import http.client
import json
import os
import threading
import time
from pathlib import Path

import requests

from conftest import Server

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
SENTINEL = b"SENTINEL-CONTENT-must-never-be-served"


def wait_ready(server: Server, timeout: float = 60) -> Server:
    """server.wait_ready(), patient with a loaded machine that answers /health after the
    poll's one-second read timeout."""
    while True:
        try:
            return server.wait_ready(timeout)
        except requests.ReadTimeout:
            continue


def start_sqlite_server(tmp: Path, env: dict | None = None) -> Server:
    """A server on a fresh SQLite database with its artifacts destination at tmp/artifacts."""
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts"), **(env or {})}, tmp)
    wait_ready(server)
    server.artifacts = tmp / "artifacts"
    return server


class Raw:
    """A response read in full: status, headers, body, and the body as JSON when it is."""

    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.content_type} {self.body[:300]!r}>"


def raw_request(server: Server, method: str, target: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 30) -> Raw:
    """Send `target` as the request line's path byte for byte (no normalisation of '..',
    '//' or percent-escapes, unlike requests/urllib3)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        all_headers = {"Content-Length": str(len(body or b""))} if method in ("PUT", "POST") else {}
        all_headers.update(headers or {})
        for name, value in all_headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        return Raw(conn.getresponse())
    finally:
        conn.close()


def process_group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # fields after comm: state ppid pgrp ...
            pids.append(int(entry))
    return pids


def tree_rss_bytes(pgid: int) -> int:
    """Sum of VmRSS over every process of the server's process group (run.sh's session)."""
    total = 0
    for pid in process_group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total



class RssSampler(threading.Thread):
    """Samples the summed RSS of the server's process group until stopped."""

    def __init__(self, pgid: int):
        super().__init__(daemon=True)
        self.pgid = pgid
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pgid))
            self.samples += 1
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak

# paths as they appear after /api/2.0/mlflow-artifacts/artifacts/ on the request line, each one
# outside the destination (sentinel.txt lies next to it)
TRAVERSALS = [
    "../sentinel.txt",
    "../../sentinel.txt",
    "..",
    "exp/run/artifacts/../../../../sentinel.txt",
    "a/b/../../../sentinel.txt",
    "..%2fsentinel.txt",
    "..%2Fsentinel.txt",
    "%2e%2e%2fsentinel.txt",
    "%2E%2E%2Fsentinel.txt",
    "%2e%2e/sentinel.txt",
    ".%2e/sentinel.txt",
    "x/%2e%2e/%2e%2e/sentinel.txt",
    "%252e%252e%252fsentinel.txt",
    "..%252fsentinel.txt",
    "%25252e%25252e%25252fsentinel.txt",
    "..\\..\\sentinel.txt",
    "..\\sentinel.txt",
    "..%5c..%5csentinel.txt",
    "..%5Csentinel.txt",
    "%2e%2e%5csentinel.txt",
    "..%255csentinel.txt",
    "sentinel.txt%00",
    "..%00/sentinel.txt",
    "a%00b.txt",
    "%2500",
    "C:%5cWindows%5cwin.ini",
    "c:/windows/win.ini",
]


def assert_refused(response, what: str) -> None:
    assert 400 <= response.status < 500, f"{what}: expected a 4xx JSON error, got {response!r}"
    assert response.content_type.startswith("application/json"), f"{what}: not JSON: {response!r}"
    body = response.json()
    assert body.get("error_code") in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "ENDPOINT_NOT_FOUND",
                                      "RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED"), f"{what}: {body}"
    assert body.get("message"), f"{what}: {body}"
    assert SENTINEL not in response.body, f"{what}: served a file from outside the destination"
