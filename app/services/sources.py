"""Which model version sources the registry accepts, and the locations they stand for.

A version's location is what get-download-uri hands to clients, who then read the model
through this server's artifact proxy or straight from the store: a location outside the
artifact store would let anyone read the server's files. The rules:

Accepted
- models:/m-<32 hex>: a logged model that exists; the location is its artifact URI.
- runs:/<run_id>/<path>: a run that exists; the location is its artifact URI + path.
- models:/<name>/<version>: another registered version; the location is that version's.
- mlflow-artifacts:/<path> and mlflow-artifacts://<host:port>/<path>, when this server
  proxies artifacts (the proxy keeps every path inside the artifacts destination).
- URIs inside --default-artifact-root or --artifacts-destination (s3://bucket/path, another
  server's mlflow-artifacts://host:port/path, ...): the same scheme and host and the root's
  leading path segments; absolute local paths and file:/// URIs must stay
  inside a local root after symbolic links are resolved.

Rejected: a password in the URI (it would be shown to every reader; see
app/artifacts/credentials.py); and in any spelling (percent-encoded once or several times):
'.' and '..' segments, empty segments ('//'), backslashes, NUL and control characters, ';'
path parameters, '?' queries, '#' fragments, relative local paths, file: URIs naming a host,
and every other scheme (http, ftp, ...); outside mlflow-artifacts:/ URIs also any
percent-encoding, since the store reads the text as written. A resolved location must pass
the same checks.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote

from ..artifacts.credentials import refuse_password, without_password
from ..errors import invalid

PROXY_SCHEME = "mlflow-artifacts"
PROMPT_SOURCES = ("dummy-source", "prompt-template")  # the placeholders MLflow's clients send
LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
MAX_LOCATION_LENGTH = 2000  # model_versions.source and storage_location

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\;?#]")


@dataclass(frozen=True)
class Uri:
    """A source split into lower-case scheme ('' for a local path), authority and path
    segments, all percent-decoded."""
    scheme: str
    authority: str
    segments: tuple[str, ...]


def _rejected(source: str, why: str):
    return invalid(f"Invalid model version source '{source[:300]}': {why}. Accepted sources are "
                   f"models:/m-<id>, runs:/<run_id>/<path>, models:/<name>/<version>, mlflow-artifacts:/ "
                   f"URIs and locations inside the server's artifact root.")


def split(source: str) -> Uri:
    """The source's parts, after refusing every spelling of traversal and smuggling."""
    if len(source) > MAX_LOCATION_LENGTH:
        raise invalid(f"Model version source is {len(source)} characters long; the limit is "
                      f"{MAX_LOCATION_LENGTH}")
    refuse_password(source, "model version source")
    decoded, previous = source, None
    while decoded != previous:  # undo any depth of percent-encoding before judging
        previous, decoded = decoded, unquote(decoded)
    if _FORBIDDEN.search(decoded):
        raise _rejected(source, "backslashes, control characters, ';', '?' and '#' are not allowed")
    match = _SCHEME.match(decoded)
    scheme, rest = (match.group(1).lower(), match.group(2)) if match else ("", decoded)
    authority = ""
    if rest.startswith("//"):
        authority, slash, rest = rest[2:].partition("/")
        rest = slash + rest
        if not scheme:
            raise _rejected(source, "a local path must start with a single '/'")
        rest = rest or "/"  # s3://bucket: the authority's whole store
    if not rest.startswith("/"):
        raise _rejected(source, "the path must be absolute")
    segments = tuple(rest[1:].split("/")) if rest != "/" else ()
    if segments and segments[-1] == "":
        segments = segments[:-1]  # one trailing slash names the same folder
    if any(part in ("", ".", "..") for part in segments):
        raise _rejected(source, "'.', '..' and empty path segments are not allowed")
    return Uri(scheme, authority.lower(), segments)


class SourcePolicy:
    """The artifact roots a location may lie in: the default artifact root and, when this
    server proxies artifacts (destination given), mlflow-artifacts:/ and the destination."""

    def __init__(self, default_root: str, destination: str | None):
        self.proxy = destination is not None
        self._roots = []
        for root in filter(None, (default_root, destination)):
            root = without_password(root)  # as the URIs of runs and versions name it
            uri = _resolved(split(root if _SCHEME.match(root) else os.path.abspath(root)))
            if uri.scheme != PROXY_SCHEME or uri.authority:  # another server's proxy is a store
                self._roots.append(uri)

    def check_location(self, location: str) -> str:
        """The location unchanged if it lies inside the artifact store; else a 400."""
        uri = split(location)
        if uri.scheme == PROXY_SCHEME and self.proxy:
            if not uri.segments:
                raise _rejected(location, "it names the whole artifact store")
            return location
        # the store would read the raw text: it must mean what was checked
        if "%" in location and uri.scheme != PROXY_SCHEME:
            raise _rejected(location, "percent-encoding is allowed in mlflow-artifacts:/ URIs only")
        if uri.scheme == "file" and uri.authority:
            raise _rejected(location, "file: URIs must not name a host (use file:///path)")
        uri = _resolved(uri)
        if any(_inside(uri, root) for root in self._roots):
            return location
        if uri.scheme == "":
            raise _rejected(location, "local paths must lie inside the server's artifact root")
        if uri.scheme == PROXY_SCHEME:
            raise _rejected(location, "this server does not serve mlflow-artifacts:/ (started with "
                                      "--no-serve-artifacts)")
        raise _rejected(location, f"the server does not serve {uri.scheme}: locations outside its artifact root")


def _resolved(uri: Uri) -> Uri:
    """A local path (plain or file:) as the file system reads it: symbolic links resolved."""
    if uri.scheme not in ("", "file"):
        return uri
    real = os.path.realpath("/" + "/".join(uri.segments))
    return Uri("", "", tuple(part for part in real.split("/") if part))


def _inside(uri: Uri, root: Uri) -> bool:
    return (uri.scheme == root.scheme and uri.authority == root.authority
            and uri.segments[:len(root.segments)] == root.segments
            and (bool(root.segments) or bool(root.authority)))


def join(base: str, segments: tuple[str, ...]) -> str:
    """An artifact URI with path segments appended."""
    return "/".join([base.rstrip("/"), *segments]) if segments else base
