"""Artifacts in HDFS, hdfs://namenode:port/path or webhdfs://namenode:http-port/path, through
WebHDFS (or HttpFS) with the pure-Python `hdfs` package: no JVM or Hadoop libraries needed.

The namenode's HTTP address is MLFLOW_HDFS_WEBHDFS_URL (e.g. http://namenode:9870, several
separated by ';' for high availability). Without it: http://host:port of a webhdfs:// URI,
and http://host:9870 (Hadoop 3's default) of an hdfs:// URI, whose port is the namenode's
RPC port, which WebHDFS does not use.

Simple authentication as MLFLOW_HDFS_USER (default: the server's OS user), or Kerberos when
MLFLOW_KERBEROS_USER (the principal) or MLFLOW_KERBEROS_TICKET_CACHE is set, which needs the
`hdfs[kerberos]` extra. Uploads go to a hidden temporary name in the root's staging folder and
are renamed to the target when complete, so a failed upload keeps the previous file (WebHDFS
cannot rename over a file: the previous one is deleted just before). Sweeps remove staged
files older than STALE_SECONDS.
"""
from __future__ import annotations

import getpass
import io
import logging
import os
import posixpath
import time
from contextlib import ExitStack, contextmanager, suppress
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import hdfs
import requests

from ..errors import MlflowError, invalid, not_found
from ..options import environment
from .base import (
    DENIED, FAILED, STAGING, TEMP_PREFIX, UNAVAILABLE, ArtifactRepository, FileInfo, below_a_file, check_names,
    short_upload, store_error, temp_name,
)

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Longer than base.STALE_UPLOAD_SECONDS: HDFS sets a file's modification time when it is
# created and closed, not as it grows, so this bounds the whole time of an upload.
STALE_SECONDS = 24 * 3600
TIMEOUT = (10, 120)  # seconds to connect, and to wait for each reply or block of data
DEFAULT_HTTP_PORT = 9870
_DENIED = ("AccessControlException", "SecurityException", "AuthorizationException")

logging.getLogger("hdfs").setLevel(logging.WARNING)  # it logs every request at INFO


class HdfsArtifactRepository(ArtifactRepository):
    def __init__(self, location: str):
        parts = urlsplit(location)
        self.location = location
        self.url = environment("MLFLOW_HDFS_WEBHDFS_URL") or (
            f"http://{parts.netloc}" if parts.scheme == "webhdfs"
            else f"http://{parts.hostname}:{DEFAULT_HTTP_PORT}" if parts.hostname else "")
        if not self.url:
            raise invalid(f"Artifact store {location}: the URI names no namenode; set "
                          f"MLFLOW_HDFS_WEBHDFS_URL (e.g. http://namenode:9870)")
        for url in self.url.split(";"):
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise invalid(f"MLFLOW_HDFS_WEBHDFS_URL: '{url}' is not an http(s)://host:port address")
        self.root = posixpath.normpath("/" + unquote(parts.path).strip("/"))
        self._client = _client(self.url, location)

    def _path(self, rel: str) -> str:
        if "#LATEST" in rel:  # the hdfs package would expand it to the newest file of the folder
            raise invalid(f"Invalid path '{rel}': HDFS artifact paths cannot contain '#LATEST'")
        check_names(rel)
        return posixpath.join(self.root, rel) if rel else self.root

    def _error(self, action: str, cause: str, code: str) -> MlflowError:
        return store_error(self.location, action, cause, code)

    @contextmanager
    def _errors(self, action: str):
        """The namenode's and datanodes' failures as store errors."""
        try:
            yield
        except hdfs.HdfsError as error:
            denied = error.exception in _DENIED or str(error).startswith("Authentication failure")
            raise self._error(action, f"{error.exception or 'HdfsError'}: {error}",
                              DENIED if denied else FAILED) from None
        except requests.RequestException as error:
            raise self._error(action, f"cannot reach WebHDFS at {self.url}: {_reason(error)}",
                              UNAVAILABLE) from None

    def _status(self, path: str) -> dict | None:
        try:
            return self._client.status(path)
        except hdfs.HdfsError as error:  # not status(strict=False), which also hides a denied access
            if error.exception == "FileNotFoundException":
                return None
            raise

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        target = self._path(rel)
        temp = temp_name(self.root)
        written = 0

        def chunks():
            nonlocal written
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                yield chunk

        with self._errors(f"upload of '{rel}'"):
            existing = self._status(target)
            if existing and existing["type"] == "DIRECTORY":
                raise invalid(f"Cannot upload '{rel}': a directory of that name exists")
            if self.sweep_due():
                self._sweep()
            try:
                self._client.makedirs(posixpath.dirname(target))
            except hdfs.HdfsError:
                if error := below_a_file(rel, self._is_file):
                    raise error from None
                raise
            try:
                self._client.write(temp, data=chunks(), overwrite=True)  # creates the staging folder
                if size is not None and written != size:
                    raise short_upload(rel, written, size)
                if existing:
                    self._client.delete(target)
                self._client.rename(temp, target)
            except BaseException:
                with suppress(hdfs.HdfsError, requests.RequestException):
                    self._client.delete(temp)
                raise

    def _is_file(self, rel: str) -> bool:
        return (self._status(self._path(rel)) or {}).get("type") == "FILE"

    def _sweep(self) -> None:
        """Removes the abandoned files of the staging folder."""
        staging = posixpath.join(self.root, STAGING)
        stale = (time.time() - STALE_SECONDS) * 1000
        try:
            if not self._status(staging):
                return
            for name, status in self._client.list(staging, status=True):
                if status["modificationTime"] < stale:
                    self._client.delete(posixpath.join(staging, name))
                    log.info("removed the staged file of an abandoned upload: %s/%s", staging, name)
        except hdfs.HdfsError as error:
            log.warning("cannot sweep the abandoned uploads of %s: %s", staging, error)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        path = self._path(rel)
        with self._errors(f"download of '{rel}'"), ExitStack() as stack:
            status = self._status(path)
            if not status or status["type"] != "FILE":
                raise not_found(f"No such artifact: '{rel}'")
            body = stack.enter_context(self._client.read(path))
            download = _Download(body, stack.pop_all())
        return io.BufferedReader(download, CHUNK), status["length"]

    def list(self, rel: str) -> list[FileInfo]:
        path = self._path(rel)
        with self._errors(f"listing of '{rel or '/'}'"):
            status = self._status(path)
            if not status or status["type"] != "DIRECTORY":
                return []
            entries = self._client.list(path, status=True)
        return sorted((FileInfo(name, True, None) if s["type"] == "DIRECTORY" else FileInfo(name, False, s["length"])
                       for name, s in entries if not name.startswith(TEMP_PREFIX)), key=lambda e: e.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        with self._errors(f"deletion of '{rel}'"):
            if not self._client.delete(self._path(rel), recursive=True):
                raise not_found(f"No such artifact: '{rel}'")


class _Download(io.RawIOBase):
    """A datanode's response body; closing it ends the request."""

    def __init__(self, body, session: ExitStack):
        self._body, self._session = body, session

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._body.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._session.close()
        super().close()


def _client(url: str, location: str) -> hdfs.Client:
    principal = environment("MLFLOW_KERBEROS_USER") or None
    ticket_cache = environment("MLFLOW_KERBEROS_TICKET_CACHE")
    if not (principal or ticket_cache):
        return hdfs.InsecureClient(url, user=environment("MLFLOW_HDFS_USER") or getpass.getuser(), timeout=TIMEOUT)
    try:
        from hdfs.ext.kerberos import KerberosClient
    except ImportError:
        raise invalid(f"Artifact store {location}: MLFLOW_KERBEROS_USER and MLFLOW_KERBEROS_TICKET_CACHE "
                      f"need the Kerberos extra: pip install 'hdfs[kerberos]'") from None
    if ticket_cache:
        os.environ["KRB5CCNAME"] = ticket_cache  # where GSSAPI finds the ticket
    return KerberosClient(url, principal=principal, timeout=TIMEOUT)


def _reason(error: BaseException) -> str:
    """The socket-level cause of a requests error (its own message quotes the request's URL)."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    return str(error) if isinstance(error, OSError) and error.args else type(error).__name__
