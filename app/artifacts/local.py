"""Artifacts in a local directory (also an NFS mount): streamed, atomic, confined to the root."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO

from ..errors import invalid, not_found
from .base import TEMP_PREFIX, ArtifactRepository, FileInfo, short_upload

CHUNK = 1024 * 1024
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import: os.umask cannot be read without setting it


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root: str):
        self.root = os.path.realpath(root)

    def _full_path(self, rel: str) -> str:
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
        directory = os.path.dirname(full)
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
        try:
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
