"""The one small interface every artifact store implements, and its error helper.

Contract for a store module (app/artifacts/<module>.py, imported only when its scheme is used):
- The class takes the store's location as written by the operator or a run (e.g.
  `s3://bucket/prefix`) and treats it as its root. `repository_for` has already checked
  its shape (app.artifacts.check_location).
- The constructor reads and checks the store's settings (environment variables of
  app.options.ENV_VARS, read with app.options.environment) and opens no connection:
  start-up builds the configured stores' repositories once to stop on a bad setting (raise
  an MlflowError naming it) before the port is bound.
- Every `rel` argument is a clean relative POSIX path ("" is the root), already checked by
  paths.safe_relative_path; the store joins it under its root and never lets it escape.
- One instance serves concurrent requests from many threads of one worker process.
- Reads and writes stream in chunks: memory stays flat whatever the file size.
- Failures of the store itself (credentials refused, bucket missing, host unreachable, ...)
  are raised with `store_error`, which names the store and the cause and never a secret.
  Programming errors may propagate; the server answers them as a 500 and logs them.
"""
from __future__ import annotations

import logging
import posixpath
import re
import uuid
from typing import BinaryIO, NamedTuple

from ..errors import MlflowError

log = logging.getLogger(__name__)


class FileInfo(NamedTuple):
    name: str  # the entry's name inside the listed directory
    is_dir: bool
    size: int | None  # None for directories


class ArtifactRepository:
    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        """Store a file from a stream read in chunks. With `size` (the request's
        Content-Length), a stream that ends early is an error (BAD_REQUEST). A failed
        upload leaves nothing behind and keeps any previous file."""
        raise NotImplementedError

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        """(stream, size) of a file; RESOURCE_DOES_NOT_EXIST when missing. The stream has
        read(n) and close(); the server reads it in chunks and closes it. A real file
        (with a fileno) is sent with sendfile."""
        raise NotImplementedError

    def list(self, rel: str) -> list[FileInfo]:
        """Entries of a directory, sorted by name; [] when rel is a file or missing."""
        raise NotImplementedError

    def delete(self, rel: str) -> None:
        """Delete a file or a whole directory tree; RESOURCE_DOES_NOT_EXIST when missing.
        The root itself is never deleted."""
        raise NotImplementedError


# How a store's failure reaches the client. Persistent misconfiguration is a 4xx, so the
# official client (which retries 5xx for minutes) fails at once with the message.
DENIED = "PERMISSION_DENIED"  # 403: credentials missing, wrong or without the right
MISSING = "RESOURCE_DOES_NOT_EXIST"  # 404: the bucket / container / base folder is missing
UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"  # 503: host unreachable, timeout, throttled
FAILED = "INTERNAL_ERROR"  # 500: anything else the store reports

_USERINFO = re.compile(r"(://)[^/@]*@")
_QUERY = re.compile(r"\?.*$", re.DOTALL)


# Uploads go to a hidden temporary name beside the target and are renamed over it when
# complete; listings leave such names out.
TEMP_PREFIX = ".upload-"


def temp_name(directory: str) -> str:
    return posixpath.join(directory, f"{TEMP_PREFIX}{uuid.uuid4().hex}")


def short_upload(rel: str, written: int, size: int) -> MlflowError:
    """A request body that ended before its Content-Length: the upload stores nothing."""
    return MlflowError(f"Upload of '{rel}' ended after {written} of {size} bytes; nothing was stored",
                       "BAD_REQUEST")


def describe(location: str) -> str:
    """A store location fit for messages and logs: no user, password or query (SAS tokens)."""
    return _QUERY.sub("", _USERINFO.sub(r"\1", location))


def store_error(location: str, action: str, cause: str, code: str = FAILED,
                secrets: tuple[str, ...] = ()) -> MlflowError:
    """The error for a failed store operation, e.g. store_error("s3://b/p", "upload of 'x'",
    "InvalidAccessKeyId", DENIED). `secrets` are blanked out of the cause in case the SDK
    quoted them; the error is logged as a warning."""
    for secret in filter(None, secrets):
        cause = cause.replace(secret, "***")
    cause = _USERINFO.sub(r"\1", cause.strip().splitlines()[0] if cause.strip() else "unknown cause")
    message = f"Artifact store {describe(location)}: {action} failed: {cause}"
    log.warning("%s", message)
    return MlflowError(message, code)
