"""The one small interface every artifact store implements."""
from __future__ import annotations

from typing import BinaryIO, NamedTuple


class FileInfo(NamedTuple):
    name: str  # the entry's name inside the listed directory
    is_dir: bool
    size: int | None  # None for directories


class ArtifactRepository:
    """Paths are relative to the repository's root and already checked by safe_relative_path."""

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        """Store a file from a stream read in chunks. With `size` (the request's
        Content-Length), a stream that ends early is an error. A failed upload leaves
        nothing behind and keeps any previous file."""
        raise NotImplementedError

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        """(readable binary stream, size) of a file; RESOURCE_DOES_NOT_EXIST when missing."""
        raise NotImplementedError

    def list(self, rel: str) -> list[FileInfo]:
        """Entries of a directory; [] when rel is a file or missing."""
        raise NotImplementedError

    def delete(self, rel: str) -> None:
        """Delete a file or a whole directory."""
        raise NotImplementedError
