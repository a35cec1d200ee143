"""Artifacts as the official server (mlflow 3.17) serves them: downloads typed and named as it
types and names them; runs whose artifact root is an http(s) URL of an artifact proxy; and the
routes its web UI uses beside the REST API (get-artifact, model-versions/get-artifact, the
logged model's files and directories, upload-artifact), which keep every path inside the
artifact root as the proxy does, and ask the caller what the REST API asks (get-history-bulk
too, whose answers tests/tracking/test_ui_routes.py checks).

What the official server answers was read off one started with bench/official_server.sh and
noted beside each check."""
from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
import requests

from api_checks import assert_error
from artifact_support import PROXY, SENTINEL, TRAVERSALS, assert_refused, raw_request, start_sqlite_server
from conftest import unique

# name -> (Content-Type, Content-Disposition) of its download, as the official server sends them:
# text/plain without a charset for its list of text extensions (json, yaml, csv, py, ... and the
# file names MLmodel and MLproject), the registered type otherwise, else application/octet-stream;
# filename= alone for printable ASCII names (quoted when not a token), an ASCII stand-in
# ("download" when nothing is left) beside filename*=UTF-8'' for other names.
DOWNLOADS = {
    "notes.txt": ("text/plain", "attachment; filename=notes.txt"),
    "metrics.json": ("text/plain", "attachment; filename=metrics.json"),
    "conda.yaml": ("text/plain", "attachment; filename=conda.yaml"),
    "MLmodel": ("text/plain", "attachment; filename=MLmodel"),
    "table.csv": ("text/plain", "attachment; filename=table.csv"),
    "train.py": ("text/plain", "attachment; filename=train.py"),
    "plot.png": ("image/png", "attachment; filename=plot.png"),
    "chart.svg": ("image/svg+xml", "attachment; filename=chart.svg"),
    "report.html": ("text/html", "attachment; filename=report.html"),
    "model.pkl": ("application/octet-stream", "attachment; filename=model.pkl"),
    "weights": ("application/octet-stream", "attachment; filename=weights"),
    'a b;"c.txt': ("text/plain", 'attachment; filename="a b;\\"c.txt"'),
    "été 日本.txt": ("text/plain",
                    "attachment; filename=\"ete .txt\"; filename*=UTF-8''%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC.txt"),
    "日本語": ("application/octet-stream", "attachment; filename=download; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E"),
}
AJAX = "/ajax-api/2.0/mlflow"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server whose artifacts destination has a sentinel file beside it."""
    tmp = tmp_path_factory.mktemp("official-routes")
    (tmp / "sentinel.txt").write_bytes(SENTINEL)
    server = start_sqlite_server(tmp)
    yield server
    server.stop()


@pytest.fixture
def mlflow_client(srv, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(srv.url)
    return mlflow.MlflowClient(srv.url)


@pytest.fixture(scope="module")
def world(srv, tmp_path_factory):
    """A run with notes/hello.txt, a model version of its notes folder, and a logged
    model with MLmodel and sub/hello.txt, logged by the official client."""
    import mlflow
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    mlflow.set_tracking_uri(srv.url)
    client = mlflow.MlflowClient(srv.url)
    source = tmp_path_factory.mktemp("source")
    (source / "hello.txt").write_bytes(b"hi")
    (source / "MLmodel").write_bytes(b"artifact_path: m\n")
    experiment = client.create_experiment(unique())
    run = client.create_run(experiment).info
    client.log_artifact(run.run_id, str(source / "hello.txt"), "notes")
    name = unique("rm")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"{run.artifact_uri}/notes", run_id=run.run_id).version
    model = client.create_logged_model(experiment, name="lm", source_run_id=run.run_id)
    repository = get_artifact_repository(model.artifact_location)
    repository.log_artifact(str(source / "MLmodel"))
    repository.log_artifact(str(source / "hello.txt"), "sub")
    return dict(run=run.run_id, root=run.artifact_uri, name=name, version=version,
                model=model.model_id, model_root=model.artifact_location)


def get(srv, route: str, **params) -> requests.Response:
    return requests.get(srv.url + route, params=params, timeout=30)


def assert_download(response: requests.Response, body: bytes, name: str) -> None:
    assert response.status_code == 200, response.text
    assert response.content == body
    kind, disposition = DOWNLOADS.get(name) or (None, f"attachment; filename={name}")
    if kind:
        assert response.headers["Content-Type"] == kind
    assert response.headers["Content-Disposition"] == disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def put(srv, world, rel: str) -> tuple[str, bytes]:
    """Upload a file at `rel` below the run's root through the proxy: (its proxy path, content)."""
    path = f"{PROXY}/{quote(world['root'].removeprefix('mlflow-artifacts:/') + '/' + rel)}"
    body = f"content of {rel}".encode()
    assert requests.put(srv.url + path, data=body, timeout=30).status_code == 200
    return path, body


@pytest.mark.parametrize("name", DOWNLOADS)
def test_downloads_are_typed_and_named_as_by_the_official_server(srv, world, name):
    path, body = put(srv, world, f"files/{name}")
    assert_download(get(srv, path), body, name)


def test_get_artifact_serves_a_runs_files(srv, world):
    run = world["run"]
    for name in ("MLmodel", "report.html", "日本語"):
        body = put(srv, world, f"typed/{name}")[1]
        assert_download(get(srv, "/get-artifact", run_id=run, path=f"typed/{name}"), body, name)
    # official: run_id or run_uuid names the run; the path is required
    assert_download(get(srv, "/get-artifact", run_id=run, path="notes/hello.txt"), b"hi", "hello.txt")
    assert_download(get(srv, "/get-artifact", run_uuid=run, path="notes/hello.txt"), b"hi", "hello.txt")
    # official: 404 RESOURCE_DOES_NOT_EXIST for a missing file or run; 404 for the path under /ajax-api
    assert_error(get(srv, "/get-artifact", run_id=run, path="notes/none.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get(srv, "/get-artifact", run_id=unique("run"), path="x.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert get(srv, f"{AJAX}/get-artifact", run_id=run, path="notes/hello.txt").status_code == 404
    # official: 400 without a path (an HTML page there, JSON here)
    assert get(srv, "/get-artifact", run_id=run).status_code == 400


def test_model_version_files(srv, world):
    answer = get(srv, "/model-versions/get-artifact", name=world["name"], version=world["version"], path="hello.txt")
    assert_download(answer, b"hi", "hello.txt")
    # official: 404 RESOURCE_DOES_NOT_EXIST for a version that does not exist
    assert_error(get(srv, "/model-versions/get-artifact", name=world["name"], version="99", path="hello.txt"),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_logged_model_files_and_directories(srv, world):
    model, root = world["model"], world["model_root"]
    # official: the listing at /api/2.0 and /ajax-api/2.0, entries by name, sizes of files only
    for api in ("/api/2.0/mlflow", AJAX):
        listing = get(srv, f"{api}/logged-models/{model}/artifacts/directories")
        assert listing.status_code == 200, listing.text
        assert listing.json() == {"root_uri": root, "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 17}, {"path": "sub", "is_dir": True}]}
        sub = get(srv, f"{api}/logged-models/{model}/artifacts/directories", artifact_directory_path="sub")
        assert sub.json() == {"root_uri": root, "files": [{"path": "sub/hello.txt", "is_dir": False, "file_size": 2}]}
    # official: the files under /ajax-api/2.0 only; artifact_file_path is required (400)
    assert_download(get(srv, f"{AJAX}/logged-models/{model}/artifacts/files", artifact_file_path="MLmodel"),
                    b"artifact_path: m\n", "MLmodel")
    assert get(srv, f"/api/2.0/mlflow/logged-models/{model}/artifacts/files", artifact_file_path="MLmodel"
               ).status_code == 404
    assert get(srv, f"{AJAX}/logged-models/{model}/artifacts/files").status_code == 400
    unknown = "m-" + "0" * 32
    assert_error(get(srv, f"{AJAX}/logged-models/{unknown}/artifacts/files", artifact_file_path="MLmodel"),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get(srv, f"{AJAX}/logged-models/{unknown}/artifacts/directories"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_upload_artifact_writes_below_the_runs_root(srv, mlflow_client):
    # a run whose experiment has an artifact location of its own: the official server writes to
    # <experiment id>/<run id>/artifacts/<dir> whatever the run's root; we write below the root
    experiment = mlflow_client.create_experiment(unique(), artifact_location="mlflow-artifacts:/team-a")
    run = mlflow_client.create_run(experiment).info.run_id
    url = f"{srv.url}{AJAX}/upload-artifact"
    # official: POST with the run (run_uuid) and the path in the query, the file as the body; 200
    answer = requests.post(url, params={"run_uuid": run, "path": "plots/roc.png"}, data=b"png", timeout=30)
    assert answer.status_code == 200, answer.text
    assert [(f.path, f.file_size) for f in mlflow_client.list_artifacts(run, "plots")] == [("plots/roc.png", 3)]
    assert (srv.artifacts / "team-a" / run / "artifacts" / "plots" / "roc.png").read_bytes() == b"png"
    assert_download(get(srv, "/get-artifact", run_id=run, path="plots/roc.png"), b"png", "roc.png")
    # official: 400 INVALID_PARAMETER_VALUE without a path, without a body, over 10 MB; 404 under /api
    assert_error(requests.post(url, params={"run_uuid": run}, data=b"x", timeout=30), 400, "INVALID_PARAMETER_VALUE")
    assert_error(requests.post(url, params={"run_uuid": run, "path": "e.txt"}, timeout=30),
                 400, "INVALID_PARAMETER_VALUE")
    big = requests.post(url, params={"run_uuid": run, "path": "big.bin"}, data=b"x" * (10 * 1024 * 1024 + 1),
                        timeout=60)
    assert_error(big, 400, "INVALID_PARAMETER_VALUE")
    assert requests.post(f"{srv.url}/api/2.0/mlflow/upload-artifact", params={"run_uuid": run, "path": "x.txt"},
                         data=b"x", timeout=30).status_code == 404
    assert {f.path for f in mlflow_client.list_artifacts(run)} == {"plots"}


def test_the_file_routes_keep_paths_inside_the_root(srv, world):
    run, model = world["run"], world["model"]
    version = {"name": world["name"], "version": world["version"]}
    routes = [("GET", "/get-artifact", {"run_id": run}, "path", "notes/hello.txt"),
              ("GET", "/model-versions/get-artifact", version, "path", "hello.txt"),
              ("GET", f"{AJAX}/logged-models/{model}/artifacts/files", {}, "artifact_file_path", "MLmodel"),
              ("GET", f"{AJAX}/logged-models/{model}/artifacts/directories", {}, "artifact_directory_path", "sub"),
              ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": run}, "path", "notes"),
              ("POST", f"{AJAX}/upload-artifact", {"run_uuid": run}, "path", "uploads/ok.txt")]
    absolute = [str(srv.artifacts.parent / "sentinel.txt"), "/etc/passwd", "%2fetc%2fpasswd"]
    failures = []
    for method, path, params, field, legitimate in routes:
        query = urlencode(params)
        body = b"ATTACK" if method == "POST" else None
        good = raw_request(srv, method, f"{path}?{query}&{field}={quote(legitimate)}", body=b"ok" if body else None)
        assert good.status == 200, (path, good)
        for attack in TRAVERSALS + absolute:
            target = f"{path}?{query}&{field}={attack}"
            try:
                assert_refused(raw_request(srv, method, target, body=body), f"{method} {target}")
            except AssertionError as error:
                failures.append(str(error).splitlines()[0])
    assert not failures, "\n".join(failures)
    assert (srv.artifacts.parent / "sentinel.txt").read_bytes() == SENTINEL
    assert not [p for p in srv.artifacts.parent.rglob("*") if p.is_file() and p.read_bytes() == b"ATTACK"]


def test_a_run_whose_root_is_this_servers_proxy_url(srv, mlflow_client, tmp_path):
    """A root http://<this server>/api/2.0/mlflow-artifacts/artifacts/<path> (a run logged
    through the proxy by URL): the official server, serving artifacts, reads <path> from its
    own artifacts destination."""
    location = f"{srv.url}{PROXY}/by-url"
    run = mlflow_client.create_run(mlflow_client.create_experiment(unique(), artifact_location=location)).info
    (tmp_path / "hello.txt").write_bytes(b"hi")
    mlflow_client.log_artifact(run.run_id, str(tmp_path / "hello.txt"), "notes")  # the client PUTs it by URL
    listing = get(srv, "/api/2.0/mlflow/artifacts/list", run_id=run.run_id)
    assert listing.status_code == 200, listing.text
    assert listing.json() == {"root_uri": run.artifact_uri, "files": [{"path": "notes", "is_dir": True}]}
    assert get(srv, "/api/2.0/mlflow/artifacts/list", run_id=run.run_id, path="notes").json()["files"] == [
        {"path": "notes/hello.txt", "is_dir": False, "file_size": 2}]
    assert (srv.artifacts / "by-url" / run.run_id / "artifacts" / "notes" / "hello.txt").read_bytes() == b"hi"


def test_runs_on_another_servers_proxy_are_read_through_it(start_server, tmp_path, monkeypatch):
    """A tracking server that does not serve artifacts, whose default artifact root is another
    server's proxy by URL: the official server lists, downloads and uploads through that proxy
    (it connects to the hosts of its own default root and destination only)."""
    import mlflow
    proxy = start_server({"MLFLOW_ARTIFACTS_ONLY": "true", "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "proxied"),
                          "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'proxy.db'}"})
    root = f"{proxy.url}{PROXY}/runs"
    tracking = start_server({"MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": root,
                             "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'tracking.db'}"})
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(tracking.url)
    client = mlflow.MlflowClient(tracking.url)
    experiment = client.create_experiment(unique())
    run = client.create_run(experiment).info
    assert run.artifact_uri.startswith(root + "/")
    (tmp_path / "hello.txt").write_bytes(b"hi")
    client.log_artifact(run.run_id, str(tmp_path / "hello.txt"), "notes")
    listing = get(tracking, "/api/2.0/mlflow/artifacts/list", run_id=run.run_id, path="notes")
    assert listing.status_code == 200, listing.text
    assert listing.json() == {"root_uri": run.artifact_uri,
                              "files": [{"path": "notes/hello.txt", "is_dir": False, "file_size": 2}]}
    assert_download(get(tracking, "/get-artifact", run_id=run.run_id, path="notes/hello.txt"), b"hi", "hello.txt")
    answer = requests.post(f"{tracking.url}{AJAX}/upload-artifact", params={"run_uuid": run.run_id, "path": "up.txt"},
                           data=b"up", timeout=30)
    assert answer.status_code == 200, answer.text
    stored = tmp_path / "proxied" / "runs" / experiment / run.run_id / "artifacts"
    assert (stored / "up.txt").read_bytes() == b"up"
    assert {f.path for f in client.list_artifacts(run.run_id)} == {"notes", "up.txt"}
    # a proxy elsewhere is never connected to (the official server refuses such a location at creation)
    elsewhere = client.create_run(client.create_experiment(
        unique(), artifact_location=f"http://127.0.0.1:9{PROXY}/elsewhere")).info.run_id
    assert_error(get(tracking, "/api/2.0/mlflow/artifacts/list", run_id=elsewhere), 400, "INVALID_PARAMETER_VALUE")


def test_the_file_routes_ask_what_the_rest_api_asks(start_server, tmp_path):
    """With basic-auth: reading a run's, version's or logged model's files takes READ on it,
    uploading into a run EDIT on its experiment; get-history-bulk judges every run it names."""
    password = "admin-password-0001"
    server = start_server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                           "MLFLOW_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
                           "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})

    def session(user, secret):
        s = requests.Session()
        s.auth = (user, secret)
        return s

    admin = session("admin", password)
    for user in ("owner", "reader"):
        assert admin.post(f"{server.url}/api/2.0/mlflow/users/create",
                          json={"username": user, "password": f"{user}-password-01"}, timeout=30).ok
    owner, reader = session("owner", "owner-password-01"), session("reader", "reader-password-01")
    api = f"{server.url}/api/2.0/mlflow"
    experiment = owner.post(f"{api}/experiments/create", json={"name": unique()}, timeout=30).json()["experiment_id"]
    run = owner.post(f"{api}/runs/create", json={"experiment_id": experiment}, timeout=30).json()["run"]["info"]
    mine = reader.post(f"{api}/runs/create", json={"experiment_id": reader.post(
        f"{api}/experiments/create", json={"name": unique()}, timeout=30).json()["experiment_id"]}, timeout=30)
    rel = run["artifact_uri"].removeprefix("mlflow-artifacts:/") + "/hello.txt"
    assert owner.put(f"{server.url}{PROXY}/{rel}", data=b"hi", timeout=30).ok
    model = owner.post(f"{api}/logged-models", json={"experiment_id": experiment, "name": "lm"},
                       timeout=30).json()["model"]["info"]["model_id"]
    name = unique("rm")
    assert owner.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).ok
    assert owner.post(f"{api}/model-versions/create", json={"name": name, "source": run["artifact_uri"],
                                                            "run_id": run["run_id"]}, timeout=30).ok
    reads = [("/get-artifact", {"run_id": run["run_id"], "path": "hello.txt"}),
             ("/model-versions/get-artifact", {"name": name, "version": "1", "path": "hello.txt"}),
             (f"{AJAX}/logged-models/{model}/artifacts/files", {"artifact_file_path": "MLmodel"}),
             (f"{AJAX}/logged-models/{model}/artifacts/directories", {}),
             (f"{AJAX}/metrics/get-history-bulk", {"run_id": [mine.json()["run"]["info"]["run_id"], run["run_id"]],
                                                   "metric_key": "m"})]
    upload = (f"{server.url}{AJAX}/upload-artifact", {"run_uuid": run["run_id"], "path": "up.txt"})

    for path, params in reads:
        assert_error(reader.get(server.url + path, params=params, timeout=30), 403, "PERMISSION_DENIED")
    assert requests.get(server.url + reads[0][0], params=reads[0][1], timeout=30).status_code == 401
    grant = {"username": "reader", "resource_type": "experiment", "resource_id": experiment}
    assert owner.post(f"{server.url}/api/3.0/mlflow/users/permissions/grant",
                      json={**grant, "permission": "READ"}, timeout=30).ok
    assert owner.post(f"{server.url}/api/3.0/mlflow/users/permissions/grant",
                      json={"username": "reader", "resource_type": "registered_model", "resource_id": name,
                            "permission": "READ"}, timeout=30).ok
    assert reader.get(server.url + reads[0][0], params=reads[0][1], timeout=30).content == b"hi"
    assert reader.get(server.url + reads[1][0], params=reads[1][1], timeout=30).content == b"hi"
    assert reader.get(server.url + reads[3][0], timeout=30).status_code == 200
    assert reader.get(server.url + reads[4][0], params=reads[4][1], timeout=30).status_code == 200
    assert_error(reader.post(upload[0], params=upload[1], data=b"up", timeout=30), 403, "PERMISSION_DENIED")
    assert owner.post(f"{server.url}/api/3.0/mlflow/users/permissions/revoke", json=grant, timeout=30).ok
    assert owner.post(f"{server.url}/api/3.0/mlflow/users/permissions/grant",
                      json={**grant, "permission": "EDIT"}, timeout=30).ok
    assert reader.post(upload[0], params=upload[1], data=b"up", timeout=30).status_code == 200
