"""The contract every artifact store keeps, as checks against a running server whose
--artifacts-destination is that store. Each store's test module starts its test server and
a `store_server` on it, then calls these; every check works under a fresh folder, so they
run in any order on one server.

    server = store_server(tmp, "s3://bucket/root", env={...})
    check_round_trip(server)
    check_traversal(server, outside=lambda: moto.objects(bucket) minus root/...)
"""
from __future__ import annotations

import hashlib
import http.client
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import requests

from artifacts.artifact_support import (PROXY, TRAVERSALS, RssSampler, assert_refused, raw_request,
                                        tree_rss_bytes, wait_ready)
from conftest import Server, unique

GB = 1024 ** 3
MB = 1024 ** 2
MAX_RSS_GROWTH = 100 * MB
# The large-file checks move 400 MB by default (four times the allowed memory growth), to keep
# the suite's time in budget; MLFLOW_TEST_LARGE_MB=1024 runs them with 1 GB as the issue asks.
LARGE = int(os.environ.get("MLFLOW_TEST_LARGE_MB", "400")) * MB
TREE = {
    "top.txt": b"top level\n",
    "a/one.json": b'{"one": 1}',
    "a/b/two.bin": bytes(range(256)) * 40,
    "a/b/c/three.csv": b"x,y\n1,2\n",
    "d/empty.txt": b"",
    "unicodé/naïve 文件.txt": "ünïcödé\n".encode(),
}


def store_server(tmp: Path, destination: str, env: dict | None = None, args: list[str] | None = None) -> Server:
    """A server on a fresh SQLite database proxying artifacts to `destination`; the caller stops it."""
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": destination, **(env or {})}, tmp, args)
    return wait_ready(server)


def _url(server: Server, rel: str) -> str:
    return f"{server.url}{PROXY}/{quote(rel)}"


def _put(server: Server, rel: str, data: bytes) -> None:
    response = requests.put(_url(server, rel), data=data, timeout=60)
    assert response.status_code == 200, f"PUT {rel}: {response.status_code} {response.text[:500]}"


def _get(server: Server, rel: str) -> requests.Response:
    return requests.get(_url(server, rel), timeout=60)


def _listing(server: Server, rel: str) -> dict:
    response = requests.get(f"{server.url}{PROXY}", params={"path": rel}, timeout=60)
    assert response.status_code == 200, f"list {rel}: {response.status_code} {response.text[:500]}"
    return response.json()


def _entries(server: Server, rel: str) -> dict[str, tuple[bool, int | None]]:
    return {f["path"]: (f["is_dir"], f.get("file_size")) for f in _listing(server, rel).get("files", [])}


def _folder() -> str:
    return f"checks-{uuid.uuid4().hex[:10]}"


def check_round_trip(server: Server) -> None:
    """Nested, binary, empty and unicode-named files come back byte for byte; an overwrite
    replaces the whole file; a 50 MB file survives."""
    base = _folder()
    for rel, data in TREE.items():
        _put(server, f"{base}/{rel}", data)
    for rel, data in TREE.items():
        response = _get(server, f"{base}/{rel}")
        assert response.status_code == 200, (rel, response.status_code, response.text[:300])
        assert response.content == data, rel
        assert int(response.headers["Content-Length"]) == len(data), rel
    _put(server, f"{base}/top.txt", b"replaced")
    assert _get(server, f"{base}/top.txt").content == b"replaced"
    big = os.urandom(50 * MB)
    _put(server, f"{base}/big/fifty.bin", big)
    assert hashlib.sha256(_get(server, f"{base}/big/fifty.bin").content).digest() == hashlib.sha256(big).digest()


def check_listing(server: Server) -> None:
    """Directories and files with sizes, named as in the listed folder (the proxy's listing);
    a file or a missing path lists as {}."""
    base = _folder()
    for rel, data in TREE.items():
        _put(server, f"{base}/{rel}", data)
    top = _entries(server, base)
    assert top == {"top.txt": (False, len(TREE["top.txt"])), "a": (True, None), "d": (True, None),
                   "unicodé": (True, None)}, top
    nested = _entries(server, f"{base}/a/b")
    assert nested == {"two.bin": (False, len(TREE["a/b/two.bin"])), "c": (True, None)}, nested
    assert _entries(server, f"{base}/d") == {"empty.txt": (False, 0)}
    for path in (f"{base}/top.txt", f"{base}/missing", f"{base}/a/b/missing/deeper", f"{base}-missing"):
        assert _listing(server, path) == {}, path


def check_delete(server: Server) -> None:
    """DELETE removes a file, or a directory with everything below it; a missing path is a JSON 404."""
    base = _folder()
    for rel, data in TREE.items():
        _put(server, f"{base}/{rel}", data)
    assert requests.delete(_url(server, f"{base}/top.txt"), timeout=60).status_code == 200
    assert _get(server, f"{base}/top.txt").status_code == 404
    response = requests.delete(_url(server, f"{base}/a"), timeout=60)
    assert response.status_code == 200, response.text
    assert _listing(server, f"{base}/a") == {}
    assert _get(server, f"{base}/a/b/c/three.csv").status_code == 404
    assert set(_entries(server, base)) == {"d", "unicodé"}, _entries(server, base)
    missing = requests.delete(_url(server, f"{base}/a"), timeout=60)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", missing.text


def check_missing_file(server: Server) -> None:
    """Downloading a missing file, or a directory, is a JSON 404."""
    base = _folder()
    _put(server, f"{base}/dir/file.txt", b"x")
    for rel in (f"{base}/nothing.txt", f"{base}/dir", f"{base}/dir/nothing/deeper.txt"):
        response = _get(server, rel)
        assert response.status_code == 404, (rel, response.status_code, response.text[:300])
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", rel


def check_traversal(server: Server, outside: Callable[[], object]) -> None:
    """Every spelling of a path outside the destination is refused on every route (4xx JSON),
    and `outside()`, a snapshot of what lies outside the destination in the store, is unchanged."""
    before = outside()
    failures = []
    for path in TRAVERSALS + ["/etc/passwd", "%2fetc%2fpasswd"]:
        for method in ("GET", "PUT", "DELETE"):
            response = raw_request(server, method, f"{PROXY}/{path}",
                                   body=b"ATTACK" if method == "PUT" else None)
            try:
                assert_refused(response, f"{method} {path}")
            except AssertionError as error:
                failures.append(str(error).splitlines()[0])
        response = raw_request(server, "GET", f"{PROXY}?path={path}")
        try:
            assert_refused(response, f"list {path}")
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
    assert not failures, "\n".join(failures)
    assert outside() == before, "something outside the artifacts destination changed"


def check_store_error(server: Server, secrets: Iterable[str], names: Iterable[str],
                      statuses: Iterable[int] = (401, 403, 404, 500, 502, 503)) -> None:
    """Against a server whose store is broken (wrong credentials, missing bucket, unreachable
    host): every route answers a JSON error with one of `statuses`, whose message contains
    each of `names` (the store, the cause) and none of `secrets`, nor does the server log."""
    base = _folder()
    statuses = tuple(statuses)
    requests_made = [("PUT", f"{PROXY}/{base}/f.txt", b"data"), ("GET", f"{PROXY}/{base}/f.txt", None),
                     ("GET", f"{PROXY}?path={base}", None), ("DELETE", f"{PROXY}/{base}/f.txt", None)]
    for method, target, body in requests_made:
        response = raw_request(server, method, target, body=body, timeout=120)
        assert response.status in statuses, f"{method} {target}: {response!r}"
        assert response.content_type.startswith("application/json"), f"{method} {target}: {response!r}"
        message = response.json()["message"]
        for name in names:
            assert name in message, f"{method} {target}: {name!r} not in {message!r}"
        for secret in secrets:
            assert secret not in response.body.decode(errors="replace"), f"{method} {target} leaked a secret"
    log = server.log()
    for secret in secrets:
        assert secret not in log, "the server log holds a secret"


def check_official_client(server: Server, tmp_path: Path) -> None:
    """The official client logs, lists and downloads through mlflow-artifacts:/ URIs."""
    import mlflow
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)  # runs:/ URIs resolve through the global tracking URI
    try:
        _client_workflow(mlflow.MlflowClient(server.url), tmp_path)
    finally:
        mlflow.set_tracking_uri(previous)


def _client_workflow(client, tmp_path: Path) -> None:
    import mlflow
    run = client.create_run(client.create_experiment(unique()))
    run_id = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
    source = tmp_path / f"source-{run_id}"
    for rel, data in TREE.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    client.log_artifacts(run_id, str(source), "tree")
    client.log_artifact(run_id, str(source / "top.txt"))
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [("top.txt", False), ("tree", True)]
    sizes = {f.path: f.file_size for f in client.list_artifacts(run_id, "tree/a/b")}
    assert sizes == {"tree/a/b/c": None, "tree/a/b/two.bin": len(TREE["a/b/two.bin"])}, sizes
    local = Path(client.download_artifacts(run_id, "tree", str(tmp_path / f"download-{run_id}")))
    got = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert got == TREE, sorted(got)
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/top.txt") == TREE["top.txt"].decode()


def _pattern(index: int, block: bytes) -> bytes:
    return index.to_bytes(8, "big") + block[8:]


def check_large_transfer(server: Server, size: int = LARGE, max_growth: int = MAX_RSS_GROWTH) -> dict:
    """A `size` file streamed up and down through the proxy arrives intact while the server's
    process tree RSS grows by less than `max_growth`. Returns MB/s and peaks for reports."""
    rel = f"{_folder()}/large.bin"
    block = os.urandom(MB)
    for index in range(4):  # warm every worker and the store's client up before the idle reading
        _put(server, f"{rel}.warm{index}", block * 2)
        _get(server, f"{rel}.warm{index}")
    time.sleep(0.5)
    idle = tree_rss_bytes(server.process.pid)
    assert idle > 0, "could not read the server's memory from /proc"

    sent = hashlib.sha256()
    sampler = RssSampler(server.process.pid)
    sampler.start()
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        conn.putrequest("PUT", f"{PROXY}/{quote(rel)}")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for index in range(size // MB):
            chunk = _pattern(index, block)
            sent.update(chunk)
            conn.send(chunk)
        response = conn.getresponse()
        assert response.status == 200, response.read()[:500]
        conn.close()
    finally:
        upload_peak = sampler.stop()
    upload_seconds = time.monotonic() - started

    received, length = hashlib.sha256(), 0
    sampler = RssSampler(server.process.pid)
    sampler.start()
    started = time.monotonic()
    try:
        with requests.get(_url(server, rel), stream=True, timeout=600) as response:
            assert response.status_code == 200, response.text[:500]
            for chunk in response.iter_content(MB):
                received.update(chunk)
                length += len(chunk)
    finally:
        download_peak = sampler.stop()
    download_seconds = time.monotonic() - started

    assert length == size and received.digest() == sent.digest(), "the file came back changed"
    result = {"upload_mb_s": size / MB / upload_seconds, "download_mb_s": size / MB / download_seconds,
              "idle_mb": idle / MB, "upload_peak_mb": upload_peak / MB, "download_peak_mb": download_peak / MB}
    print(" ".join(f"{k}={v:.0f}" for k, v in result.items()))
    assert upload_peak - idle < max_growth, f"server RSS grew by more than {max_growth / MB:.0f} MB: {result}"
    assert download_peak - idle < max_growth, f"server RSS grew by more than {max_growth / MB:.0f} MB: {result}"
    return result
