"""SIGTERM drains: a request in flight when the signal arrives completes, then the server
exits 0 within the graceful timeout."""
from __future__ import annotations

import hashlib
import http.client
import os
import signal
import threading
import time

import requests

from server_support import port_listening

SIZE = 200 * 1024 * 1024
CHUNK = 1024 * 1024
TARGET = "/api/2.0/mlflow-artifacts/artifacts/drain/big.bin"


def slow_upload(port: int, result: dict, started: threading.Event) -> None:
    """PUT 200 MB over ~5 s (1 MB chunks with short pauses)."""
    try:
        block = os.urandom(CHUNK)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.putrequest("PUT", TARGET)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(SIZE))
        conn.endheaders()
        digest = hashlib.sha256()
        for i in range(SIZE // CHUNK):
            conn.send(block)
            digest.update(block)
            if i == 10:
                started.set()
            time.sleep(0.025)
        response = conn.getresponse()
        result["status"] = response.status
        result["body"] = response.read()
        result["sha256"] = digest.hexdigest()
        result["finished"] = time.monotonic()
    except Exception as error:  # reported by the test
        result["error"] = repr(error)
    finally:
        started.set()


def test_sigterm_lets_in_flight_upload_finish_and_exits_zero(start_server, tmp_path):
    server = start_server(env={"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    result: dict = {}
    started = threading.Event()
    uploader = threading.Thread(target=slow_upload, args=(server.port, result, started), daemon=True)
    uploader.start()
    assert started.wait(30)
    time.sleep(0.3)
    assert "error" not in result, result
    assert "status" not in result, "the upload finished before SIGTERM could be sent; make it slower"

    signalled = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)  # run.sh execs python: this is the gunicorn master
    uploader.join(60)
    assert not uploader.is_alive()
    assert "error" not in result, f"in-flight upload failed after SIGTERM: {result['error']}\n{server.log()}"
    assert result["status"] == 200, result
    assert result["finished"] > signalled

    code = server.process.wait(timeout=25)
    assert code == 0, server.log()
    assert time.monotonic() - signalled < 25
    assert not port_listening(server.port)

    stored = tmp_path / "artifacts" / "drain" / "big.bin"
    assert stored.stat().st_size == SIZE
    digest = hashlib.sha256()
    with open(stored, "rb") as f:
        while chunk := f.read(4 * CHUNK):
            digest.update(chunk)
    assert digest.hexdigest() == result["sha256"]


def test_sigterm_on_idle_server_exits_zero_quickly(start_server, tmp_path):
    server = start_server(env={"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=25) == 0, server.log()
    assert time.monotonic() - started < 10


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _sigterm_pending(pid: int) -> bool:
    """Whether a SIGTERM sent to the process waits for it (stopped, or blocked)."""
    with open(f"/proc/{pid}/status") as f:
        pending = next(line for line in f if line.startswith("ShdPnd:"))
    return bool(int(pending.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def test_sigterm_reaches_a_worker_held_up_in_its_start(start_server, tmp_path):
    """A worker held up in its first moments (on a busy machine; here by SIGSTOP, sent as soon
    as it is forked) takes the master's SIGTERM once it runs again: the server exits in
    seconds, not when the master kills the worker at the graceful timeout."""
    server = start_server(env={"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
                               "MLFLOW_WORKERS": "1"}, wait=False)
    deadline = time.monotonic() + 30
    while "Using worker" not in server.log():  # gunicorn's master is about to fork
        assert server.process.poll() is None and time.monotonic() < deadline, server.log()
        time.sleep(0.001)
    while not (workers := _children(server.process.pid)):
        assert time.monotonic() < deadline, server.log()
    worker = workers[0]
    os.kill(worker, signal.SIGSTOP)
    os.kill(server.process.pid, signal.SIGTERM)
    while not _sigterm_pending(worker):  # the master has passed the SIGTERM on
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.01)
    os.kill(worker, signal.SIGCONT)
    resumed = time.monotonic()
    assert server.process.wait(timeout=25) == 0, server.log()
    assert time.monotonic() - resumed < 10, server.log()
