"""Model version sources must not open the server's files: every spelling of a location
outside the artifact store is refused with 400 INVALID_PARAMETER_VALUE and creates no version,
and get-download-uri of every accepted source stays inside the store."""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

import pytest
import requests

from conftest import unique
from registry_support import assert_error, assert_ok, create_model, create_version, download_uri, get_model

ZERO_MODEL_ID = "m-" + "0" * 32


@pytest.fixture(scope="module")
def world(server):
    """The module server's artifacts destination with a sentinel next to it and a symlink
    inside it that points outside; a run and a registered model for the sources."""
    tmp = server.artifacts.parent
    (tmp / "sentinel.txt").write_text("SENTINEL")
    (tmp / "outside").mkdir(exist_ok=True)
    (tmp / "outside" / "secret.txt").write_text("SENTINEL")
    link = server.artifacts / "escape-link"
    if not link.exists():
        os.symlink(tmp / "outside", link)
    base = f"{server.url}/api/2.0/mlflow/"

    def post(path, body):
        return assert_ok(requests.post(base + path, json=body, timeout=30))

    experiment_id = post("experiments/create", {"name": unique("src")})["experiment_id"]
    run = post("runs/create", {"experiment_id": experiment_id})["run"]["info"]
    name = post("registered-models/create", {"name": unique("target")})["registered_model"]["name"]
    return {"art": str(server.artifacts), "run": run["run_id"], "artifact_uri": run["artifact_uri"],
            "experiment": experiment_id, "port": server.port, "model": name}


REFUSED = [
    # local paths and file: URIs outside the store
    "/etc/passwd", "/proc/self/environ", "//proc/self/environ", "///etc/passwd", "file:///etc/passwd",
    "file:/etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/passwd", "File://LOCALHOST/etc/passwd",
    "file://localhost{art}/1/model", "file://evil.example.com/share/model", "file:///proc/self/environ",
    "relative/model", "./model", "model", "dummy-source", "~/model", "{art}-evil/model",
    # traversal out of the destination, in every spelling
    "{art}/../sentinel.txt", "{art}/1/../../sentinel.txt", "{art}/%2e%2e/sentinel.txt",
    "{art}/%2E%2E%2Fsentinel.txt", "{art}/..%2fsentinel.txt", "{art}/%252e%252e/sentinel.txt",
    "{art}/%25252e%25252e%25252fsentinel.txt", "{art}/..%5csentinel.txt", "{art}/..%255csentinel.txt",
    "{art}\\..\\sentinel.txt", "{art}/..;/sentinel.txt", "{art}/1;/../../sentinel.txt", "{art}/./model",
    "{art}//model", "{art}/1/model%00", "{art}/1/model\x00/../../x", "{art}/1/model?/../../../sentinel.txt",
    "{art}/1/model#/../../../sentinel.txt", "{art}/escape-link/secret.txt", "{art}/escape-link",
    "file://{art}/../sentinel.txt", "file://{art}/%2e%2e/sentinel.txt", "file://{art}/escape-link/secret.txt",
    "{art}/1/%6dodel",
    # the proxy's scheme with traversal, parameters, queries and fragments
    "mlflow-artifacts:/../../etc/passwd", "mlflow-artifacts:/1/../../../etc/passwd",
    "mlflow-artifacts:/%2e%2e/%2e%2e/etc/passwd", "mlflow-artifacts:/..%2F..%2Fetc%2Fpasswd",
    "mlflow-artifacts:/%252e%252e/%252e%252e/etc/passwd", "mlflow-artifacts://localhost:5000/../../etc/passwd",
    "mlflow-artifacts://localhost:5000/..%2f..%2fetc", "mlflow-artifacts:/1/x/..;/..;/etc/passwd",
    "mlflow-artifacts:/1\\..\\..\\etc\\passwd", "mlflow-artifacts:/1/x?path=../../../etc/passwd",
    "mlflow-artifacts:/1/x#/../../../etc/passwd", "mlflow-artifacts:/1//etc/passwd", "mlflow-artifacts:/",
    "mlflow-artifacts:", "mlflow-artifacts:..%2f..%2fetc",
    # runs:/ and models:/ that try to step out, or name nothing
    "runs:/{run}/../../../../etc/passwd", "runs:/{run}/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "runs:/{run}/model/..%2f..%2f..%2f..%2fetc", "runs:/{run}/%252e%252e/x", "runs:/{run}/..\\..\\x",
    "runs:/{run}/model;/../../x", "runs:/../{run}/model", "runs://{run}/model", "runs://localhost/{run}/model",
    "runs:/{run}/model?x=/../..", "runs:/", "runs:{run}/model",
    "models:/" + ZERO_MODEL_ID, "models:/m-xyz", "models:/../" + ZERO_MODEL_ID, "models://host/" + ZERO_MODEL_ID,
    "models:/" + ZERO_MODEL_ID + "/../../etc", "models:/{model}", "models:/{model}/1", "models:/no-such-model/1",
    "models:/{model}/x", "models:/{model}@champion", "models:/a/b/c",
    # schemes the server does not serve
    "http://evil.example.com/model", "https://evil.example.com/model", "ftp://evil.example.com/model",
    "sftp://evil.example.com/model", "s3://bucket/model", "gs://bucket/model", "hdfs://namenode/model",
    "jar:file:///etc/passwd!/", "gopher://evil.example.com/model", "dbfs:/model", "C:\\Windows\\win.ini",
    "c:/windows/win.ini", "\\\\server\\share\\model",
    "http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/../../etc/passwd",
    "http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/1/model",
    "mlflow-artifacts:/" + "x" * 2000,
]


@pytest.mark.parametrize("source", REFUSED)
def test_source_is_refused(api, world, source):
    resp = api.post("model-versions/create", json={"name": world["model"], "source": source.format(**world)})
    body = assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "source" in body["message"].lower()
    assert "latest_versions" not in get_model(api, world["model"])  # nothing was created


def test_source_with_a_run_id_of_another_run_is_refused(api, world):
    assert_error(api.post("model-versions/create", json={
        "name": world["model"], "source": f"runs:/{world['run']}/model", "run_id": "0" * 32}),
        400, "INVALID_PARAMETER_VALUE")


def test_prompt_versions_take_only_the_placeholder_source(api, world):
    name = create_model(api, tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])["name"]
    prompt_tags = [{"key": "mlflow.prompt.is_prompt", "value": "true"}, {"key": "mlflow.prompt.text", "value": "Hi"}]
    for source in ("/etc/passwd", "file:///etc/passwd", f"runs:/{world['run']}/model", "mlflow-artifacts:/1/x"):
        assert_error(api.post("model-versions/create", json={"name": name, "source": source, "tags": prompt_tags}),
                     400, "INVALID_PARAMETER_VALUE")
    version = create_version(api, name, "prompt-template", tags=prompt_tags)
    assert version["source"] == "prompt-template"
    assert_error(api.post("model-versions/create", json={"name": world["model"], "source": f"models:/{name}/1"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_run_whose_artifacts_lie_outside_the_store_cannot_be_registered(api, server, world):
    elsewhere = server.artifacts.parent / "elsewhere"
    experiment = assert_ok(api.post("experiments/create", json={"name": unique("elsewhere"),
                                                                "artifact_location": str(elsewhere)}))
    run = assert_ok(api.post("runs/create", json={"experiment_id": experiment["experiment_id"]}))["run"]["info"]
    body = assert_error(api.post("model-versions/create", json={"name": world["model"],
                                                                "source": f"runs:/{run['run_id']}/model"}),
                        400, "INVALID_PARAMETER_VALUE")
    assert str(elsewhere) in body["message"]


def assert_inside_store(uri: str, artifacts) -> None:
    """A download URI a client may follow: a proxied path without traversal, or a local path
    under the artifacts destination after symlinks are resolved."""
    if uri.startswith("mlflow-artifacts:"):
        path = unquote(unquote(urlsplit(uri).path))
        assert path.startswith("/") and not {"", ".", ".."} & set(path[1:].split("/")), uri
        return
    path = urlsplit(uri).path if uri.startswith("file:") else uri
    real = os.path.realpath(path)
    assert real.startswith(os.path.realpath(artifacts) + os.sep), uri


def test_accepted_sources_download_inside_the_store(api, server, world):
    name = create_model(api)["name"]
    art, run = world["art"], world["run"]
    expected = {
        f"runs:/{run}/model": f"{world['artifact_uri']}/model",
        f"runs:/{run}/model/sub": f"{world['artifact_uri']}/model/sub",
        f"mlflow-artifacts:/{world['experiment']}/{run}/artifacts/model": None,
        f"mlflow-artifacts://127.0.0.1:{server.port}/{world['experiment']}/{run}/artifacts/model": None,
        "mlflow-artifacts:///1/model": None,
        f"{art}/1/model": None,
        f"{art}/1/model/": None,
        f"file://{art}/1/model": None,
        f"file:{art}/1/model": None,
    }
    for version, (source, location) in enumerate(expected.items(), start=1):
        created = create_version(api, name, source, run_id=run if source.startswith("runs:") else "")
        assert created["version"] == str(version) and created["source"] == source
        uri = download_uri(api, name, version)
        assert uri == (location or source)
        assert_inside_store(uri, server.artifacts)
    # a version copied from another one downloads from the same place
    copied = create_version(api, unique_model(api), f"models:/{name}/1")
    assert copied["run_id"] == run
    assert download_uri(api, copied["name"], copied["version"]) == f"{world['artifact_uri']}/model"


def unique_model(api) -> str:
    return create_model(api)["name"]


def test_logged_model_source(api, server, world):
    created = assert_ok(api.post("logged-models", json={"experiment_id": world["experiment"], "name": "model",
                                                         "source_run_id": world["run"]}))["model"]["info"]
    model_id = created["model_id"]
    name = unique_model(api)
    version = create_version(api, name, f"models:/{model_id}", model_id=model_id)
    assert version["model_id"] == model_id and version["source"] == f"models:/{model_id}"
    assert version["run_id"] == world["run"]
    uri = download_uri(api, name, version["version"])
    assert uri == created["artifact_uri"]
    assert_inside_store(uri, server.artifacts)
    assert_error(api.post("model-versions/create", json={"name": name, "source": f"models:/{model_id}",
                                                         "model_id": ZERO_MODEL_ID}), 400, "INVALID_PARAMETER_VALUE")


def test_download_uri_is_checked_again_on_the_way_out(api, server, world):
    """A folder that was inside the store when registered but became a link to the outside
    since is not handed out."""
    name = unique_model(api)
    create_version(api, name, f"{world['art']}/later-link/model")
    os.symlink(server.artifacts.parent / "outside", server.artifacts / "later-link")
    assert_error(api.get("model-versions/get-download-uri", params={"name": name, "version": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
