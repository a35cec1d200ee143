"""The store contract on Google Cloud Storage (fake-gcs-server): gs://bucket/root as the
proxy's destination, and --no-serve-artifacts with the official client writing to the bucket
itself."""
from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
import requests

from conftest import free_port, unique
from servers.fake_gcs import fake_gcs  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"


@pytest.fixture(scope="module")
def gcs_store(fake_gcs, tmp_path_factory):
    bucket = fake_gcs.create_bucket()
    for name in ("sentinel.txt", "root-sibling/secret.txt", "roo"):
        fake_gcs.client().bucket(bucket).blob(name).upload_from_string(SENTINEL)
    server = store_server(tmp_path_factory.mktemp("store-gcs"), f"gs://{bucket}/root", env=fake_gcs.env())
    server.outside = lambda: {k: v for k, v in fake_gcs.objects(bucket).items() if not k.startswith("root/")}
    yield server
    server.stop()


def test_round_trip(gcs_store):
    check_round_trip(gcs_store)


def test_listing(gcs_store):
    check_listing(gcs_store)


def test_delete(gcs_store):
    check_delete(gcs_store)


def test_missing_file(gcs_store):
    check_missing_file(gcs_store)


def test_traversal(gcs_store):
    check_traversal(gcs_store, gcs_store.outside)


def test_official_client(gcs_store, tmp_path):
    check_official_client(gcs_store, tmp_path)


def test_large_file_streams_with_flat_memory(gcs_store):
    check_large_transfer(gcs_store)


def test_client_writes_to_the_bucket_without_the_proxy(fake_gcs, start_server, tmp_path, monkeypatch):
    bucket = fake_gcs.create_bucket()
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT": f"gs://{bucket}/runs"}, args=["--no-serve-artifacts"])
    for name, value in fake_gcs.env().items():
        monkeypatch.setenv(name, value)
    import mlflow
    client = mlflow.MlflowClient(server.url)
    run = client.create_run(client.create_experiment(unique()))
    root = f"runs/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    assert run.info.artifact_uri == f"gs://{bucket}/{root}"
    source = tmp_path / "model.txt"
    source.write_text("weights\n")
    client.log_artifact(run.info.run_id, str(source), "model")
    assert set(fake_gcs.objects(bucket)) == {f"{root}/model/model.txt"}
    assert [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id, "model")] == [("model/model.txt", 8)]
    local = client.download_artifacts(run.info.run_id, "model/model.txt", str(tmp_path / "download"))
    assert open(local).read() == "weights\n"


def test_refused_credentials(fake_gcs, start_server, tmp_path):
    """A service-account key whose token endpoint refuses it: every request is a 403."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "0123456789abcdef",
        "private_key": private_key, "client_email": "mlflow@test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": f"{fake_gcs.url}/token"}))  # answers 404: no token
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": "gs://some-bucket/root",
                           "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    secret_line = private_key.splitlines()[1]
    check_store_error(server, secrets=[secret_line], names=["gs://some-bucket/root", "RefreshError"], statuses=[403])


def test_missing_bucket(fake_gcs, start_server, tmp_path):
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": "gs://no-such-bucket/root", **fake_gcs.env()})
    check_store_error(server, secrets=[], names=["gs://no-such-bucket/root", "bucket 'no-such-bucket' does not exist"],
                      statuses=[404])


def test_unreachable_endpoint(start_server, tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": "gs://some-bucket/root",
                           "STORAGE_EMULATOR_HOST": endpoint, "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "2"})
    check_store_error(server, secrets=[], names=["gs://some-bucket/root", "Connection refused"], statuses=[503])


def test_chunk_sizes_from_the_environment(fake_gcs, start_server, tmp_path):
    """MLFLOW_GCS_UPLOAD_CHUNK_SIZE / MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE: a file of many chunks, its
    last one short, goes up and comes back intact; the bucket holds exactly what was sent."""
    bucket = fake_gcs.create_bucket()
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"gs://{bucket}/root", **fake_gcs.env(),
                           "MLFLOW_GCS_UPLOAD_CHUNK_SIZE": str(256 * 1024),
                           "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE": "100000"})
    data = os.urandom(3 * 1024 * 1024 + 123)
    url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/chunks/big.bin"
    assert requests.put(url, data=data, timeout=60).status_code == 200
    with requests.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert b"".join(response.iter_content(64 * 1024)) == data
    assert fake_gcs.objects(bucket)["root/chunks/big.bin"] == base64.b64encode(hashlib.md5(data).digest()).decode()
