"""Helpers for the server-process tests: run.sh with separate stdout/stderr, waiting for a
URL, and whether a port is listening."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import ROOT, RUN_SH

APP_PYTHON = ROOT / ".venv" / "bin" / "python"


def clean_env(env: dict | None = None) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full.update(env or {})
    return full


def run_sh(env: dict, args: list[str] | None = None, cwd: Path | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ./run.sh to completion (it must exit by itself) and capture both streams."""
    return subprocess.run([str(RUN_SH), *(args or [])], cwd=cwd, env=clean_env(env), capture_output=True,
                          text=True, timeout=timeout, start_new_session=True)


def app_cli(args: list[str], cwd: Path | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m app ...` with the server's own interpreter, as the README documents."""
    full = clean_env(env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run([str(APP_PYTHON), "-m", "app", *args], cwd=cwd or ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def port_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_http(url: str, timeout: float = 30, process: subprocess.Popen | None = None,
              headers: dict | None = None, log=None) -> requests.Response:
    """Poll url until it answers 200 (or the process exits, which fails)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log() if log else ''}")
        try:
            last = requests.get(url, timeout=2, headers=headers)
            if last.status_code == 200:
                return last
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s (last: {last!r})\n{log() if log else ''}")


def import_options():
    """app.options needs only the standard library, so the test venv can import it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app.options
    return app.options
