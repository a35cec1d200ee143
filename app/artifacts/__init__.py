"""Artifact repositories, one module per storage scheme, each imported only when its scheme
is used (so a server loads only the SDK of the store it writes to)."""
from __future__ import annotations

import re
from importlib import import_module
from urllib.parse import urlsplit

from ..errors import invalid
from .base import ArtifactRepository, FileInfo, describe
from .local import LocalArtifactRepository

__all__ = ["ArtifactRepository", "FileInfo", "check_location", "repository_for"]

# scheme -> (module in this package, repository class, the authority it needs)
STORES = {
    "s3": ("s3", "S3ArtifactRepository", "bucket"),
    "gs": ("gcs", "GcsArtifactRepository", "bucket"),
    "wasbs": ("azure", "AzureBlobArtifactRepository", "container@account"),
    "abfss": ("azure", "AzureBlobArtifactRepository", "container@account"),
    "ftp": ("ftp", "FtpArtifactRepository", "host"),
    "sftp": ("sftp", "SftpArtifactRepository", "host"),
    "hdfs": ("hdfs", "HdfsArtifactRepository", "optional host"),
    "webhdfs": ("hdfs", "HdfsArtifactRepository", "optional host"),
}
EXAMPLES = {
    "bucket": "{scheme}://bucket/path",
    "container@account": "{scheme}://container@account.blob.core.windows.net/path",
    "host": "{scheme}://user@host:port/path",
    "optional host": "{scheme}://namenode:port/path",
}
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,220}[A-Za-z0-9]")
_CONTAINER = re.compile(r"[A-Za-z0-9$][A-Za-z0-9-]*@[A-Za-z0-9.-]+(:\d{1,5})?")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_location(location: str) -> str:
    """The scheme of a store location ('' for a local path), after checking its shape;
    INVALID_PARAMETER_VALUE naming what is wrong otherwise."""
    if not location:
        raise invalid("Empty artifact location")
    if not _URI.match(location) or re.match(r"^[A-Za-z]:[\\/]", location):
        return ""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise invalid(f"Artifact location '{location}': a file: URI must not name a host (file:///path)")
        return scheme
    if scheme not in STORES:
        known = ", ".join(f"{s}://" for s in STORES)
        raise invalid(f"Unknown artifact store scheme '{scheme}://' (supported: {known}, file: and local paths)")
    need = STORES[scheme][2]
    shown = describe(location)
    if parts.query or parts.fragment or "\\" in location or "\x00" in location:
        raise invalid(f"Artifact location '{shown}': no query, fragment, backslash or NUL allowed")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise invalid(f"Artifact location '{shown}': '.' and '..' segments are not allowed")
    try:
        parts.port
    except ValueError:
        raise invalid(f"Artifact location '{shown}': invalid port") from None
    authority_ok = {
        "bucket": lambda: bool(_BUCKET.fullmatch(parts.netloc)),
        "container@account": lambda: bool(_CONTAINER.fullmatch(parts.netloc)),
        "host": lambda: bool(parts.hostname),
        "optional host": lambda: "@" not in parts.netloc,
    }[need]()
    if not authority_ok:
        example = EXAMPLES[need].format(scheme=scheme)
        raise invalid(f"Artifact location '{shown}' has no valid {need}: expected {example}")
    return scheme


def repository_for(location: str) -> ArtifactRepository:
    """The repository rooted at a local path, a file: URI or a store URI."""
    scheme = check_location(location)
    if scheme == "":
        return LocalArtifactRepository(location)
    if scheme == "file":
        return LocalArtifactRepository(urlsplit(location).path)
    module, name, _ = STORES[scheme]
    return getattr(import_module(f".{module}", __name__), name)(location)
