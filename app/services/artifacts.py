"""Artifact rules: which store a path or a run's artifact URI lives in, and safe paths."""
from __future__ import annotations

import os
import posixpath
from typing import BinaryIO
from urllib.parse import urlsplit

from ..artifacts import STORES, FileInfo, repository_for
from ..artifacts.paths import safe_relative_path
from ..errors import MlflowError, invalid

PROXY_SCHEME = "mlflow-artifacts"


class ArtifactService:
    """The proxy (mlflow-artifacts:/) store under the artifacts destination, when serving
    artifacts (destination given), and listings of runs' artifact roots."""

    def __init__(self, destination: str | None, default_artifact_root: str):
        self._proxy = repository_for(destination) if destination else None
        # Runs in a remote default root (s3://bucket/root, ...) are listed with the server's
        # own credentials, through one repository made on first use.
        self._remote_root = (default_artifact_root.rstrip("/")
                             if urlsplit(default_artifact_root).scheme in STORES else None)
        self._remote = None
        # Run roots on this machine's disk are listed only below the default artifact root:
        # an experiment's artifact_location must not open the rest of the file system.
        root = urlsplit(default_artifact_root)
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

    def list_under(self, root_uri: str, path: str | None) -> list[FileInfo]:
        """Entries at `path` below a run's artifact root; names come back relative to that root."""
        rel = safe_relative_path(path)
        parts = urlsplit(root_uri)
        if parts.scheme == PROXY_SCHEME:
            base = safe_relative_path(parts.path.lstrip("/"))
            entries = self.proxy.list(posixpath.join(base, rel) if base else rel)
        elif parts.scheme in ("", "file") and self._is_local_root(parts.path):
            entries = repository_for(parts.path).list(rel)
        elif self._remote_root and (root_uri + "/").startswith(self._remote_root + "/"):
            base = safe_relative_path(root_uri[len(self._remote_root):].lstrip("/"))
            self._remote = self._remote or repository_for(self._remote_root)
            entries = self._remote.list(posixpath.join(base, rel) if base else rel)
        else:
            raise invalid(f"The server does not list artifacts at '{root_uri}': only proxied "
                          f"(mlflow-artifacts:/) roots and those below the default artifact root")
        return [FileInfo(posixpath.join(rel, e.name) if rel else e.name, e.is_dir, e.size) for e in entries]

    def _is_local_root(self, path: str) -> bool:
        real = os.path.realpath(path)
        return self._local_root is not None and (real == self._local_root
                                                 or real.startswith(self._local_root + os.sep))
