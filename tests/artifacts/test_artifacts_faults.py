"""Faults of the artifact proxy against real servers: an upload cut off by a killed worker
leaves no staged file for good, a full disk is a clear error the client does not retry, and
paths a store cannot hold are refused with 400. Each store that stages uploads beside its
files (local, FTP, SFTP, HDFS) is checked; their test servers keep the files in local
folders, which the tests read and age directly."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from artifact_support import PROXY, process_group_pids, raw_request, wait_ready
from conftest import Server, unique
from servers.azurite import ACCOUNT, azurite  # noqa: F401 (fixtures, started only by the tests that ask for them)
from servers.fake_gcs import fake_gcs  # noqa: F401
from servers.moto import moto_s3  # noqa: F401
from servers.loopback import unavailable
from servers.sshd import sshd  # noqa: F401
from servers.vsftpd import vsftpd  # noqa: F401
from servers.webhdfs import webhdfs  # noqa: F401

STAGED = ".upload-"  # the name prefix of uploads in progress (app/artifacts/base.py)
# Older than the bound after which any store treats a staged file as abandoned.
BACKDATE = 3 * 24 * 3600
MB = 1024 * 1024


@dataclass
class Store:
    destination: str
    root: Path  # the local folder that holds the store's root
    env: dict = field(default_factory=dict)


def _local(request, tmp: Path) -> Store:
    return Store(str(tmp / "artifacts"), tmp / "artifacts")


def _ftp(request, tmp: Path) -> Store:
    server = request.getfixturevalue("vsftpd")
    name = f"faults-{uuid.uuid4().hex[:10]}"
    (server.home / name).mkdir()
    os.chown(server.home / name, *_ids(server.home))
    return Store(server.url(f"/{name}/root"), server.home / name / "root")


def _sftp(request, tmp: Path) -> Store:
    server = request.getfixturevalue("sshd")
    home = server.ssh_home(tmp / "home", "artifact-host")
    return Store(f"sftp://artifact-host{tmp}/sftp/root", tmp / "sftp" / "root", {"HOME": str(home)})


def _hdfs(request, tmp: Path) -> Store:
    server = request.getfixturevalue("webhdfs")
    name = f"faults-{uuid.uuid4().hex[:10]}"
    return Store(f"hdfs://namenode.invalid:8020/{name}/root", server.data / name / "root",
                 {"MLFLOW_HDFS_WEBHDFS_URL": server.url, "MLFLOW_HDFS_USER": server.user})


def _ids(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


STORES = {"local": _local, "ftp": _ftp, "sftp": _sftp, "hdfs": _hdfs}


@pytest.fixture(params=list(STORES))
def store(request, tmp_path) -> Store:
    return STORES[request.param](request, tmp_path)


def _start(tmp: Path, store: Store, **env) -> Server:
    return wait_ready(Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                              "MLFLOW_ARTIFACTS_DESTINATION": store.destination, **store.env, **env}, tmp))


@pytest.fixture
def servers():
    """A list to put started servers in; they are stopped at the end of the test."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _staged_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{STAGED}*") if p.is_file()] if root.exists() else []


def _slow_put(server: Server, rel: str, announced: int, first: bytes) -> socket.socket:
    """A PUT announcing `announced` bytes that sends only `first` for now; the caller owns the socket."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"PUT {PROXY}/{rel} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n"
                 f"Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n".encode())
    sock.sendall(first)
    return sock


def _wait_staged(root: Path, size: int, timeout: float = 20) -> Path:
    """The one staged file under root, once it holds `size` bytes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staged = [p for p in _staged_files(root) if p.stat().st_size >= size]
        if staged:
            assert len(staged) == 1, staged
            return staged[0]
        time.sleep(0.05)
    raise AssertionError(f"no staged file of {size} bytes under {root}: {_staged_files(root)}")


def _workers(server: Server) -> list[int]:
    """The gunicorn workers: run.sh execs the master, whose children they are."""
    return [pid for pid in process_group_pids(server.process.pid)
            if pid != server.process.pid
            and int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == server.process.pid]


def _age(path: Path) -> None:
    old = time.time() - BACKDATE
    os.utime(path, (old, old))


def _put(server: Server, rel: str, data: bytes) -> requests.Response:
    return requests.put(f"{server.url}{PROXY}/{quote(rel)}", data=data, timeout=60)


def test_upload_cut_off_by_a_killed_worker_is_removed_after_a_restart(store, tmp_path, servers):
    servers.append(server := _start(tmp_path, store, MLFLOW_WORKERS="1"))
    sent = os.urandom(MB)
    with _slow_put(server, "killed/big.bin", 10 * MB, sent):
        staged = _wait_staged(store.root, len(sent))
        (worker,) = _workers(server)
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.5)
    server.stop()
    assert staged.exists() and staged.stat().st_size == len(sent), "the kill left no partial staged file"
    # nothing has written to it for longer than any bound: after a restart the first upload
    # (of any path) sweeps it away
    _age(staged)
    servers.append(server := _start(tmp_path, store))
    assert _put(server, "after/restart.txt", b"x").status_code == 200
    assert _staged_files(store.root) == [], "the abandoned upload's staged file is still there"
    assert not (store.root / "killed" / "big.bin").exists()
    assert requests.get(f"{server.url}{PROXY}", params={"path": "killed"}, timeout=30).json() == {}


def test_the_sweep_spares_an_upload_in_progress(tmp_path, servers):
    """Two servers on one local folder (replicas): the second one's sweep removes an old
    abandoned staged file but not the first one's upload in progress, however old."""
    store = _local(None, tmp_path)
    servers.append(first := _start(tmp_path, store, MLFLOW_WORKERS="1"))
    data = os.urandom(2 * MB)
    with _slow_put(first, "live/file.bin", len(data), data[:MB]) as sock:
        live = _wait_staged(store.root, MB)
        _age(live)
        abandoned = live.with_name(f"{STAGED}abandoned")
        abandoned.write_bytes(b"partial")
        _age(abandoned)
        young = live.with_name(f"{STAGED}young")  # may belong to a live upload elsewhere
        young.write_bytes(b"partial")

        (tmp_path / "second").mkdir()
        servers.append(second := _start(tmp_path / "second", store))
        assert _put(second, "other.txt", b"x").status_code == 200
        assert not abandoned.exists(), "the sweep kept an abandoned staged file"
        assert live.exists() and young.exists()

        sock.sendall(data[MB:])
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "the upload in progress failed"
    assert requests.get(f"{first.url}{PROXY}/live/file.bin", timeout=30).content == data


# ---------------------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted at the end."""
    path = tmp_path / "small"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode:  # a loop device would need the same right to mount
        unavailable(f"cannot mount a tmpfs to fill up (needs CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", str(path)], check=False)


def _used(path: Path) -> int:
    info = os.statvfs(path)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


def test_full_disk_is_a_clear_error_that_keeps_nothing(small_disk, tmp_path, servers, monkeypatch):
    store = Store(str(small_disk), small_disk)
    servers.append(server := _start(tmp_path, store))
    assert _put(server, "full/keep.txt", b"previous").status_code == 200
    empty = _used(small_disk)

    response = raw_request(server, "PUT", f"{PROXY}/full/keep.txt", body=os.urandom(3 * MB))
    assert response.status == 507, response
    body = response.json()
    assert body["error_code"] == "RESOURCE_EXHAUSTED", body
    assert "no space left" in body["message"].lower(), body
    assert (small_disk / "full" / "keep.txt").read_bytes() == b"previous"
    assert _staged_files(small_disk) == [] and _used(small_disk) == empty, "the failed upload left data behind"

    # the official client reports it at once: 507 is not among the statuses it retries
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    client = mlflow.MlflowClient(server.url)
    run = client.create_run(client.create_experiment(unique()))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MB))
    with pytest.raises(Exception) as raised:
        client.log_artifact(run.info.run_id, str(big))
    message = str(raised.value)
    assert "507" in message and "no space left" in message.lower(), message
    assert _staged_files(small_disk) == [] and _used(small_disk) == empty


# ---------------------------------------------------------------------------- bad paths

def _refused(response: requests.Response, *words: str) -> None:
    assert response.status_code == 400, f"{response.status_code} {response.text[:500]}"
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert all(word in body["message"] for word in words), body


def test_paths_the_store_cannot_hold_are_refused(store, tmp_path, servers):
    servers.append(server := _start(tmp_path, store))
    # names of more than 255 bytes (in UTF-8: 128 characters "é" are 256 bytes)
    longest = "n" * 251 + ".txt"
    assert _put(server, f"long/{longest}", b"fits").status_code == 200
    for name in ("n" * 252 + ".txt", "é" * 128, f"{'d' * 256}/file.txt"):
        for method in ("PUT", "GET", "DELETE"):
            _refused(requests.request(method, f"{server.url}{PROXY}/long/{quote(name)}", data=b"too long",
                                      timeout=30), "255 bytes")
    assert [f["path"] for f in requests.get(f"{server.url}{PROXY}", params={"path": "long"},
                                            timeout=30).json()["files"]] == [longest]

    # a file where a folder of the path should be
    assert _put(server, "below/a.txt", b"a file").status_code == 200
    for rel in ("below/a.txt/child", "below/a.txt/sub/child"):
        _refused(_put(server, rel, b"x"), "'below/a.txt' is a file")
        assert requests.get(f"{server.url}{PROXY}/{rel}", timeout=30).status_code == 404
    assert requests.get(f"{server.url}{PROXY}/below/a.txt", timeout=30).content == b"a file"

    # the names of staged uploads, which sweeps remove
    _refused(_put(server, f"{STAGED}staging/mine.txt", b"x"), "reserved")
    assert _staged_files(store.root) == []


@pytest.fixture(params=["moto_s3", "fake_gcs", "azurite"])
def object_store(request) -> Store:
    """A fresh bucket or container of an object store (nothing is read from `root`)."""
    server = request.getfixturevalue(request.param)
    if request.param == "azurite":
        destination = f"wasbs://{server.create_container()}@{ACCOUNT}.blob.core.windows.net/root"
    else:
        destination = f"{'s3' if request.param == 'moto_s3' else 'gs'}://{server.create_bucket()}/root"
    return Store(destination, Path("/nonexistent"), server.env())


def test_object_names_longer_than_1024_bytes_are_refused(object_store, tmp_path, servers):
    """S3, GCS and Azure take object names of up to 1024 bytes (S3 answers KeyTooLongError,
    a 500 here before; moto takes any length)."""
    servers.append(server := _start(tmp_path, object_store))
    rel = "/".join(["n" * 200] * 6) + ".txt"  # 1209 bytes
    for method in ("PUT", "GET", "DELETE"):
        _refused(requests.request(method, f"{server.url}{PROXY}/{rel}", data=b"too long", timeout=30), "1024 bytes")
