"""The artifact proxy (/api/2.0/mlflow-artifacts/...) and the tracking artifact listing."""
from __future__ import annotations

import mimetypes

from flask import Flask, Response, request
from werkzeug.wsgi import wrap_file

from ..artifacts.base import attachment
from ..services.artifacts import ArtifactService
from ..services.tracking import TrackingService
from .access import ARTIFACT, MANAGE, RUN, UPDATE, on
from .api import API_PREFIXES, INT, STR, Route, add_view, json_response, register

CHUNK = 1024 * 1024  # read size of streams without a file descriptor (remote stores)


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
        return json_response({})

    def download(artifact_path):
        handle, size = service.open(artifact_path)
        mimetype = mimetypes.guess_type(artifact_path)[0] or "application/octet-stream"
        # gunicorn sends a real file with sendfile and reads other streams CHUNK at a time
        response = Response(wrap_file(request.environ, handle, CHUNK), mimetype=mimetype,
                            direct_passthrough=True)
        response.content_length = size
        response.headers["Content-Disposition"] = attachment(artifact_path)
        return response

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


def routes(tracking: TrackingService, artifacts: ArtifactService) -> list[Route]:
    def list_run_artifacts(r):
        root_uri = tracking.get_run(r.get("run_id") or r.get("run_uuid"))["info"]["artifact_uri"]
        files = artifacts.list_under(root_uri, r.get("path"))
        response = {"root_uri": root_uri}
        if files:
            response["files"] = [_file_json(f) for f in files]
        return response

    return [Route("GET", "/mlflow/artifacts/list", {"run_id": STR, "run_uuid": STR, "path": STR, "page_token": STR},
                  list_run_artifacts, on(RUN, "run_id"))]
