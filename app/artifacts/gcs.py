"""Artifacts in Google Cloud Storage: gs://bucket/path.

Credentials come from Google's standard chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
application-default login, the metadata server on Google Cloud); with STORAGE_EMULATOR_HOST
the SDK talks to that emulator anonymously. Tuning, named as by the official server:
- MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT (or the older MLFLOW_GCS_DEFAULT_TIMEOUT): seconds
  for each request and for its retries together, -1 for no limit; 60 by default.
- MLFLOW_GCS_UPLOAD_CHUNK_SIZE, MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE: bytes per request of a
  transfer, 16 MiB by default (upload chunks a multiple of 256 KiB). An upload holds a few
  chunks in memory (the SDK copies them; about 4 measured with bench/stores.py), so that
  size bounds the server's memory, not the file size; a download streams each chunk.
"""
from __future__ import annotations

import contextlib
from functools import cached_property
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from ..errors import MlflowError, invalid, not_found
from ..options import environment
from .base import (DENIED, FAILED, MISSING, UNAVAILABLE, ArtifactRepository, FileInfo, short_upload,
                   store_error)
from .paths import object_key, safe_relative_path

DEFAULT_CHUNK = 16 * 1024 * 1024
UPLOAD_CHUNK_UNIT = 256 * 1024  # resumable uploads send chunks in multiples of this


def _env_number(name: str, default: int | None, unit: int = 1) -> int | None:
    text = environment(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0 or value % unit:
        raise invalid(f"{name}={text!r}: expected a positive whole number"
                      + (f", a multiple of {unit}" if unit > 1 else ""))
    return value


def _timeout() -> int | None:
    """Seconds per request (None: no limit)."""
    for name in ("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "MLFLOW_GCS_DEFAULT_TIMEOUT"):
        text = environment(name)
        if text == "-1":
            return None
        if text:
            return _env_number(name, None)
    return 60


class GcsArtifactRepository(ArtifactRepository):
    def __init__(self, location: str):
        parts = urlsplit(location)
        self.location = location
        self.bucket_name = parts.netloc
        self.prefix = safe_relative_path(parts.path.lstrip("/"))
        self.timeout = _timeout()
        self.upload_chunk = _env_number("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", DEFAULT_CHUNK, UPLOAD_CHUNK_UNIT)
        self.download_chunk = _env_number("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", DEFAULT_CHUNK)
        # the whole retry sequence of a request ends within the timeout too (the SDK's own
        # deadline is 120 s), so an unreachable endpoint fails in bounded time
        self.calls = {"timeout": self.timeout, "retry": DEFAULT_RETRY.with_timeout(self.timeout or 120)}

    @cached_property
    def _bucket(self) -> storage.Bucket:
        return storage.Client().bucket(self.bucket_name)

    @contextlib.contextmanager
    def _failure(self, action: str):
        """Turns the SDK's exceptions into errors that name the store and the cause."""
        try:
            yield
        except MlflowError:
            raise
        except api.NotFound:  # objects missing are handled where they can be; this is the bucket
            raise self._no_bucket(action) from None
        except api.GoogleAPICallError as error:
            code = (DENIED if isinstance(error, (api.Unauthorized, api.Forbidden))
                    else UNAVAILABLE if isinstance(error, (api.TooManyRequests, api.ServerError)) else FAILED)
            # the first error's message says what the service refused, without the request URL
            detail = error.errors[0].get("message") if error.errors else None
            raise self._error(action, f"{detail or error.message} (HTTP {error.code})", code) from None
        except (api.RetryError, auth.TransportError, requests.ConnectionError, requests.Timeout) as error:
            raise self._error(action, f"{type(error).__name__}: {error}", UNAVAILABLE) from None
        except auth.GoogleAuthError as error:  # no credentials found, or refused when refreshed
            raise self._error(action, f"{type(error).__name__}: {error}", DENIED) from None

    def _error(self, action: str, cause: str, code: str) -> MlflowError:
        return store_error(self.location, action, cause, code)

    def _no_bucket(self, action: str) -> MlflowError:
        return self._error(action, f"bucket '{self.bucket_name}' does not exist", MISSING)

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        # Up to 8 MiB go in one request; larger files as a resumable upload, one chunk per
        # request. Either way the object appears only when complete, or not at all.
        with self._failure(f"upload of '{rel}'"):
            blob = self._bucket.blob(object_key(self.prefix, rel), chunk_size=self.upload_chunk)
            blob.upload_from_file(_Body(stream, size, rel), size=size, **self.calls)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        action = f"download of '{rel}'"
        with self._failure(action):
            blob = self._bucket.get_blob(object_key(self.prefix, rel), **self.calls)
            if blob is None:  # the object is missing, or the whole bucket
                if not self._bucket.exists(**self.calls):
                    raise self._no_bucket(action)
                raise not_found(f"No such artifact: '{rel}'")
        # The blob's media link names its generation: a file replaced meanwhile does not mix
        # into this one. The session is the client's own, with its credentials (the SDK's
        # downloads use it too). The first range is requested here, so that a refusal is
        # answered as an error rather than as a download cut short.
        download = _Download(self._bucket.client._http, blob.media_link, blob.size, self.download_chunk,
                             self.calls)
        with self._failure(action):
            download.next_range()
        return download, blob.size

    def list(self, rel: str) -> list[FileInfo]:
        key = object_key(self.prefix, rel)
        prefix = f"{key}/" if key else ""
        with self._failure(f"listing of '{rel or '/'}'"):
            blobs = self._bucket.list_blobs(prefix=prefix, delimiter="/", **self.calls)
            files = [FileInfo(b.name[len(prefix):], False, b.size) for b in blobs if b.name != prefix]
            dirs = [FileInfo(p[len(prefix):].rstrip("/"), True, None) for p in blobs.prefixes]
        return sorted(files + dirs, key=lambda info: info.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        key = object_key(self.prefix, rel)
        with self._failure(f"deletion of '{rel}'"):
            blobs = list(self._bucket.list_blobs(prefix=f"{key}/", **self.calls))
            self._bucket.delete_blobs(blobs, on_error=lambda blob: None, **self.calls)
            try:
                self._bucket.delete_blob(key, **self.calls)
            except api.NotFound:
                if not blobs:
                    raise not_found(f"No such artifact: '{rel}'") from None


class _Download:
    """An object read in ranges of `chunk` bytes, one request each (its start retried as the
    SDK retries its own), each streamed as the server reads it: a download holds one read's
    worth in memory, whatever the chunk size. (The SDK's reader holds a whole chunk, copied
    about four times: a 400 MB download grew the server by 50-100 MB with 16 MiB chunks.)
    Bytes come as stored (no decoding), so their count is the object's size."""

    def __init__(self, session: requests.Session, url: str, size: int, chunk: int, calls: dict):
        self._session = session
        self._url = url
        self._size = size
        self._chunk = chunk
        self._timeout = calls["timeout"]
        self._open_range = calls["retry"](self._request_range)
        self._position = 0
        self._end = 0  # of the range being read, exclusive
        self._response: requests.Response | None = None

    def _request_range(self, start: int, end: int) -> requests.Response:
        response = self._session.get(self._url, headers={"Range": f"bytes={start}-{end}"},
                                     stream=True, timeout=self._timeout)
        whole = response.status_code == 200 and start == 0 and end == self._size - 1
        if response.status_code != 206 and not whole:
            raise api.from_http_response(response)
        return response

    def next_range(self) -> None:
        """Request the range that starts at the current position, if any is left."""
        if self._response is None and self._position < self._size:
            self._end = min(self._position + self._chunk, self._size)
            self._response = self._open_range(self._position, self._end - 1)

    def read(self, n: int = -1) -> bytes:
        self.next_range()
        left = self._end - self._position
        if self._response is None or n == 0:
            return b""
        data = self._response.raw.read(min(n, left) if n > 0 else left)
        if not data:
            raise requests.ConnectionError(f"the download ended at byte {self._position} of {self._size}")
        self._position += len(data)
        if self._position == self._end:
            self.close()
        return data

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None


class _Body:
    """The request body as the SDK reads it: every read whole (it takes a short read for the
    end of the file) and a position; a body that ends before `size` is a BAD_REQUEST."""

    def __init__(self, stream: BinaryIO, size: int | None, rel: str):
        self._stream = stream
        self._size = size
        self._rel = rel
        self._position = 0

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0 and (chunk := self._stream.read(n)):
            parts.append(chunk)
            n -= len(chunk)
        data = b"".join(parts)
        self._position += len(data)
        if n > 0 and self._size is not None and self._position != self._size:
            raise short_upload(self._rel, self._position, self._size)
        return data

    def tell(self) -> int:
        return self._position

