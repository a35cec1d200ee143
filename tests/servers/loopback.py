"""A test server process on 127.0.0.1: started in its own session, polled until it answers,
stopped by its process id. `unavailable` skips (or, under CI=true, fails) when it cannot run."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from conftest import CI


class LoopbackServer:
    def __init__(self, name: str, argv: list[str], log_path: Path, ready: Callable[[], bool],
                 timeout: float = 20):
        self.name = name
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers(ready):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start (exit code {self.process.returncode}): {tail}")
            time.sleep(0.05)

    @staticmethod
    def _answers(ready: Callable[[], bool]) -> bool:
        try:
            return ready()
        except OSError:  # connection refused while it starts; requests' errors are OSErrors too
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def unavailable(reason: str):
    """Skip the tests that need a server that cannot run here; CI must run them all."""
    if CI:
        pytest.fail(reason + "; CI must run every artifact store's tests")
    pytest.skip(reason)
