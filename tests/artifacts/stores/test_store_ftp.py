"""The store contract on FTP: vsftpd, a real FTP daemon without MLSD, as the proxy's
destination (ftp://user:password@127.0.0.1:port/path, the path under the FTP user's home)."""
from __future__ import annotations

import shutil
import uuid

import pytest

from conftest import free_port
from servers.vsftpd import FTP_PASSWORD, vsftpd  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"
WRONG_PASSWORD = "wrong-ftp-password-must-not-leak"


@pytest.fixture(scope="module")
def ftp_folder(vsftpd):
    """A fresh folder in the FTP user's home: (its path on the server, its local path)."""
    name = f"store-{uuid.uuid4().hex[:10]}"
    local = vsftpd.home / name
    local.mkdir()
    shutil.chown(local, vsftpd.user)
    yield f"/{name}", local
    shutil.rmtree(local, ignore_errors=True)


@pytest.fixture(scope="module")
def ftp_store(vsftpd, ftp_folder, tmp_path_factory):
    path, parent = ftp_folder
    (parent / "sentinel.txt").write_bytes(SENTINEL)
    server = store_server(tmp_path_factory.mktemp("store-ftp"), vsftpd.url(f"{path}/root"))
    server.outside = lambda: {p.relative_to(parent).as_posix(): p.read_bytes()
                              for p in parent.rglob("*") if p.is_file() and parent / "root" not in p.parents}
    yield server
    server.stop()


def test_round_trip(ftp_store):
    check_round_trip(ftp_store)


def test_listing(ftp_store):
    check_listing(ftp_store)


def test_delete(ftp_store):
    check_delete(ftp_store)


def test_missing_file(ftp_store):
    check_missing_file(ftp_store)


def test_traversal(ftp_store):
    check_traversal(ftp_store, ftp_store.outside)


def test_official_client(ftp_store, tmp_path):
    check_official_client(ftp_store, tmp_path)


def test_large_file_streams_with_flat_memory(ftp_store):
    check_large_transfer(ftp_store)


def test_wrong_password(vsftpd, ftp_folder, start_server, tmp_path):
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": vsftpd.url(f"{ftp_folder[0]}/root", WRONG_PASSWORD)})
    check_store_error(server, secrets=[WRONG_PASSWORD, FTP_PASSWORD],
                      names=[f"ftp://127.0.0.1:{vsftpd.port}{ftp_folder[0]}/root", "530 Login incorrect"],
                      statuses=[403])


def test_unreachable_host(start_server, tmp_path):
    port = free_port()
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"ftp://someone:{WRONG_PASSWORD}@127.0.0.1:{port}/root"})
    check_store_error(server, secrets=[WRONG_PASSWORD], names=[f"ftp://127.0.0.1:{port}/root", "Connection refused"],
                      statuses=[503])
