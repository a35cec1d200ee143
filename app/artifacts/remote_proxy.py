"""Another server's artifact proxy as an artifact store: the default artifact root of a
tracking server that does not serve artifacts itself is such a server's http(s) URL."""
from __future__ import annotations

import posixpath
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from .base import DENIED, FAILED, MISSING, UNAVAILABLE, ArtifactRepository, FileInfo, store_error
from .paths import object_key, safe_relative_path

# Where a server's artifact proxy answers: an http(s) artifact root names it, e.g.
# http://host:5000/api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts
PROXY_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
HTTP_SCHEMES = ("http", "https")


def names_proxy(uri: str) -> bool:
    """Whether an artifact root is an http(s) URL of a server's artifact proxy."""
    parts = urlsplit(uri)
    return parts.scheme in HTTP_SCHEMES and PROXY_ROUTE + "/" in parts.path


class RemoteProxy(ArtifactRepository):
    """Another server's artifact proxy below `root` (http(s)://host/api/2.0/mlflow-artifacts/
    artifacts/<path>), the default artifact root of a tracking server that does not serve
    artifacts itself; reached over HTTP without credentials."""

    TIMEOUT = 60  # seconds to connect, and between two reads

    def __init__(self, root: str):
        self.location = root
        self.url, _, prefix = root.partition(PROXY_ROUTE)
        self.url += PROXY_ROUTE
        self.prefix = safe_relative_path(prefix.lstrip("/"))

    def list(self, rel: str) -> list[FileInfo]:
        with self._request("GET", self.url, f"listing of '{rel}'",
                           params={"path": object_key(self.prefix, rel)}) as response:
            files = response.json().get("files", [])
        return sorted((FileInfo(posixpath.basename(safe_relative_path(f["path"])), f["is_dir"], f.get("file_size"))
                       for f in files), key=lambda f: f.name)

    def open(self, rel: str) -> tuple[BinaryIO, int | None]:
        response = self._request("GET", self._file_url(rel), f"download of '{rel}'", stream=True)
        response.raw.decode_content = True
        size = response.headers.get("Content-Length")
        return response.raw, int(size) if size else None

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        headers = {"Content-Length": str(size)} if size is not None else {}
        self._request("PUT", self._file_url(rel), f"upload of '{rel}'", data=stream, headers=headers).close()

    def _file_url(self, rel: str) -> str:
        return f"{self.url}/{quote(object_key(self.prefix, rel))}"

    def _request(self, method: str, url: str, action: str, **kwargs):
        import requests  # only servers whose default root is another server's proxy need it

        try:
            response = requests.request(method, url, timeout=self.TIMEOUT, allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise store_error(self.location, action, type(error).__name__, UNAVAILABLE) from None
        if response.status_code != 200:
            try:
                cause = response.json().get("message") or response.reason
            except (ValueError, AttributeError):  # not JSON, or not an object
                cause = f"HTTP {response.status_code} {response.reason}"
            response.close()
            raise store_error(self.location, action, cause,
                              {401: DENIED, 403: DENIED, 404: MISSING}.get(response.status_code, FAILED))
        return response
