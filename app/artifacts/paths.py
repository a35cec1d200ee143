"""Artifact paths from clients: relative, normalised, and never outside a root."""
from __future__ import annotations

import posixpath
from urllib.parse import unquote

from ..errors import invalid


def safe_relative_path(path: str | None) -> str:
    """A client's artifact path as a clean relative POSIX path ("" for the root).

    Rejects, in any spelling (percent-encoded once or several times): '..' segments,
    absolute paths, backslashes, drive letters and NUL bytes.
    """
    if not path:
        return ""
    decoded, previous = path, None
    while decoded != previous:  # undo any depth of percent-encoding before judging
        previous, decoded = decoded, unquote(decoded)
    for text in (path, decoded):
        if "\\" in text or "\x00" in text:
            raise invalid(f"Invalid path '{path}': backslashes and NUL bytes are not allowed")
        if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
            raise invalid(f"Invalid path '{path}': it must be relative")
        if any(part in ("..", ".") for part in text.split("/")):
            raise invalid(f"Invalid path '{path}': '.' and '..' segments are not allowed")
    clean = posixpath.normpath(path.strip("/"))
    return "" if clean == "." else clean


KEY_MAX = 1024  # bytes in an object's name in S3 and GCS (characters in Azure)


def object_key(prefix: str, rel: str) -> str:
    """The key of an artifact in an object store whose root is `prefix` ("" for the bucket's)."""
    key = "/".join(part for part in (prefix, safe_relative_path(rel)) if part)
    if len(key.encode()) > KEY_MAX:
        raise invalid(f"Invalid path '{rel}': with the store's root it names an object of {len(key.encode())} "
                      f"bytes; object names can have at most {KEY_MAX} bytes")
    return key
