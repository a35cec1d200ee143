"""Artifact repositories, one module per storage scheme."""
from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import MlflowError
from .base import ArtifactRepository, FileInfo
from .local import LocalArtifactRepository

__all__ = ["ArtifactRepository", "FileInfo", "repository_for"]


def repository_for(location: str) -> ArtifactRepository:
    """The repository for a local path, a file: URI, or (later) a remote store URI."""
    if "://" not in location and not location.startswith("file:"):
        return LocalArtifactRepository(location)
    parts = urlsplit(location)
    if parts.scheme == "file":
        return LocalArtifactRepository(parts.path)
    raise MlflowError(f"Artifact store scheme '{parts.scheme}://' is not supported yet", "NOT_IMPLEMENTED")
