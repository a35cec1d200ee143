"""Uploads are all or nothing: an interrupted upload leaves no file (and no visible temp
file); an overwrite replaces the old content whole."""
from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from artifact_support import PROXY, raw_request, start_sqlite_server


@pytest.fixture(scope="module")
def art_server(tmp_path_factory):
    server = start_sqlite_server(tmp_path_factory.mktemp("art-atomic"))
    yield server
    server.stop()


def interrupted_put(server, target: str, announced: int, sent: int) -> None:
    """PUT announcing `announced` bytes, send only `sent`, then close the socket."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     f"Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n".encode())
        sock.sendall(os.urandom(sent))
        time.sleep(0.3)
    # the server notices the closed connection on its next read; give it a moment
    time.sleep(1.5)


def listing(server, path: str) -> dict:
    response = requests.get(f"{server.url}{PROXY}", params={"path": path}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_interrupted_upload_leaves_nothing(art_server):
    target_dir = "atomic/interrupted"
    interrupted_put(art_server, f"{PROXY}/{target_dir}/big.bin", announced=10_000_000, sent=1_000_000)

    on_disk = art_server.artifacts / "atomic" / "interrupted"
    assert not (on_disk / "big.bin").exists(), (
        f"a truncated upload left {(on_disk / 'big.bin').stat().st_size} bytes at the target path")
    assert raw_request(art_server, "GET", f"{PROXY}/{target_dir}/big.bin").status == 404
    # no partial or temp file shows in a listing (or lingers on disk)
    assert listing(art_server, target_dir).get("files", []) == []
    leftovers = [p.name for p in on_disk.iterdir()] if on_disk.exists() else []
    assert leftovers == [], f"temp files left behind: {leftovers}"

    # a complete upload to the same path afterwards works
    data = os.urandom(3_000_000)
    response = raw_request(art_server, "PUT", f"{PROXY}/{target_dir}/big.bin", body=data)
    assert response.status == 200, response
    assert (on_disk / "big.bin").read_bytes() == data
    assert listing(art_server, target_dir) == {"files": [{"path": "big.bin", "is_dir": False, "file_size": len(data)}]}


def test_interrupted_overwrite_keeps_previous_content(art_server):
    target = f"{PROXY}/atomic/keep/file.bin"
    original = os.urandom(200_000)
    assert raw_request(art_server, "PUT", target, body=original).status == 200
    interrupted_put(art_server, target, announced=5_000_000, sent=500_000)
    assert (art_server.artifacts / "atomic" / "keep" / "file.bin").read_bytes() == original
    assert raw_request(art_server, "GET", target).body == original
    assert [f["path"] for f in listing(art_server, "atomic/keep")["files"]] == ["file.bin"]


def test_overwrite_replaces_whole_file(art_server):
    target = f"{PROXY}/atomic/over/file.bin"
    long_content = b"A" * 1_000_000
    short_content = b"short"
    assert raw_request(art_server, "PUT", target, body=long_content).status == 200
    assert raw_request(art_server, "PUT", target, body=short_content).status == 200
    assert raw_request(art_server, "GET", target).body == short_content
    assert (art_server.artifacts / "atomic" / "over" / "file.bin").read_bytes() == short_content
    assert listing(art_server, "atomic/over") == {"files": [{"path": "file.bin", "is_dir": False, "file_size": 5}]}
    # and back to a longer one
    assert raw_request(art_server, "PUT", target, body=long_content).status == 200
    assert raw_request(art_server, "GET", target).body == long_content


def test_readers_never_see_a_partial_file_during_overwrite(art_server):
    """While a slow overwrite is in flight, GET returns the old content whole."""
    target = f"{PROXY}/atomic/slow/file.bin"
    old = b"o" * 2_000_000
    new = b"n" * 2_000_000
    assert raw_request(art_server, "PUT", target, body=old).status == 200
    with socket.create_connection(("127.0.0.1", art_server.port), timeout=30) as sock:
        sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(new)}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        sock.sendall(new[:1_000_000])
        time.sleep(0.5)
        during = raw_request(art_server, "GET", target)
        assert during.status == 200 and during.body == old
        assert [f["path"] for f in listing(art_server, "atomic/slow")["files"]] == ["file.bin"]
        sock.sendall(new[1_000_000:])
        reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert raw_request(art_server, "GET", target).body == new


def test_uploaded_files_get_ordinary_permissions(art_server):
    """The temp-file-then-rename must not leave mkstemp's private 0600 mode on artifacts: files
    get 0666 minus the server's umask (inherited from this process), like any other file the
    official server writes, so other readers of a shared volume can read them."""
    umask = os.umask(0)
    os.umask(umask)
    assert raw_request(art_server, "PUT", f"{PROXY}/atomic/mode/file.txt", body=b"x").status == 200
    mode = (art_server.artifacts / "atomic" / "mode" / "file.txt").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask, f"artifact written with mode {mode:o}, expected {0o666 & ~umask:o}"


def test_upload_onto_a_directory_is_rejected(art_server):
    assert raw_request(art_server, "PUT", f"{PROXY}/atomic/dir/inner.txt", body=b"x").status == 200
    response = raw_request(art_server, "PUT", f"{PROXY}/atomic/dir", body=b"y")
    assert 400 <= response.status < 500, response
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (art_server.artifacts / "atomic" / "dir" / "inner.txt").read_bytes() == b"x"
