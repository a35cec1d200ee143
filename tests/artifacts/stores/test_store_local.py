"""The store contract on a local folder (what an NFS mount is to the server). Set
MLFLOW_TEST_NFS_DIR to an existing folder on a real NFS mount to run the same checks there."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_traversal, store_server)

SENTINEL = b"outside the destination"


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store-local")
    parent = Path(os.environ.get("MLFLOW_TEST_NFS_DIR") or tmp)
    destination = parent / f"artifacts-{uuid.uuid4().hex[:8]}"
    (parent / "sentinel.txt").write_bytes(SENTINEL)
    server = store_server(tmp, str(destination))
    server.outside = lambda: {p.relative_to(parent).as_posix(): p.read_bytes()
                              for p in parent.rglob("*") if p.is_file() and destination not in p.parents
                              and p.suffix not in (".log", ".db", ".db-wal", ".db-shm")}
    yield server
    server.stop()


def test_round_trip(local_store):
    check_round_trip(local_store)


def test_listing(local_store):
    check_listing(local_store)


def test_delete(local_store):
    check_delete(local_store)


def test_missing_file(local_store):
    check_missing_file(local_store)


def test_traversal(local_store):
    check_traversal(local_store, local_store.outside)


def test_official_client(local_store, tmp_path):
    check_official_client(local_store, tmp_path)


def test_large_file_streams_with_flat_memory(local_store):
    check_large_transfer(local_store)
