"""Artifacts in a local directory (also an NFS mount): streamed, atomic, confined to the root.

An upload is written to a file in the root's staging folder, which it keeps locked (flock)
while it runs, and renamed to its path when complete. Sweeps remove staged files that nothing
has written to for STALE_UPLOAD_SECONDS and that no upload holds locked, whichever process
or server sharing the folder started them.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import tempfile
import time
from typing import BinaryIO

from ..errors import invalid, not_found
from .base import (STAGING, STALE_UPLOAD_SECONDS, TEMP_PREFIX, ArtifactRepository, FileInfo, below_a_file,
                   check_names, no_space, short_upload)

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import: os.umask cannot be read without setting it


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root: str):
        self.root = os.path.realpath(root)

    def _full_path(self, rel: str) -> str:
        check_names(rel)
        full = os.path.realpath(os.path.join(self.root, rel))
        if full != self.root and not full.startswith(self.root + os.sep):
            raise invalid(f"Invalid path '{rel}': it leaves the artifact root")
        return full

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        full = self._full_path(rel)
        if os.path.isdir(full):
            raise invalid(f"Cannot upload '{rel}': a directory of that name exists")
        if self.sweep_due():
            self._sweep()
        try:
            self._write(rel, full, stream, size)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise no_space(rel) from None
            raise

    def _write(self, rel: str, full: str, stream: BinaryIO, size: int | None) -> None:
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            if error := below_a_file(rel, lambda folder: os.path.isfile(os.path.join(self.root, folder))):
                raise error from None
            raise
        staging = os.path.join(self.root, STAGING)
        os.makedirs(staging, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=staging)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when closed: tells sweeps the upload is live
            os.fchmod(fd, 0o666 & ~_UMASK)  # as an ordinary file, not mkstemp's 0600
            written = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                if size is not None and written != size:
                    raise short_upload(rel, written, size)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, full)  # readers see the old file or the whole new one, never a part
        except BaseException:
            os.unlink(temp)
            raise

    def _sweep(self) -> None:
        """Removes the abandoned files of the staging folder."""
        stale = time.time() - STALE_UPLOAD_SECONDS
        try:
            with os.scandir(os.path.join(self.root, STAGING)) as entries:
                paths = [entry.path for entry in entries]
        except FileNotFoundError:
            return
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    if os.fstat(handle.fileno()).st_mtime >= stale:
                        continue
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.unlink(path)
                log.info("removed the staged file of an abandoned upload: %s", path)
            except (BlockingIOError, FileNotFoundError):  # an upload still running, or one just done
                continue
            except OSError as error:
                log.warning("cannot remove the staged file of an abandoned upload %s: %s", path, error)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        full = self._full_path(rel)
        if not os.path.isfile(full):
            raise not_found(f"No such artifact: '{rel}'")
        handle = open(full, "rb")
        return handle, os.fstat(handle.fileno()).st_size

    def list(self, rel: str) -> list[FileInfo]:
        full = self._full_path(rel)
        if not os.path.isdir(full):
            return []
        result = []
        with os.scandir(full) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                if entry.is_dir():
                    result.append(FileInfo(entry.name, True, None))
                else:
                    result.append(FileInfo(entry.name, False, entry.stat().st_size))
        return sorted(result, key=lambda info: info.name)

    def delete(self, rel: str) -> None:
        full = self._full_path(rel)
        if full == self.root:
            raise invalid("Refusing to delete the artifact root")
        if os.path.isdir(full):
            shutil.rmtree(full)
        elif os.path.exists(full):
            os.unlink(full)
        else:
            raise not_found(f"No such artifact: '{rel}'")
