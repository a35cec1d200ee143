"""Azurite, Microsoft's Azure Blob Storage emulator (installed by install-azurite.sh), on a
free loopback port with the emulator's well-known development account. Azurite checks the
account key's signature: a wrong key is refused (AuthorizationFailure)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from conftest import free_port
from servers.loopback import LoopbackServer, unavailable

BINARY = Path(__file__).resolve().parent / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key, the same on every installation
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite(LoopbackServer):
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        (tmp / "azurite").mkdir(exist_ok=True)
        argv = [str(BINARY), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                "--location", str(tmp / "azurite"), "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
        super().__init__("Azurite", argv, tmp / f"azurite-{self.port}.log",
                         lambda: requests.get(self.endpoint, timeout=1).status_code > 0)

    def connection_string(self, key: str = KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.endpoint};")

    def env(self, key: str = KEY) -> dict:
        """What a server or client process needs to reach this account."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string(key)}

    def service(self):
        from azure.storage.blob import BlobServiceClient
        return BlobServiceClient.from_connection_string(self.connection_string())

    def create_container(self) -> str:
        name = f"container-{uuid.uuid4().hex[:12]}"
        self.service().create_container(name)
        return name

    def blobs(self, container: str) -> dict[str, str]:
        """{name: ETag} of every blob in the container."""
        return {b.name: b.etag for b in self.service().get_container_client(container).list_blobs()}


def start_azurite(tmp: Path) -> Azurite:
    """Azurite on a free port, or a skip (a fail under CI) naming what is missing."""
    if not BINARY.exists():
        unavailable(f"Azurite is not installed ({BINARY} is missing): run tests/servers/install-azurite.sh")
    return Azurite(tmp)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """One Azurite for the test session (import this fixture into a test module)."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()
