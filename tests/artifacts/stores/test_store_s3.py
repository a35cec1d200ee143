"""The store contract on S3 (moto in server mode): s3://bucket/root as the proxy's destination."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from artifacts.artifact_support import PROXY
from conftest import free_port
from servers.moto import ACCESS_KEY, SECRET_KEY, moto_s3, start_moto  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"


@pytest.fixture(scope="module")
def s3_store(moto_s3, tmp_path_factory):
    bucket = moto_s3.create_bucket()
    for key in ("sentinel.txt", "root-sibling/secret.txt", "roo"):
        moto_s3.client().put_object(Bucket=bucket, Key=key, Body=SENTINEL)
    server = store_server(tmp_path_factory.mktemp("store-s3"), f"s3://{bucket}/root", env=moto_s3.env())
    server.bucket = bucket
    server.outside = lambda: {k: v for k, v in moto_s3.objects(bucket).items() if not k.startswith("root/")}
    yield server
    server.stop()


def test_round_trip(s3_store):
    check_round_trip(s3_store)


def test_listing(s3_store):
    check_listing(s3_store)


def test_delete(s3_store):
    check_delete(s3_store)


def test_missing_file(s3_store):
    check_missing_file(s3_store)


def test_traversal(s3_store):
    check_traversal(s3_store, s3_store.outside)


def test_official_client(s3_store, tmp_path):
    check_official_client(s3_store, tmp_path)


def test_large_file_streams_with_flat_memory(s3_store):
    check_large_transfer(s3_store)


@pytest.fixture
def server_on(tmp_path):
    """server_on(destination, env) -> a server proxying to that store, stopped at teardown."""
    started = []

    def start(destination: str, env: dict):
        started.append(store_server(tmp_path, destination, env))
        return started[-1]
    yield start
    for server in started:
        server.stop()


def test_upload_extra_args_reach_s3(moto_s3, server_on):
    bucket = moto_s3.create_bucket()
    server = server_on(f"s3://{bucket}", {"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "AES256"}',
                                          **moto_s3.env()})
    for name, size in (("small.txt", 10), ("multipart.bin", 40 * 1024 * 1024)):
        response = requests.put(f"{server.url}{PROXY}/x/{name}", data=b"e" * size, timeout=60)
        assert response.status_code == 200, response.text
        assert moto_s3.client().head_object(Bucket=bucket, Key=f"x/{name}")["ServerSideEncryption"] == "AES256"


def test_interrupted_multipart_upload_stores_nothing(s3_store, moto_s3):
    with socket.create_connection(("127.0.0.1", s3_store.port), timeout=30) as sock:
        sock.sendall(f"PUT {PROXY}/cut/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Length: {100 << 20}\r\n\r\n".encode())
        sock.sendall(b"x" * (40 << 20))  # two parts uploaded, then the client goes away
    deadline = time.monotonic() + 30
    while moto_s3.client().list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads"):
        assert time.monotonic() < deadline, "the multipart upload was not aborted"
        time.sleep(0.2)
    assert "root/cut/big.bin" not in moto_s3.objects(s3_store.bucket)


def test_wrong_credentials(server_on, tmp_path):
    strict = start_moto(tmp_path, enforce_auth=True)
    try:
        server = server_on("s3://some-bucket/root", strict.env())
        check_store_error(server, secrets=[SECRET_KEY], names=["s3://some-bucket/root", "InvalidAccessKeyId"],
                          statuses=[403])
    finally:
        strict.stop()


def test_missing_bucket(moto_s3, server_on):
    server = server_on("s3://no-such-bucket/root", moto_s3.env())
    check_store_error(server, secrets=[SECRET_KEY], names=["s3://no-such-bucket/root", "NoSuchBucket"],
                      statuses=[404])


def test_unreachable_endpoint(server_on):
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = server_on("s3://some-bucket/root", {
        "MLFLOW_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"})
    check_store_error(server, secrets=[SECRET_KEY], names=["s3://some-bucket/root", endpoint], statuses=[503])
