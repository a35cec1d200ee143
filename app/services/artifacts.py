"""Artifact rules: which store a path or a run's artifact URI lives in, and safe paths."""
from __future__ import annotations

import os
import posixpath
import re
from typing import BinaryIO
from urllib.parse import urlsplit

from ..artifacts import STORES, ArtifactRepository, FileInfo, repository_for
from ..artifacts.credentials import without_password
from ..artifacts.paths import safe_relative_path
from ..artifacts.remote_proxy import PROXY_ROUTE, RemoteProxy, names_proxy
from ..errors import MlflowError, invalid

PROXY_SCHEME = "mlflow-artifacts"
MAX_PARTS = 10_000  # S3's limit, and the client's with its default 10 MB parts up to 100 GB
# The official client falls back to a plain upload only on a NOT_IMPLEMENTED that starts so.
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"


class ArtifactService:
    """The proxy (mlflow-artifacts:/) store under the artifacts destination, when serving
    artifacts (destination given), and the files below runs' and logged models' artifact roots."""

    def __init__(self, destination: str | None, default_artifact_root: str, presigned_urls: bool = True):
        self._proxy = repository_for(destination) if destination else None
        # Clients move big files straight to and from the destination when it can presign URLs.
        self.presigned = bool(presigned_urls and self._proxy and self._proxy.presigned)
        # Runs in a remote default root (s3://bucket/root, ..., or another server's artifact
        # proxy, http(s)://host/api/2.0/mlflow-artifacts/artifacts/root) are reached with the
        # server's own credentials, through one repository made on first use; their URIs name
        # the root without its password.
        root = urlsplit(default_artifact_root)
        self._remote_root = (default_artifact_root.rstrip("/")
                             if root.scheme in STORES or names_proxy(default_artifact_root) else None)
        self._remote_shown = self._remote_root and without_password(self._remote_root)
        self._remote = None
        # Run roots on this machine's disk are listed only below the default artifact root:
        # an experiment's artifact_location must not open the rest of the file system.
        self._local_root = (os.path.realpath(root.path if root.scheme == "file" else default_artifact_root)
                            if root.scheme in ("", "file") else None)

    @property
    def proxy(self):
        if self._proxy is None:
            raise MlflowError("This server does not serve artifacts (it was started with "
                              "--no-serve-artifacts)", "NOT_IMPLEMENTED")
        return self._proxy

    def upload(self, path: str, stream: BinaryIO, size: int | None) -> None:
        self.proxy.write(safe_relative_path(path), stream, size)

    def open(self, path: str) -> tuple[BinaryIO, int]:
        return self.proxy.open(safe_relative_path(path))

    def list(self, path: str | None) -> list[FileInfo]:
        return self.proxy.list(safe_relative_path(path))

    def delete(self, path: str) -> None:
        self.proxy.delete(safe_relative_path(path))

    def create_multipart_upload(self, directory: str, file_path: str | None,
                                parts: int | None) -> tuple[str, list[str]]:
        """(upload id, URL of each part) of a file uploaded into `directory` under the name
        of the client's local `file_path`."""
        rel = _upload_target(directory, file_path)
        if parts is None or not 1 <= parts <= MAX_PARTS:
            raise invalid(f"Invalid value {parts} for parameter 'num_parts': expected 1 to {MAX_PARTS}")
        return self._presigning(MULTIPART_UNSUPPORTED).create_multipart_upload(rel, parts)

    def complete_multipart_upload(self, directory: str, file_path: str | None, upload_id: str | None,
                                  parts: list[dict] | None) -> None:
        rel = _upload_target(directory, file_path)
        _require_upload_id(upload_id)
        if not parts:
            raise invalid("Missing value for required parameter 'parts'")
        etags = {}
        for part in parts:
            number = part.get("part_number")
            if number is None or not 1 <= number <= MAX_PARTS or number in etags:
                raise invalid(f"Invalid part_number {number}: expected distinct numbers from 1 to {MAX_PARTS}")
            etags[number] = part.get("etag") or ""
        self._presigning(MULTIPART_UNSUPPORTED).complete_multipart_upload(rel, upload_id, etags)

    def abort_multipart_upload(self, directory: str, file_path: str | None, upload_id: str | None) -> None:
        rel = _upload_target(directory, file_path)
        _require_upload_id(upload_id)
        self._presigning(MULTIPART_UNSUPPORTED).abort_multipart_upload(rel, upload_id)

    def presigned_download(self, path: str) -> tuple[str, int]:
        """(URL, size) of a file for a direct download."""
        rel = safe_relative_path(path)
        if not rel:
            raise invalid("A presigned download needs a file path")
        return self._presigning("Presigned download is not supported for the current artifact "
                                "repository").presigned_download(rel)

    def _presigning(self, unsupported: str):
        repository = self.proxy
        if not self.presigned:
            raise MlflowError(f"{unsupported}: the artifacts destination cannot presign URLs or the server "
                              f"does not offer them; upload and download through the proxy instead",
                              "NOT_IMPLEMENTED")
        return repository

    def list_under(self, root_uri: str, path: str | None) -> list[FileInfo]:
        """Entries at `path` below a run's (or logged model's) artifact root; names come back
        relative to that root."""
        repository, rel = self._locate(root_uri, path)
        shown = safe_relative_path(path)
        return [FileInfo(posixpath.join(shown, e.name) if shown else e.name, e.is_dir, e.size)
                for e in repository.list(rel)]

    def open_under(self, root_uri: str, path: str) -> tuple[BinaryIO, int | None]:
        """(stream, size) of the file at `path` below an artifact root."""
        repository, rel = self._locate(root_uri, path)
        return repository.open(rel)

    def upload_under(self, root_uri: str, path: str, stream: BinaryIO, size: int | None) -> None:
        repository, rel = self._locate(root_uri, path)
        repository.write(rel, stream, size)

    def _locate(self, root_uri: str, path: str | None) -> tuple[ArtifactRepository, str]:
        """The repository that holds `path` below an artifact root, and the path inside it.
        The proxy's store holds mlflow-artifacts: roots and, when this server serves artifacts,
        http(s) roots that name a proxy, which the official server also takes for its own; a
        local root must lie below the default artifact root, a remote one below the remote
        default root (an object store, or the proxy of another server: its host is the only
        one this server connects to)."""
        rel = safe_relative_path(path)
        parts = urlsplit(root_uri)
        if parts.scheme == PROXY_SCHEME:
            repository, base = self.proxy, parts.path
        elif self._proxy and names_proxy(root_uri):
            repository, base = self._proxy, parts.path.split(PROXY_ROUTE + "/", 1)[1]
        elif parts.scheme in ("", "file") and self._is_local_root(parts.path):
            repository, base = repository_for(parts.path), ""
        elif self._remote_root and (root_uri + "/").startswith(self._remote_shown + "/"):
            self._remote = self._remote or (RemoteProxy(self._remote_root) if names_proxy(self._remote_root)
                                            else repository_for(self._remote_root))
            repository, base = self._remote, root_uri[len(self._remote_shown):]
        else:
            raise invalid(f"The server does not reach artifacts at '{root_uri}': only proxied "
                          f"(mlflow-artifacts:/) roots and those below the default artifact root")
        base = safe_relative_path(base.lstrip("/"))
        return repository, posixpath.join(base, rel) if base else rel

    def _is_local_root(self, path: str) -> bool:
        real = os.path.realpath(path)
        return self._local_root is not None and (real == self._local_root
                                                 or real.startswith(self._local_root + os.sep))


def _upload_target(directory: str, file_path: str | None) -> str:
    """The artifact a multipart upload writes: the directory of the request's URL and the last
    part of the client's local file path (a Windows client sends backslashes)."""
    if not file_path:
        raise invalid("Missing value for required parameter 'path'")
    name = re.split(r"[/\\]", file_path)[-1]
    if name in ("", ".", ".."):
        raise invalid(f"Invalid path '{file_path}': it must name a file")
    return safe_relative_path(posixpath.join(safe_relative_path(directory), name))


def _require_upload_id(upload_id: str | None) -> None:
    if not upload_id:
        raise invalid("Missing value for required parameter 'upload_id'")
