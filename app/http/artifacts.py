"""The artifact proxy (/api/2.0/mlflow-artifacts/...) and the tracking artifact listing."""
from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import quote

from flask import Flask, Response, request
from werkzeug.wsgi import wrap_file

from ..errors import MlflowError
from ..services.artifacts import ArtifactService
from ..services.tracking import TrackingService
from .api import API_PREFIXES, STR, Route, json_response

CHUNK = 1024 * 1024  # read size of streams without a file descriptor (remote stores)


def _file_json(info) -> dict:
    item = {"path": info.name, "is_dir": info.is_dir}
    if info.size is not None:
        item["file_size"] = info.size
    return item


def register_proxy(app: Flask, service: ArtifactService, prefix: str) -> None:
    """PUT/GET/DELETE of single artifacts and directory listing, streamed in both directions."""

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
        name = quote(posixpath.basename(artifact_path), safe="")
        response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
        return response

    def delete(artifact_path):
        service.delete(artifact_path)
        return json_response({})

    def listing():
        return json_response({"files": [_file_json(f) for f in files]}
                             if (files := service.list(request.args.get("path"))) else {})

    def not_offered(artifact_path):
        raise MlflowError("Multipart upload and presigned download are not available for this "
                          "artifact store; upload and download through the proxy", "NOT_IMPLEMENTED")

    for api in API_PREFIXES:
        base = f"{prefix}{api}/2.0/mlflow-artifacts"
        app.add_url_rule(f"{base}/artifacts/<path:artifact_path>", f"{base} upload", upload, methods=["PUT"])
        app.add_url_rule(f"{base}/artifacts/<path:artifact_path>", f"{base} download", download, methods=["GET"])
        app.add_url_rule(f"{base}/artifacts/<path:artifact_path>", f"{base} delete", delete, methods=["DELETE"])
        app.add_url_rule(f"{base}/artifacts", f"{base} list", listing, methods=["GET"])
        for action in ("mpu/create", "mpu/complete", "mpu/abort"):
            app.add_url_rule(f"{base}/{action}/<path:artifact_path>", f"{base} {action}", not_offered,
                             methods=["POST"])
        app.add_url_rule(f"{base}/presigned/<path:artifact_path>", f"{base} presigned", not_offered,
                         methods=["GET"])


def routes(tracking: TrackingService, artifacts: ArtifactService) -> list[Route]:
    def list_run_artifacts(r):
        root_uri = tracking.get_run(r.get("run_id") or r.get("run_uuid"))["info"]["artifact_uri"]
        files = artifacts.list_under(root_uri, r.get("path"))
        response = {"root_uri": root_uri}
        if files:
            response["files"] = [_file_json(f) for f in files]
        return response

    return [Route("GET", "/mlflow/artifacts/list", {"run_id": STR, "run_uuid": STR, "path": STR, "page_token": STR},
                  list_run_artifacts)]
