"""The artifact proxy (/api/2.0/mlflow-artifacts/...), the tracking artifact listing, and the
file routes the official UI uses beside the REST API (get-artifact, upload-artifact, ...)."""
from __future__ import annotations

import io
import mimetypes
import posixpath
import unicodedata
from urllib.parse import quote

from flask import Flask, Response, current_app, request
from werkzeug.http import quote_header_value
from werkzeug.wsgi import wrap_file

from ..errors import invalid
from ..services.artifacts import ArtifactService
from ..services.models import ModelService
from ..services.registry import RegistryService
from ..services.tracking import TrackingService
from .access import ARTIFACT, LOGGED_MODEL, MANAGE, REGISTERED_MODEL, RUN, UPDATE, on
from .api import API_PREFIXES, INT, STR, Route, add_view, json_response, register

CHUNK = 1024 * 1024  # read size of streams without a file descriptor (remote stores)
# Downloads are typed as the official server types them: files with these extensions (or
# these names, when they have none) as text/plain, others as their registered type, else
# application/octet-stream.
TEXT_EXTENSIONS = frozenset((
    "txt log err cfg conf cnf cf ini properties prop hocon toml yaml yml xml json js py py3 csv tsv md rst "
    "ipynb MLmodel MLproject").split())
RFC5987_SAFE = "!#$&+-.^_`|~"  # attr-chars besides letters and digits, kept as they are in filename*
MAX_UI_UPLOAD = 10 * 1024 * 1024  # the official UI's upload-artifact takes up to 10 MB


def content_type(name: str) -> str:
    extension = posixpath.splitext(name)[1][1:] or name
    if extension in TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def content_disposition(name: str) -> str:
    """An attachment under the file's name, as the official server writes it: the name itself
    (quoted when it is not a token) when it is printable ASCII; otherwise an ASCII stand-in for
    old clients and the UTF-8 name in filename* (RFC 6266)."""
    if name.isascii() and name.isprintable():
        return f"attachment; filename={quote_header_value(name)}"
    stand_in = "".join(c for c in unicodedata.normalize("NFKD", name) if c.isascii() and c.isprintable())
    return (f"attachment; filename={quote_header_value(stand_in or 'download')}; "
            f"filename*=UTF-8''{quote(name, safe=RFC5987_SAFE)}")


def count_bytes(direction: str, size: int | None) -> None:
    """Adds an upload's or a download's bytes ("upload", "download") to /metrics' counters,
    when metrics are on (app/http/metrics.py)."""
    count = current_app.extensions.get("artifact_bytes")
    if count is not None and size:
        count(direction, size)


def send_artifact(handle, size: int | None, path: str) -> Response:
    """A file's download, always as an attachment (never shown on this server's origin)."""
    count_bytes("download", size)
    name = posixpath.basename(path)
    # gunicorn sends a real file with sendfile and reads other streams CHUNK at a time
    response = Response(wrap_file(request.environ, handle, CHUNK), content_type=content_type(name),
                        direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _file_json(info) -> dict:
    item = {"path": info.name, "is_dir": info.is_dir}
    if info.size is not None:
        item["file_size"] = info.size
    return item


def register_proxy(app: Flask, service: ArtifactService, prefix: str) -> None:
    """PUT/GET/DELETE of single artifacts and directory listing, streamed in both directions;
    multipart uploads and presigned downloads straight to and from stores that presign URLs."""
    app.extensions["artifact_service"] = service  # server-info tells clients what it offers

    def upload(artifact_path):
        service.upload(artifact_path, request.stream, request.content_length)
        count_bytes("upload", request.content_length)  # a body sent without a length is not counted
        return json_response({})

    def download(artifact_path):
        return send_artifact(*service.open(artifact_path), artifact_path)

    def delete(artifact_path):
        service.delete(artifact_path)
        return json_response({})

    def listing():
        return json_response({"files": [_file_json(f) for f in files]}
                             if (files := service.list(request.args.get("path"))) else {})

    # a path is judged by the experiment it belongs to; deleting takes MANAGE, as officially
    for api in API_PREFIXES:
        base = f"{prefix}{api}/2.0/mlflow-artifacts"
        one = f"{base}/artifacts/<path:artifact_path>"
        add_view(app, one, f"{base} upload", upload, ["PUT"], on(ARTIFACT, "artifact_path", UPDATE))
        add_view(app, one, f"{base} download", download, ["GET"], on(ARTIFACT, "artifact_path"))
        add_view(app, one, f"{base} delete", delete, ["DELETE"], on(ARTIFACT, "artifact_path", MANAGE))
        add_view(app, f"{base}/artifacts", f"{base} list", listing, ["GET"], on(ARTIFACT, "path"))
    register(app, _direct_routes(service), prefix)


def _direct_routes(service: ArtifactService) -> list[Route]:
    """The multipart upload's path is the directory; its body's `path` is the client's local
    file, whose name the artifact takes."""
    def create(r):
        upload_id, urls = service.create_multipart_upload(r["artifact_path"], r.get("path"), r.get("num_parts"))
        return {"upload_id": upload_id,
                "credentials": [{"url": url, "part_number": number} for number, url in enumerate(urls, 1)]}

    def complete(r):
        service.complete_multipart_upload(r["artifact_path"], r.get("path"), r.get("upload_id"), r.get("parts"))

    def abort(r):
        service.abort_multipart_upload(r["artifact_path"], r.get("path"), r.get("upload_id"))

    def presigned(r):
        url, size = service.presigned_download(r["artifact_path"])
        return {"url": url, "headers": {}, "file_size": size}

    base = "/mlflow-artifacts"
    upload = {"path": STR, "upload_id": STR}
    part = {"part_number": INT, "etag": STR, "url": STR}
    write = on(ARTIFACT, "artifact_path", UPDATE)
    return [Route("POST", f"{base}/mpu/create/{{artifact_path:path}}", {"path": STR, "num_parts": INT}, create,
                  write),
            Route("POST", f"{base}/mpu/complete/{{artifact_path:path}}", {**upload, "parts": [part]}, complete,
                  write),
            Route("POST", f"{base}/mpu/abort/{{artifact_path:path}}", upload, abort, write),
            Route("GET", f"{base}/presigned/{{artifact_path:path}}", {}, presigned, on(ARTIFACT, "artifact_path"))]


def _listing(root_uri: str, files) -> dict:
    return {"root_uri": root_uri, **({"files": [_file_json(f) for f in files]} if files else {})}


def _run_id(fields) -> str | None:
    return fields.get("run_id") or fields.get("run_uuid")  # as the guard reads it (access.RUN)


def _required(name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise invalid(f"Missing value for required parameter '{name}'")
    return value


def routes(tracking: TrackingService, artifacts: ArtifactService) -> list[Route]:
    def list_run_artifacts(r):
        root_uri = tracking.get_run(_run_id(r))["info"]["artifact_uri"]
        return _listing(root_uri, artifacts.list_under(root_uri, r.get("path")))

    return [Route("GET", "/mlflow/artifacts/list", {"run_id": STR, "run_uuid": STR, "path": STR, "page_token": STR},
                  list_run_artifacts, on(RUN, "run_id"))]


def register_files(app: Flask, prefix: str, tracking: TrackingService, registry: RegistryService,
                   models: ModelService, artifacts: ArtifactService) -> None:
    """The official UI's file routes beside the REST API, at the official server's paths: the
    files of a run, a model version and a logged model (a path is checked as the proxy checks
    it: never outside the artifact root), a logged model's listing, and the UI's small uploads
    into a run."""
    def run_root(run_id):
        return tracking.get_run(run_id)["info"]["artifact_uri"]

    def model_root(model_id):
        return models.get_logged_model(model_id)["info"]["artifact_uri"]

    def download(root_uri, path):
        return send_artifact(*artifacts.open_under(root_uri, path), path)

    def run_file():
        return download(run_root(_run_id(request.args)), _required("path"))

    def version_file():
        return download(registry.download_uri(request.args.get("name"), request.args.get("version")),
                        _required("path"))

    def model_file(model_id):
        return download(model_root(model_id), _required("artifact_file_path"))

    def upload():
        run_id, path = _run_id(request.args), _required("path")
        if (request.content_length or 0) > MAX_UI_UPLOAD:
            raise invalid(f"Artifact of {request.content_length} bytes is too large: at most {MAX_UI_UPLOAD} bytes")
        request.max_content_length = MAX_UI_UPLOAD  # a body sent without a length is cut off there (413)
        data = request.get_data(cache=False)
        if not data:
            raise invalid("Missing request body: the artifact's content")
        artifacts.upload_under(run_root(run_id), path, io.BytesIO(data), len(data))
        count_bytes("upload", len(data))
        return json_response({})

    def list_model_files(r):
        root_uri = model_root(r["model_id"])
        return _listing(root_uri, artifacts.list_under(root_uri, r.get("artifact_directory_path")))

    ajax = f"{prefix}/ajax-api/2.0/mlflow"
    add_view(app, f"{prefix}/get-artifact", "get-artifact", run_file, ["GET"], on(RUN, "run_id"))
    add_view(app, f"{prefix}/model-versions/get-artifact", "model-versions get-artifact", version_file, ["GET"],
             on(REGISTERED_MODEL, "name"))
    add_view(app, f"{ajax}/logged-models/<model_id>/artifacts/files", "logged-model file", model_file, ["GET"],
             on(LOGGED_MODEL, "model_id"))
    add_view(app, f"{ajax}/upload-artifact", "upload-artifact", upload, ["POST"], on(RUN, "run_id", UPDATE))
    register(app, [Route("GET", "/mlflow/logged-models/{model_id}/artifacts/directories",
                         {"artifact_directory_path": STR}, list_model_files, on(LOGGED_MODEL, "model_id"))], prefix)
