"""The official MLflow client logging, listing and downloading artifacts through the proxy."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from artifact_support import PROXY, raw_request, start_sqlite_server
from conftest import unique


@pytest.fixture(scope="module")
def art_server(tmp_path_factory):
    server = start_sqlite_server(tmp_path_factory.mktemp("art-client"))
    yield server
    server.stop()


@pytest.fixture
def mlflow_at(art_server, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", art_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(art_server.url)
    yield mlflow
    if mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def run(mlflow_at):
    """A fresh run of a fresh experiment; (MlflowClient, Run)."""
    client = mlflow_at.MlflowClient()
    exp_id = client.create_experiment(unique())
    return client, client.create_run(exp_id)


def run_dir(server, run) -> Path:
    return server.artifacts / run.info.experiment_id / run.info.run_id / "artifacts"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"top level\n",
        "a/one.json": b'{"one": 1}',
        "a/b/two.bin": bytes(range(256)) * 40,
        "a/b/c/three.csv": b"x,y\n1,2\n",
        "d/empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_runs_get_proxied_artifact_uris(art_server, run):
    client, r = run
    assert r.info.artifact_uri == f"mlflow-artifacts:/{r.info.experiment_id}/{r.info.run_id}/artifacts"
    assert client.get_run(r.info.run_id).info.artifact_uri == r.info.artifact_uri


def test_log_artifact_lands_under_destination(art_server, run, tmp_path):
    client, r = run
    src = tmp_path / "model.txt"
    src.write_text("weights\n")
    client.log_artifact(r.info.run_id, str(src))
    client.log_artifact(r.info.run_id, str(src), artifact_path="sub/dir")
    root = run_dir(art_server, r)
    assert (root / "model.txt").read_text() == "weights\n"
    assert (root / "sub" / "dir" / "model.txt").read_text() == "weights\n"


def test_log_artifacts_nested_and_list(art_server, run, tmp_path):
    client, r = run
    files = make_tree(tmp_path / "src")
    client.log_artifacts(r.info.run_id, str(tmp_path / "src"), artifact_path="out")
    assert tree(run_dir(art_server, r) / "out") == files

    top = client.list_artifacts(r.info.run_id)
    assert [(f.path, f.is_dir) for f in top] == [("out", True)]
    out = client.list_artifacts(r.info.run_id, "out")
    assert [(f.path, f.is_dir, f.file_size) for f in out] == [
        ("out/a", True, None), ("out/d", True, None), ("out/top.txt", False, len(files["top.txt"]))]
    nested = client.list_artifacts(r.info.run_id, "out/a/b")
    assert [(f.path, f.is_dir, f.file_size) for f in nested] == [
        ("out/a/b/c", True, None), ("out/a/b/two.bin", False, len(files["a/b/two.bin"]))]
    empty_dir = client.list_artifacts(r.info.run_id, "out/d")
    assert [(f.path, f.file_size) for f in empty_dir] == [("out/d/empty.txt", 0)]
    # a file, or a path that does not exist, lists as nothing
    assert client.list_artifacts(r.info.run_id, "out/top.txt") == []
    assert client.list_artifacts(r.info.run_id, "nope") == []


def test_download_tree_and_single_file(art_server, run, tmp_path):
    client, r = run
    files = make_tree(tmp_path / "src")
    client.log_artifacts(r.info.run_id, str(tmp_path / "src"))
    dst = Path(client.download_artifacts(r.info.run_id, "", str(tmp_path / "all")))
    assert tree(dst) == files
    sub = Path(client.download_artifacts(r.info.run_id, "a", str(tmp_path / "sub")))
    assert sub.name == "a"
    assert tree(sub) == {k[2:]: v for k, v in files.items() if k.startswith("a/")}
    one = Path(client.download_artifacts(r.info.run_id, "a/b/two.bin", str(tmp_path / "one")))
    assert one.name == "two.bin" and one.read_bytes() == files["a/b/two.bin"]


def test_log_text_dict_and_load(art_server, mlflow_at, run):
    client, r = run
    text = "héllo wörld\nsecond line ✓\n"
    data = {"a": 1, "b": [1, 2, 3], "c": {"nested": "ü"}}
    client.log_text(r.info.run_id, text, "notes/readme.txt")
    client.log_dict(r.info.run_id, data, "conf/data.json")
    client.log_dict(r.info.run_id, data, "conf/data.yaml")
    base = f"runs:/{r.info.run_id}"
    assert mlflow_at.artifacts.load_text(f"{base}/notes/readme.txt") == text
    assert mlflow_at.artifacts.load_dict(f"{base}/conf/data.json") == data
    assert json.loads((run_dir(art_server, r) / "conf" / "data.json").read_text()) == data
    # the artifact URI form works as well
    assert mlflow_at.artifacts.load_text(f"{r.info.artifact_uri}/notes/readme.txt") == text
    assert (run_dir(art_server, r) / "conf" / "data.yaml").stat().st_size > 0


def test_log_image_and_figure(art_server, mlflow_at, run, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    client, r = run
    image = (np.arange(32 * 48 * 3) % 256).astype(np.uint8).reshape(32, 48, 3)
    client.log_image(r.info.run_id, image, "img/array.png")
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [2, 1, 3])
    client.log_figure(r.info.run_id, fig, "fig/plot.png")
    plt.close(fig)

    local = Path(client.download_artifacts(r.info.run_id, "img/array.png", str(tmp_path)))
    assert np.array_equal(np.asarray(Image.open(local)), image)
    plot = run_dir(art_server, r) / "fig" / "plot.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listed = {f.path: f.file_size for f in client.list_artifacts(r.info.run_id, "fig")}
    assert listed == {"fig/plot.png": plot.stat().st_size}


def test_fluent_api_in_active_run(art_server, mlflow_at, tmp_path):
    mlflow_at.set_experiment(unique())
    with mlflow_at.start_run() as active:
        mlflow_at.log_text("abc", "t.txt")
        mlflow_at.log_dict({"k": "v"}, "d.json")
        src = tmp_path / "f.bin"
        src.write_bytes(b"\x00\x01\x02")
        mlflow_at.log_artifact(str(src), "bin")
    client = mlflow_at.MlflowClient()
    paths = sorted(f.path for f in client.list_artifacts(active.info.run_id))
    assert paths == ["bin", "d.json", "t.txt"]
    assert (run_dir(art_server, active) / "bin" / "f.bin").read_bytes() == b"\x00\x01\x02"


def test_tracking_list_endpoint_paths_relative_to_run_root(art_server, run, tmp_path):
    client, r = run
    make_tree(tmp_path / "src")
    client.log_artifacts(r.info.run_id, str(tmp_path / "src"))
    url = f"{art_server.url}/api/2.0/mlflow/artifacts/list"
    root = requests.get(url, params={"run_id": r.info.run_id}, timeout=30).json()
    assert root["root_uri"] == r.info.artifact_uri
    assert [(f["path"], f["is_dir"]) for f in root["files"]] == [("a", True), ("d", True), ("top.txt", False)]
    assert root["files"][2]["file_size"] == "10" or root["files"][2]["file_size"] == 10
    nested = requests.get(url, params={"run_id": r.info.run_id, "path": "a/b"}, timeout=30).json()
    assert [f["path"] for f in nested["files"]] == ["a/b/c", "a/b/two.bin"]
    assert int(nested["files"][1]["file_size"]) == 256 * 40
    for missing in ("nope", "top.txt"):  # a missing path or a file: no files, still the root
        listed = requests.get(url, params={"run_id": r.info.run_id, "path": missing}, timeout=30)
        assert listed.status_code == 200
        assert listed.json() == {"root_uri": r.info.artifact_uri}, missing


def test_empty_file_round_trip(art_server, run, tmp_path):
    client, r = run
    src = tmp_path / "empty.dat"
    src.write_bytes(b"")
    client.log_artifact(r.info.run_id, str(src))
    assert (run_dir(art_server, r) / "empty.dat").stat().st_size == 0
    assert [(f.path, f.file_size) for f in client.list_artifacts(r.info.run_id)] == [("empty.dat", 0)]
    got = Path(client.download_artifacts(r.info.run_id, "empty.dat", str(tmp_path / "dl")))
    assert got.read_bytes() == b""


# (names with '#', '?' or a valid %XX escape cannot round-trip: the official client puts the
# path into the URL unquoted, so they are not the server's to preserve)
@pytest.mark.parametrize("name", ["données é.txt", "日本語 ファイル.txt", "emoji 🚀 + plus & 100% sure.txt",
                                  "semi;colon,comma=eq'quote.txt"])
def test_unicode_and_odd_file_names_round_trip(art_server, run, tmp_path, name):
    client, r = run
    src = tmp_path / "src" / name
    src.parent.mkdir()
    payload = name.encode() * 3
    src.write_bytes(payload)
    client.log_artifact(r.info.run_id, str(src), artifact_path="dir ü")
    assert (run_dir(art_server, r) / "dir ü" / name).read_bytes() == payload
    listed = client.list_artifacts(r.info.run_id, "dir ü")
    assert [(f.path, f.file_size) for f in listed] == [(f"dir ü/{name}", len(payload))]
    got = Path(client.download_artifacts(r.info.run_id, f"dir ü/{name}", str(tmp_path / "dl")))
    assert got.name == name and got.read_bytes() == payload


def test_missing_artifact_download_is_404_json(art_server, run, tmp_path):
    client, r = run
    prefix = f"{PROXY}/{r.info.experiment_id}/{r.info.run_id}/artifacts"
    response = raw_request(art_server, "GET", f"{prefix}/missing.txt")
    assert response.status == 404, response
    assert response.content_type.startswith("application/json")
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    from mlflow.exceptions import MlflowException
    with pytest.raises(MlflowException):
        client.download_artifacts(r.info.run_id, "missing.txt", str(tmp_path))


def test_listing_missing_path_or_file_is_empty_object(art_server, run, tmp_path):
    client, r = run
    src = tmp_path / "f.txt"
    src.write_text("x")
    client.log_artifact(r.info.run_id, str(src))
    base = f"{r.info.experiment_id}/{r.info.run_id}/artifacts"
    for path in (f"{base}/does/not/exist", f"{base}/f.txt", "no-such-experiment"):
        response = requests.get(f"{art_server.url}{PROXY}", params={"path": path}, timeout=30)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == {}, path
    listed = requests.get(f"{art_server.url}{PROXY}", params={"path": base}, timeout=30).json()
    assert listed == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 1}]} or \
        listed == {"files": [{"path": "f.txt", "is_dir": False, "file_size": "1"}]}


def test_delete_artifact_file_and_directory(art_server, run, tmp_path):
    client, r = run
    make_tree(tmp_path / "src")
    client.log_artifacts(r.info.run_id, str(tmp_path / "src"))
    prefix = f"{PROXY}/{r.info.experiment_id}/{r.info.run_id}/artifacts"
    root = run_dir(art_server, r)

    response = raw_request(art_server, "DELETE", f"{prefix}/top.txt")
    assert response.status == 200, response
    assert not (root / "top.txt").exists()
    assert raw_request(art_server, "GET", f"{prefix}/top.txt").status == 404

    response = raw_request(art_server, "DELETE", f"{prefix}/a")
    assert response.status == 200, response
    assert not (root / "a").exists()
    assert [f.path for f in client.list_artifacts(r.info.run_id)] == ["d"]

    missing = raw_request(art_server, "DELETE", f"{prefix}/never-there.txt")
    assert missing.status == 404, missing
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_download_headers_and_content(art_server, run, tmp_path):
    client, r = run
    data = hashlib.sha256(b"seed").digest() * 1000
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    client.log_artifact(r.info.run_id, str(src))
    response = raw_request(art_server, "GET", f"{PROXY}/{r.info.experiment_id}/{r.info.run_id}/artifacts/blob.bin")
    assert response.status == 200
    assert response.body == data
    assert int(response.headers["content-length"]) == len(data)
