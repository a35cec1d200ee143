"""Path traversal against the artifact proxy: every spelling of "outside the destination"
is refused with a 4xx JSON error, and nothing outside the destination is read, written or
deleted. Requests go out through http.client so paths reach the server unnormalised."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from artifact_support import PROXY, SENTINEL, TRAVERSALS, assert_refused, raw_request, start_sqlite_server
from conftest import unique

ATTACK_BODY = b"ATTACK-overwrite"
SYMLINKED = ["escape-link/secret.txt", "escape-link"]  # a link inside the destination to a folder outside


@pytest.fixture(scope="module")
def art_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("art-traversal")
    # next to the destination: tmp/artifacts (destination), tmp/sentinel.txt, tmp/outside/
    (tmp / "sentinel.txt").write_bytes(SENTINEL)
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret.txt").write_bytes(SENTINEL)
    (tmp / "artifacts").mkdir()
    # a symlink inside the destination that points outside it
    os.symlink(tmp / "outside", tmp / "artifacts" / "escape-link")
    server = start_sqlite_server(tmp)
    server.tmp = tmp
    yield server
    server.stop()


def outside_snapshot(tmp: Path) -> dict[str, tuple[bytes, int]]:
    """Every file outside the destination (but the server's own log and database)."""
    result = {}
    for path in tmp.rglob("*"):
        rel = path.relative_to(tmp).as_posix()
        if rel == "artifacts" or rel.startswith("artifacts/") or rel.endswith(".log") or "mlflow.db" in rel:
            continue
        result[rel] = (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else (b"<dir>", 0)
    return result


def absolute_paths(tmp: Path) -> list[str]:
    sentinel = str(tmp / "sentinel.txt")
    return [
        "/" + sentinel.lstrip("/"),                # //tmp/.../sentinel.txt on the request line
        quote(sentinel, safe=""),                  # %2Ftmp%2F...
        quote(quote(sentinel, safe=""), safe=""),  # %252Ftmp%252F...
        "%2fetc%2fpasswd",
        "/etc/passwd",
    ]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_traversal_on_artifact_routes_is_refused(art_server, method):
    tmp = art_server.tmp
    before = outside_snapshot(tmp)
    failures = []
    for path in TRAVERSALS + SYMLINKED + absolute_paths(tmp):
        target = f"{PROXY}/{path}"
        response = raw_request(art_server, method, target, body=ATTACK_BODY if method == "PUT" else None)
        try:
            assert_refused(response, f"{method} {target}")
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
    after = outside_snapshot(tmp)
    assert after == before, "files outside the artifacts destination changed"
    assert (tmp / "sentinel.txt").read_bytes() == SENTINEL
    assert (tmp / "outside" / "secret.txt").read_bytes() == SENTINEL
    assert not failures, "\n".join(failures)


def test_traversal_on_listing_is_refused(art_server):
    tmp = art_server.tmp
    before = outside_snapshot(tmp)
    failures = []
    paths = TRAVERSALS + SYMLINKED + ["/", "/tmp", str(tmp), quote(str(tmp), safe=""), "escape-link/"]
    for path in paths:
        target = f"{PROXY}?path={path}"
        response = raw_request(art_server, "GET", target)
        try:
            assert_refused(response, f"list {target}")
            assert "files" not in response.json(), f"list {target}: listed a directory outside"
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
    assert outside_snapshot(tmp) == before
    assert not failures, "\n".join(failures)


def test_traversal_through_the_run_listing_is_refused(art_server, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = mlflow.MlflowClient(art_server.url)
    run = client.create_run(client.create_experiment(unique()))
    url = f"{art_server.url}/api/2.0/mlflow/artifacts/list"
    for path in ("../..", "..", "../../..", "../../../sentinel.txt", "%2e%2e/%2e%2e", "/etc", "a/../..",
                 "..\\..", "x\x00"):
        response = requests.get(url, params={"run_id": run.info.run_id, "path": path}, timeout=30)
        assert response.status_code == 400, (path, response.status_code, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", (path, response.text)
        assert "files" not in response.json()


def test_legitimate_dotted_names_still_work(art_server):
    """Refusing '..' segments must not refuse names that merely contain dots."""
    for name in ("a..b.txt", "...txt", ".hidden", "dir.v2/file..name"):
        target = f"{PROXY}/dots/{quote(name)}"
        assert raw_request(art_server, "PUT", target, body=b"ok").status == 200, name
        response = raw_request(art_server, "GET", target)
        assert response.status == 200 and response.body == b"ok", (name, response)
        assert (art_server.artifacts / "dots" / name).read_bytes() == b"ok"
