"""The store contract on Azure Blob Storage (Azurite): wasbs://container@account/root as the
proxy's destination, the same through abfss://, and --no-serve-artifacts with the official
client writing to the container itself."""
from __future__ import annotations

import pytest

from conftest import free_port, unique
from servers.azurite import ACCOUNT, KEY, azurite  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"
HOST = f"{ACCOUNT}.blob.core.windows.net"
WRONG_KEY = "V3JvbmcgYnV0IHdlbGwtZm9ybWVkIGtleSB0aGF0IG11c3Qgbm90IGxlYWs="


@pytest.fixture(scope="module")
def azure_store(azurite, tmp_path_factory):
    container = azurite.create_container()
    blobs = azurite.service().get_container_client(container)
    for name in ("sentinel.txt", "root-sibling/secret.txt", "roo"):
        blobs.upload_blob(name, SENTINEL)
    server = store_server(tmp_path_factory.mktemp("store-azure"), f"wasbs://{container}@{HOST}/root",
                          env=azurite.env())
    server.outside = lambda: {k: v for k, v in azurite.blobs(container).items() if not k.startswith("root/")}
    yield server
    server.stop()


def test_round_trip(azure_store):
    check_round_trip(azure_store)


def test_listing(azure_store):
    check_listing(azure_store)


def test_delete(azure_store):
    check_delete(azure_store)


def test_missing_file(azure_store):
    check_missing_file(azure_store)


def test_traversal(azure_store):
    check_traversal(azure_store, azure_store.outside)


def test_official_client(azure_store, tmp_path):
    check_official_client(azure_store, tmp_path)


def test_large_file_streams_with_flat_memory(azure_store):
    check_large_transfer(azure_store)


def test_abfss_reaches_the_same_blobs(azurite, start_server, tmp_path):
    container = azurite.create_container()
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"abfss://{container}@{ACCOUNT}.dfs.core.windows.net/lake",
                           **azurite.env()})
    check_listing(server)
    assert all(name.startswith("lake/checks-") for name in azurite.blobs(container))


def test_client_writes_to_the_container_without_the_proxy(azurite, start_server, tmp_path, monkeypatch):
    container = azurite.create_container()
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT": f"wasbs://{container}@{HOST}/runs"},
                          args=["--no-serve-artifacts"])
    for name, value in azurite.env().items():
        monkeypatch.setenv(name, value)
    import mlflow
    client = mlflow.MlflowClient(server.url)
    run = client.create_run(client.create_experiment(unique()))
    root = f"runs/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    assert run.info.artifact_uri == f"wasbs://{container}@{HOST}/{root}"
    source = tmp_path / "model.txt"
    source.write_text("weights\n")
    client.log_artifact(run.info.run_id, str(source), "model")
    assert set(azurite.blobs(container)) == {f"{root}/model/model.txt"}
    assert [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id, "model")] == [("model/model.txt", 8)]
    local = client.download_artifacts(run.info.run_id, "model/model.txt", str(tmp_path / "download"))
    assert open(local).read() == "weights\n"


def test_wrong_key(azurite, start_server, tmp_path):
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"wasbs://{azurite.create_container()}@{HOST}/root",
                           **azurite.env(WRONG_KEY)})
    check_store_error(server, secrets=[WRONG_KEY, azurite.connection_string(WRONG_KEY)],
                      names=[f"{HOST}/root", "AuthorizationFailure"], statuses=[403])


def test_missing_container(azurite, start_server, tmp_path):
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"wasbs://no-such-container@{HOST}/root",
                           **azurite.env()})
    check_store_error(server, secrets=[KEY], names=[f"{HOST}/root", "container 'no-such-container'"],
                      statuses=[404])


def test_unreachable_endpoint(start_server, tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}/{ACCOUNT}"
    connection_string = f"AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={endpoint};"
    server = start_server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": f"wasbs://container@{HOST}/root",
                           "AZURE_STORAGE_CONNECTION_STRING": connection_string})
    check_store_error(server, secrets=[KEY, connection_string], names=[f"{HOST}/root", "Connection refused"],
                      statuses=[503])
