"""Multipart upload and presigned download through the proxy: with a destination that presigns
URLs (S3 on moto, Azure on Azurite) the official client sends a big file's parts straight to
the store and downloads straight from it; every other store answers 501 NOT_IMPLEMENTED and
the client falls back to plain PUT and GET through the proxy."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from artifact_support import SENTINEL, TRAVERSALS, assert_refused, raw_request, start_sqlite_server
from conftest import unique
from servers.azurite import ACCOUNT, azurite  # noqa: F401 (fixture)
from servers.moto import ACCESS_KEY, SECRET_KEY, moto_s3  # noqa: F401 (fixture)

API = "/api/2.0/mlflow-artifacts"
MB = 1024 * 1024
PART = 5 * MB  # S3's smallest part but the last
UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"  # the client's cue


@pytest.fixture(scope="module")
def s3_server(moto_s3, tmp_path_factory):
    bucket = moto_s3.create_bucket()
    moto_s3.client().put_object(Bucket=bucket, Key="sentinel.txt", Body=SENTINEL)
    server = start_sqlite_server(tmp_path_factory.mktemp("direct-s3"),
                                 {"MLFLOW_ARTIFACTS_DESTINATION": f"s3://{bucket}/root", **moto_s3.env()})
    server.objects = lambda: moto_s3.objects(bucket)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def azure_server(azurite, tmp_path_factory):
    container = azurite.create_container()
    server = start_sqlite_server(
        tmp_path_factory.mktemp("direct-azure"),
        {"MLFLOW_ARTIFACTS_DESTINATION": f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/root",
         **azurite.env()})
    server.objects = lambda: azurite.blobs(container)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    server = start_sqlite_server(tmp_path_factory.mktemp("direct-local"))
    yield server
    server.stop()


@pytest.fixture(params=["s3_server", "azure_server"])
def presigning(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def client_at(monkeypatch):
    """client_at(server) -> the official MlflowClient, uploading files of 1 MB and more in
    parts of PART bytes."""
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    previous = mlflow.get_tracking_uri()

    def at(server):
        mlflow.set_tracking_uri(server.url)
        return mlflow.MlflowClient(server.url)
    yield at
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def transfers(monkeypatch):
    """Which way the client moved files: counts of multipart uploads and presigned downloads
    that went through to the end."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    done = {"multipart_upload": 0, "presigned_download": 0}

    def spy(method, name):
        def wrapper(*args, **kwargs):
            result = method(*args, **kwargs)
            done[name] += 1
            return result
        return wrapper
    monkeypatch.setattr(HttpArtifactRepository, "_try_multipart_upload",
                        spy(HttpArtifactRepository._try_multipart_upload, "multipart_upload"))
    monkeypatch.setattr(HttpArtifactRepository, "_multipart_download",
                        spy(HttpArtifactRepository._multipart_download, "presigned_download"))
    return done


def _content(size: int, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * (MB // 32)
    return (block * (size // len(block) + 1))[:size]


def _post(server, action: str, path: str, body) -> requests.Response:
    return requests.post(f"{server.url}{API}/mpu/{action}/{path}", json=body, timeout=60)


def _assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert body["error_code"] == code and body["message"], body
    return body


def _upload_in_parts(server, folder: str, name: str, data: bytes, part: int = PART) -> None:
    """The client's protocol by hand: create, PUT each part to its URL, complete."""
    parts = -(-len(data) // part)
    created = _post(server, "create", folder, {"path": f"/home/me/{name}", "num_parts": parts})
    assert created.status_code == 200, created.text
    credentials = created.json()["credentials"]
    assert [c["part_number"] for c in credentials] == list(range(1, parts + 1))
    uploaded = []
    for credential in credentials:
        start = (credential["part_number"] - 1) * part
        response = requests.put(credential["url"], data=data[start:start + part],
                                headers=credential.get("headers", {}), timeout=60)
        assert response.status_code in (200, 201), response.text
        uploaded.append({"part_number": credential["part_number"], "etag": response.headers.get("ETag", ""),
                         "url": credential["url"]})
    completed = _post(server, "complete", folder, {"path": name, "upload_id": created.json().get("upload_id"),
                                                   "parts": uploaded})
    assert completed.status_code == 200 and completed.json() == {}, completed.text


# ---------------------------------------------------------------- the official client


def test_server_info_advertises_direct_transfers_where_the_store_presigns(presigning, local_server):
    for server, offered in ((presigning, True), (local_server, False)):
        info = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10).json()
        assert info["multipart_uploads_enabled"] is offered, info
        assert info["multipart_downloads_enabled"] is offered, info


def test_official_client_uploads_in_parts_and_downloads_from_the_store(presigning, client_at, transfers,
                                                                         tmp_path):
    client = client_at(presigning)
    run_id = client.create_run(client.create_experiment(unique())).info.run_id
    big, small = _content(2 * PART + 123, "big"), b"small file\n"
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "small.txt").write_bytes(small)
    client.log_artifact(run_id, str(tmp_path / "big.bin"), "data")
    client.log_artifact(run_id, str(tmp_path / "small.txt"), "data")
    assert transfers["multipart_upload"] == 1  # the small file went up as one PUT
    sizes = {f.path: f.file_size for f in client.list_artifacts(run_id, "data")}
    assert sizes == {"data/big.bin": len(big), "data/small.txt": len(small)}

    local = Path(client.download_artifacts(run_id, "data", str(tmp_path / "download")))
    assert (local / "big.bin").read_bytes() == big
    assert (local / "small.txt").read_bytes() == small
    assert transfers["presigned_download"] == 2


def test_client_falls_back_to_the_proxy_where_the_store_cannot_presign(local_server, client_at, transfers,
                                                                       monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    client = client_at(local_server)
    run = client.create_run(client.create_experiment(unique()))
    big = _content(2 * MB + 5, "fallback")
    (tmp_path / "big.bin").write_bytes(big)
    client.log_artifact(run.info.run_id, str(tmp_path / "big.bin"))
    stored = local_server.artifacts / run.info.experiment_id / run.info.run_id / "artifacts" / "big.bin"
    assert stored.read_bytes() == big
    local = client.download_artifacts(run.info.run_id, "big.bin", str(tmp_path / "download"))
    assert Path(local).read_bytes() == big
    assert transfers == {"multipart_upload": 0, "presigned_download": 0}


def test_operator_turns_presigned_urls_off(moto_s3, client_at, transfers, tmp_path):
    """MLFLOW_PRESIGNED_URLS=false: an S3 destination, yet every byte goes through the proxy
    (clients that cannot reach the store)."""
    bucket = moto_s3.create_bucket()
    (tmp_path / "server").mkdir()
    server = start_sqlite_server(tmp_path / "server", {"MLFLOW_ARTIFACTS_DESTINATION": f"s3://{bucket}/root",
                                                      "MLFLOW_PRESIGNED_URLS": "false", **moto_s3.env()})
    try:
        info = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10).json()
        assert (info["multipart_uploads_enabled"], info["multipart_downloads_enabled"]) == (False, False), info
        body = _assert_error(_post(server, "create", "x", {"path": "big.bin", "num_parts": 2}), 501, "NOT_IMPLEMENTED")
        assert body["message"].startswith(UNSUPPORTED), body

        client = client_at(server)  # asks for multipart uploads, falls back on the 501
        run_id = client.create_run(client.create_experiment(unique())).info.run_id
        big = _content(2 * PART + 7, "switched off")
        (tmp_path / "big.bin").write_bytes(big)
        client.log_artifact(run_id, str(tmp_path / "big.bin"))
        local = client.download_artifacts(run_id, "big.bin", str(tmp_path / "download"))
        assert Path(local).read_bytes() == big
        assert any(key.endswith("/big.bin") for key in moto_s3.objects(bucket))
        assert transfers == {"multipart_upload": 0, "presigned_download": 0}
    finally:
        server.stop()


# ---------------------------------------------------------------- the protocol over plain HTTP


def test_stores_without_presigned_urls_answer_501(local_server):
    body = _assert_error(_post(local_server, "create", "x", {"path": "big.bin", "num_parts": 2}),
                         501, "NOT_IMPLEMENTED")
    assert body["message"].startswith(UNSUPPORTED), body
    for action in ("complete", "abort"):
        _assert_error(_post(local_server, action, "x", {"path": "big.bin", "upload_id": "u",
                                                         "parts": [{"part_number": 1, "etag": "e"}]}),
                      501, "NOT_IMPLEMENTED")
    (local_server.artifacts / "file.txt").write_bytes(b"data")
    _assert_error(requests.get(f"{local_server.url}{API}/presigned/file.txt", timeout=10), 501, "NOT_IMPLEMENTED")


def test_artifacts_only_and_no_serve_artifacts(moto_s3, tmp_path):
    """An artifacts-only proxy offers direct transfers too; a server that does not serve
    artifacts offers none."""
    destination = f"s3://{moto_s3.create_bucket()}/root"
    for env, offered in (({"MLFLOW_ARTIFACTS_ONLY": "true"}, True), ({"MLFLOW_SERVE_ARTIFACTS": "false"}, False)):
        folder = tmp_path / next(iter(env))
        folder.mkdir()
        server = start_sqlite_server(folder, {"MLFLOW_ARTIFACTS_DESTINATION": destination, **moto_s3.env(), **env})
        try:
            info = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10).json()
            assert info["multipart_uploads_enabled"] is offered, info
            created = _post(server, "create", "dir", {"path": "f.bin", "num_parts": 1})
            if offered:
                assert created.status_code == 200 and created.json()["upload_id"], created.text
            else:
                _assert_error(created, 501, "NOT_IMPLEMENTED")
        finally:
            server.stop()


def test_parts_uploaded_by_hand_make_one_file(presigning):
    folder = f"hand-{unique()}"
    data = _content(2 * PART + 7, folder)
    _upload_in_parts(presigning, folder, "file.bin", data)
    response = requests.get(f"{presigning.url}{API}/artifacts/{folder}/file.bin", timeout=60)
    assert response.status_code == 200 and response.content == data
    assert f"root/{folder}/file.bin" in presigning.objects()


def test_windows_client_path_names_the_file(s3_server):
    folder = f"win-{unique()}"
    created = _post(s3_server, "create", folder, {"path": "C:\\Users\\me\\model.pkl", "num_parts": 1})
    assert created.status_code == 200, created.text
    url = created.json()["credentials"][0]["url"]
    etag = requests.put(url, data=b"pickled", timeout=30).headers["ETag"]
    completed = _post(s3_server, "complete", folder, {"path": "C:\\Users\\me\\model.pkl",
                                                      "upload_id": created.json()["upload_id"],
                                                      "parts": [{"part_number": 1, "etag": etag}]})
    assert completed.status_code == 200, completed.text
    assert requests.get(f"{s3_server.url}{API}/artifacts/{folder}/model.pkl", timeout=30).content == b"pickled"


def test_aborted_upload_cannot_be_completed(s3_server):
    folder = f"abort-{unique()}"
    created = _post(s3_server, "create", folder, {"path": "big.bin", "num_parts": 1}).json()
    etag = requests.put(created["credentials"][0]["url"], data=b"part", timeout=30).headers["ETag"]
    aborted = _post(s3_server, "abort", folder, {"path": "big.bin", "upload_id": created["upload_id"]})
    assert aborted.status_code == 200 and aborted.json() == {}, aborted.text
    _assert_error(_post(s3_server, "complete", folder, {"path": "big.bin", "upload_id": created["upload_id"],
                                                         "parts": [{"part_number": 1, "etag": etag}]}),
                  400, "INVALID_PARAMETER_VALUE")
    assert not any(key.startswith(f"root/{folder}") for key in s3_server.objects())


def test_unknown_upload_ids_are_refused(presigning):
    folder = f"unknown-{unique()}"
    for upload_id in ("not-an-upload", "0" * 32):
        body = {"path": "big.bin", "upload_id": upload_id, "parts": [{"part_number": 1, "etag": '"abc"'}]}
        _assert_error(_post(presigning, "complete", folder, body), 400, "INVALID_PARAMETER_VALUE")
    _assert_error(_post(presigning, "abort", folder, {"path": "big.bin", "upload_id": "not-an-upload"}),
                  400, "INVALID_PARAMETER_VALUE")


def test_an_upload_completes_only_at_its_own_path(s3_server):
    created = _post(s3_server, "create", "mine", {"path": "big.bin", "num_parts": 1}).json()
    etag = requests.put(created["credentials"][0]["url"], data=b"part", timeout=30).headers["ETag"]
    body = {"path": "big.bin", "upload_id": created["upload_id"], "parts": [{"part_number": 1, "etag": etag}]}
    _assert_error(_post(s3_server, "complete", "elsewhere", body), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("action, body, missing", [
    ("create", {"num_parts": 2}, "path"),
    ("create", {"path": "f.bin"}, "num_parts"),
    ("create", {"path": "f.bin", "num_parts": 0}, "num_parts"),
    ("create", {"path": "f.bin", "num_parts": 10_001}, "num_parts"),
    ("create", {"path": "f.bin", "num_parts": "many"}, "num_parts"),
    ("create", {"path": "..", "num_parts": 1}, "path"),
    ("create", {"path": "dir/", "num_parts": 1}, "path"),
    ("create", {"path": "a\x00b", "num_parts": 1}, "path"),
    ("complete", {"path": "f.bin", "parts": [{"part_number": 1, "etag": "e"}]}, "upload_id"),
    ("complete", {"path": "f.bin", "upload_id": "u"}, "parts"),
    ("complete", {"path": "f.bin", "upload_id": "u", "parts": []}, "parts"),
    ("complete", {"path": "f.bin", "upload_id": "u", "parts": [{"etag": "e"}]}, "part_number"),
    ("complete", {"path": "f.bin", "upload_id": "u",
                  "parts": [{"part_number": 1, "etag": "e"}, {"part_number": 1, "etag": "e"}]}, "part_number"),
    ("complete", {"path": "f.bin", "upload_id": "u", "parts": "all"}, "parts"),
    ("abort", {"upload_id": "u"}, "path"),
    ("abort", {"path": "f.bin"}, "upload_id"),
])
def test_bad_requests_are_400(s3_server, action, body, missing):
    message = _assert_error(_post(s3_server, action, "dir", body), 400, "INVALID_PARAMETER_VALUE")["message"]
    assert missing in message


def test_malformed_json_is_400(s3_server):
    response = requests.post(f"{s3_server.url}{API}/mpu/create/dir", data=b"{not json", timeout=10,
                             headers={"Content-Type": "application/json"})
    _assert_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("route", ["mpu/create", "mpu/complete", "mpu/abort", "presigned"])
def test_paths_outside_the_destination_are_refused(s3_server, route):
    body = b'{"path": "f.bin", "num_parts": 1, "upload_id": "u", "parts": [{"part_number": 1}]}'
    for path in TRAVERSALS:
        method = "GET" if route == "presigned" else "POST"
        response = raw_request(s3_server, method, f"{API}/{route}/{path}", body if method == "POST" else None,
                               {"Content-Type": "application/json"})
        assert_refused(response, f"{route}/{path}")
    assert "sentinel.txt" in s3_server.objects()  # untouched, and no new key outside root/
    assert all(key == "sentinel.txt" or key.startswith("root/") for key in s3_server.objects())


# ---------------------------------------------------------------- presigned downloads


def test_presigned_download_serves_the_file_with_ranges(presigning):
    folder = f"presigned-{unique()}"
    data = _content(3 * MB + 1, folder)
    assert requests.put(f"{presigning.url}{API}/artifacts/{folder}/naïve name.bin", data=data,
                        timeout=60).status_code == 200
    answer = requests.get(f"{presigning.url}{API}/presigned/{folder}/naïve name.bin", timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["file_size"] == len(data) and body["headers"] == {}, body
    whole = requests.get(body["url"], timeout=60)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Disposition"].startswith("attachment"), whole.headers
    ranged = requests.get(body["url"], headers={"Range": f"bytes={MB}-{2 * MB - 1}"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == data[MB:2 * MB]


def test_presigned_download_of_a_missing_file_is_404(presigning):
    for path in (f"missing-{unique()}/file.bin", "root-of-nothing"):
        _assert_error(requests.get(f"{presigning.url}{API}/presigned/{path}", timeout=30),
                      404, "RESOURCE_DOES_NOT_EXIST")


def test_no_credential_reaches_a_message(s3_server):
    """Presigned URLs carry the access key's id by design, never its secret; errors carry neither."""
    created = _post(s3_server, "create", "secrets", {"path": "f.bin", "num_parts": 2}).text
    assert SECRET_KEY not in created
    error = _post(s3_server, "complete", "secrets", {"path": "f.bin", "upload_id": "nope",
                                                      "parts": [{"part_number": 1, "etag": "e"}]}).text
    assert SECRET_KEY not in error and ACCESS_KEY not in error
    assert SECRET_KEY not in s3_server.log()
