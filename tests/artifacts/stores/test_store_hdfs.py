"""The store contract on HDFS through WebHDFS. No real HDFS can run here (it needs a JVM and
Hadoop), so the namenode and datanode are tests/servers/webhdfs.py, a stand-in that follows
Hadoop's published WebHDFS REST contract (redirects to a datanode, RemoteException errors,
user.name) on a temporary folder."""
from __future__ import annotations

import uuid

import pytest
import requests

from artifacts.artifact_support import PROXY
from conftest import free_port
from servers.webhdfs import webhdfs  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"


def _env(tmp_path, **env) -> dict:
    return {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", **env}


@pytest.fixture(scope="module")
def hdfs_store(webhdfs, tmp_path_factory):
    """hdfs://namenode:8020/... (an RPC address) with the namenode's HTTP address configured."""
    base = f"store-{uuid.uuid4().hex[:10]}"
    parent = webhdfs.data / base
    parent.mkdir()
    (parent / "sentinel.txt").write_bytes(SENTINEL)
    server = store_server(tmp_path_factory.mktemp("store-hdfs"), f"hdfs://namenode.invalid:8020/{base}/root",
                          env={"MLFLOW_HDFS_WEBHDFS_URL": webhdfs.url, "MLFLOW_HDFS_USER": webhdfs.user})
    server.outside = lambda: {p.relative_to(parent).as_posix(): p.read_bytes()
                              for p in parent.rglob("*") if p.is_file() and parent / "root" not in p.parents}
    yield server
    server.stop()


def test_round_trip(hdfs_store):
    check_round_trip(hdfs_store)


def test_listing(hdfs_store):
    check_listing(hdfs_store)


def test_delete(hdfs_store):
    check_delete(hdfs_store)


def test_missing_file(hdfs_store):
    check_missing_file(hdfs_store)


def test_traversal(hdfs_store):
    check_traversal(hdfs_store, hdfs_store.outside)


def test_official_client(hdfs_store, tmp_path):
    check_official_client(hdfs_store, tmp_path)


def test_large_file_streams_with_flat_memory(hdfs_store):
    check_large_transfer(hdfs_store)


def test_latest_marker_is_refused(hdfs_store):
    """The hdfs package expands '#LATEST' to a folder's newest entry: such a path would write elsewhere."""
    response = requests.put(f"{hdfs_store.url}{PROXY}/folder/%23LATEST", data=b"x", timeout=60)
    assert response.status_code == 400 and "#LATEST" in response.json()["message"], response.text


def test_webhdfs_uri_is_the_namenode_http_address(webhdfs, start_server, tmp_path):
    lake = f"lake-{uuid.uuid4().hex[:10]}"
    server = start_server(_env(tmp_path, MLFLOW_ARTIFACTS_DESTINATION=f"webhdfs://127.0.0.1:{webhdfs.port}/{lake}",
                               MLFLOW_HDFS_USER=webhdfs.user))
    check_listing(server)
    assert all(p.name.startswith(("checks-", ".upload-")) for p in (webhdfs.data / lake).iterdir())


def test_user_without_access(webhdfs, start_server, tmp_path):
    server = start_server(_env(tmp_path, MLFLOW_ARTIFACTS_DESTINATION=f"webhdfs://127.0.0.1:{webhdfs.port}/root",
                               MLFLOW_HDFS_USER="intruder"))
    check_store_error(server, secrets=[], names=[f"webhdfs://127.0.0.1:{webhdfs.port}/root",
                                                 "AccessControlException", "user=intruder"], statuses=[403])


def test_unreachable_namenode(start_server, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    server = start_server(_env(tmp_path, MLFLOW_ARTIFACTS_DESTINATION="hdfs://namenode.invalid/root",
                               MLFLOW_HDFS_WEBHDFS_URL=url))
    check_store_error(server, secrets=[], names=["hdfs://namenode.invalid/root", f"cannot reach WebHDFS at {url}",
                                                 "Connection refused"], statuses=[503])


@pytest.mark.parametrize("env, words", [
    ({"MLFLOW_ARTIFACTS_DESTINATION": "hdfs:///root"}, ["names no namenode", "MLFLOW_HDFS_WEBHDFS_URL"]),
    ({"MLFLOW_ARTIFACTS_DESTINATION": "hdfs://nn/root", "MLFLOW_HDFS_WEBHDFS_URL": "nn:9870"},
     ["MLFLOW_HDFS_WEBHDFS_URL", "'nn:9870'"]),
    ({"MLFLOW_ARTIFACTS_DESTINATION": "hdfs://nn/root", "MLFLOW_KERBEROS_USER": "mlflow@EXAMPLE.COM"},
     ["MLFLOW_KERBEROS_USER", "hdfs[kerberos]"]),
])
def test_bad_settings_stop_start_up(env, words, start_server, tmp_path):
    server = start_server(_env(tmp_path, **env), wait=False)
    assert server.settle() is False, server.log()
    line = server.log().strip().splitlines()[-1]
    for word in words:
        assert word in line, line
