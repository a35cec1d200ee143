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
- Stores that write an upload under a temporary name first (those with folders) stage it in
  the root's STAGING folder and, when sweep_due() says so, remove its abandoned files there.
- Failures of the store itself (credentials refused, bucket missing, host unreachable, ...)
  are raised with `store_error`, which names the store and the cause and never a secret.
  Programming errors may propagate; the server answers them as a 500 and logs them.
- Optional: stores that can presign URLs set `presigned` and implement the multipart upload
  and presigned download methods, so that clients move large files straight to and from the
  store; for the others the server answers NOT_IMPLEMENTED and clients use the proxy.
"""
from __future__ import annotations

import logging
import posixpath
import re
import time
import uuid
from typing import BinaryIO, Callable, NamedTuple
from urllib.parse import quote

from ..errors import MlflowError, invalid
from ..options import environment

log = logging.getLogger(__name__)


class FileInfo(NamedTuple):
    name: str  # the entry's name inside the listed directory
    is_dir: bool
    size: int | None  # None for directories


class ArtifactRepository:
    _next_sweep = 0.0  # time.monotonic() of this instance's next sweep of abandoned uploads

    def sweep_due(self) -> bool:
        """Whether an upload starting now should first remove abandoned staged files (stores
        that stage uploads): at the first upload of each process, so at start and in each
        worker that replaces a killed one, then at most once every SWEEP_SECONDS."""
        now = time.monotonic()
        if now < self._next_sweep:
            return False
        self._next_sweep = now + SWEEP_SECONDS
        return True

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

    # The optional capability: presigned URLs. `presigned` says whether this instance can
    # make them (it may depend on the credentials configured); the methods below are only
    # called when it is true. Expired URLs are the store's to refuse.
    presigned = False

    def create_multipart_upload(self, rel: str, parts: int) -> tuple[str, list[str]]:
        """Start an upload of a file in `parts` parts: (upload id, the URL of parts 1..parts,
        each taking a PUT of that part's bytes). Nothing is visible until completed."""
        raise NotImplementedError

    def complete_multipart_upload(self, rel: str, upload_id: str, etags: dict[int, str]) -> None:
        """Publish the parts {part number: ETag the store answered its PUT} as the file `rel`.
        An unknown upload, or a part the store does not have, is INVALID_PARAMETER_VALUE."""
        raise NotImplementedError

    def abort_multipart_upload(self, rel: str, upload_id: str) -> None:
        """Discard an upload's parts; an unknown upload is INVALID_PARAMETER_VALUE."""
        raise NotImplementedError

    def presigned_download(self, rel: str) -> tuple[str, int]:
        """(a URL that GETs the file, Range requests included, for download_url_seconds(); its
        size); RESOURCE_DOES_NOT_EXIST when missing. Browsers save, not render, what it serves."""
        raise NotImplementedError


# How a store's failure reaches the client. Persistent misconfiguration is a 4xx, so the
# official client (which retries 5xx for minutes) fails at once with the message.
DENIED = "PERMISSION_DENIED"  # 403: credentials missing, wrong or without the right
MISSING = "RESOURCE_DOES_NOT_EXIST"  # 404: the bucket / container / base folder is missing
UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"  # 503: host unreachable, timeout, throttled
FAILED = "INTERNAL_ERROR"  # 500: anything else the store reports

_USERINFO = re.compile(r"(://)[^/@]*@")
_QUERY = re.compile(r"\?.*$", re.DOTALL)


# How long the part URLs of a multipart upload stay valid: long enough for a big file over a
# slow link, as the client uploads parts a few at a time.
UPLOAD_URL_SECONDS = 6 * 3600


def download_url_seconds() -> int:
    """How long presigned download URLs stay valid (read by the constructors of the stores
    that make them, so that a bad value stops start-up)."""
    text = environment("MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS") or "300"
    if not text.isdigit() or not 1 <= int(text) <= 7 * 24 * 3600:
        raise invalid(f"MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS={text!r}: expected 1 to 604800 seconds")
    return int(text)


# Stores with folders (local, FTP, SFTP, HDFS) write an upload to a hidden temporary name and
# rename it to its path when complete; listings leave such names out. They stage uploads in
# one folder at the root, so that the staged files of uploads that never finished (a worker
# killed, a server stopped mid-upload) are found with one listing, never a walk of the store.
TEMP_PREFIX = ".upload-"
STAGING = f"{TEMP_PREFIX}staging"  # hidden itself
# A staged file nothing has written to for this long belongs to no live upload. Sweeps (see
# ArtifactRepository.sweep_due) remove such files; a local upload also holds a lock on its file.
STALE_UPLOAD_SECONDS = 3600
SWEEP_SECONDS = 600
NAME_MAX = 255  # bytes in a file or folder name: the limit of common file systems and HDFS's default


def temp_name(root: str) -> str:
    return posixpath.join(root, STAGING, f"{TEMP_PREFIX}{uuid.uuid4().hex}")


def check_names(rel: str) -> None:
    """Refuses a path that a store with folders cannot hold, or that names a staged upload."""
    for name in rel.split("/"):
        if len(name.encode()) > NAME_MAX:
            raise invalid(f"Invalid path '{rel}': the name '{name[:40]}...' has {len(name.encode())} bytes; "
                          f"file and folder names can have at most {NAME_MAX} bytes")
        if name.startswith(TEMP_PREFIX):
            raise invalid(f"Invalid path '{rel}': names starting with '{TEMP_PREFIX}' are reserved for "
                          f"uploads in progress")


def below_a_file(rel: str, is_file: Callable[[str], bool]) -> MlflowError | None:
    """The error of an upload whose folder cannot be made because one of its folders, as
    `is_file(folder)` tells, is a file; None when none is."""
    folders = rel.split("/")[:-1]
    for end in range(1, len(folders) + 1):
        if is_file(folder := "/".join(folders[:end])):
            return invalid(f"Cannot upload '{rel}': '{folder}' is a file, not a folder")
    return None


def no_space(rel: str) -> MlflowError:
    """A full store. RESOURCE_EXHAUSTED is the protocol's code for it, but with WebDAV's 507
    Insufficient Storage rather than the 429 the official client would retry for minutes
    (it retries 408, 429 and 500-504): a retry does not help until space is freed."""
    return MlflowError(f"No space left in the artifact store for '{rel}'; nothing was stored",
                       "RESOURCE_EXHAUSTED", 507)


def short_upload(rel: str, written: int, size: int) -> MlflowError:
    """A request body that ended before its Content-Length: the upload stores nothing."""
    return MlflowError(f"Upload of '{rel}' ended after {written} of {size} bytes; nothing was stored",
                       "BAD_REQUEST")


def attachment(rel: str) -> str:
    """The Content-Disposition of a download: save as the artifact's own name."""
    return f"attachment; filename*=UTF-8''{quote(posixpath.basename(rel), safe='')}"


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
