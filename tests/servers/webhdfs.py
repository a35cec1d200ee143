"""A stand-in WebHDFS server for the HDFS store's tests, backed by a temporary directory.

No real HDFS can run here (it needs a JVM and Hadoop, which no registry here offers), so this
small server follows Hadoop's published WebHDFS REST contract
(https://hadoop.apache.org/docs/stable/hadoop-project-dist/hadoop-hdfs/WebHDFS.html) for the
operations the store uses, with a namenode and a datanode on two ports:

- PUT  /webhdfs/v1/<path>?op=CREATE: 307 to the datanode, which takes the body (with a
  Content-Length or chunked) and answers 201 Created; parents are created, an existing file
  is replaced only with overwrite=true.
- GET  ?op=OPEN (offset, length): 307 to the datanode, which streams the bytes.
- PUT  ?op=MKDIRS, ?op=RENAME&destination=..., DELETE ?op=DELETE&recursive=...:
  {"boolean": ...}, false where HDFS answers false (a missing source, an existing target).
- GET  ?op=GETFILESTATUS, ?op=LISTSTATUS (a file lists itself with pathSuffix ""),
  ?op=GETHOMEDIRECTORY.
- Errors: {"RemoteException": {"exception", "javaClassName", "message"}} with Hadoop's
  statuses (400 bad arguments, 403 IOExceptions and denied access, 404 missing paths).

Access is decided by `user.name` alone (simple authentication): the store's folders belong to
`user` with mode 700, so any other user is denied as HDFS would deny them.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

PREFIX = "/webhdfs/v1"
CHUNK = 1024 * 1024
EXCEPTIONS = {  # simple name -> (Java package, HTTP status)
    "IllegalArgumentException": ("java.lang", 400),
    "AccessControlException": ("org.apache.hadoop.security", 403),
    "FileAlreadyExistsException": ("org.apache.hadoop.fs", 403),
    "ParentNotDirectoryException": ("org.apache.hadoop.fs", 403),
    "PathIsNotEmptyDirectoryException": ("org.apache.hadoop.fs", 403),
    "FileNotFoundException": ("java.io", 404),
}


class RemoteException(Exception):
    def __init__(self, exception: str, message: str):
        super().__init__(message)
        self.exception = exception


class WebHdfs:
    """The namenode at `url` (http://127.0.0.1:port) and its datanode, serving `data` as '/'."""

    def __init__(self, tmp: Path, user: str = "mlflow"):
        self.data = tmp / "hdfs"
        self.data.mkdir()
        self.user = user
        self.datanode = self._serve(_DataNode)
        self.namenode = self._serve(_NameNode)
        self.port = self.namenode.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self, handler: type) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.hdfs = self
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def local(self, path: str) -> Path:
        """The backing file of an absolute HDFS path; no path leaves the data directory."""
        parts = [part for part in path.split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise RemoteException("IllegalArgumentException", f"Invalid path name {path}")
        return self.data.joinpath(*parts)

    def stop(self) -> None:
        for server in (self.namenode, self.datanode):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="session")
def webhdfs(tmp_path_factory):
    """One stand-in WebHDFS server for the test session (import this fixture into a test module)."""
    server = WebHdfs(tmp_path_factory.mktemp("webhdfs"))
    yield server
    server.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hdfs package's requests session expects

    def log_message(self, format, *args):
        pass

    @property
    def hdfs(self) -> WebHdfs:
        return self.server.hdfs

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k.lower(): v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            if not url.path.startswith(PREFIX):
                raise RemoteException("IllegalArgumentException", f"Not a WebHDFS path: {url.path}")
            self.hdfs_path = "/" + unquote(url.path[len(PREFIX):]).strip("/")
            op = self.query.get("op", "").upper()
            action = getattr(self, f"{method}_{op}", None)
            if action is None:
                raise RemoteException("IllegalArgumentException",
                                      f'Invalid value for webhdfs parameter "op": {op} is not a {method} operation')
            self._check_user()
            action()
        except RemoteException as error:
            self._discard_body()
            package, status = EXCEPTIONS[error.exception]
            self._json(status, {"RemoteException": {"exception": error.exception, "message": str(error),
                                                    "javaClassName": f"{package}.{error.exception}"}})

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _check_user(self) -> None:
        user = self.query.get("user.name") or "dr.who"  # Hadoop's static user without user.name
        if user != self.hdfs.user:
            raise RemoteException("AccessControlException",
                                  f'Permission denied: user={user}, access=ALL, inode="{self.hdfs_path}":'
                                  f"{self.hdfs.user}:supergroup:drwx------")

    def _flag(self, name: str) -> bool:
        return self.query.get(name, "false").lower() == "true"  # booleans are case-insensitive

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self):
        """The request body in chunks, from a Content-Length or chunked transfer encoding."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, CHUNK))
                    if not chunk:
                        raise ConnectionError("request body ended early")
                    remaining -= len(chunk)
                    yield chunk
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            chunk = self.rfile.read(min(remaining, CHUNK))
            if not chunk:
                raise ConnectionError("request body ended early")
            remaining -= len(chunk)
            yield chunk

    def _discard_body(self) -> None:
        for _ in self._body():
            pass

    def _status(self, local: Path, suffix: str) -> dict:
        info = local.stat()
        is_dir = local.is_dir()
        return {"pathSuffix": suffix, "type": "DIRECTORY" if is_dir else "FILE",
                "length": 0 if is_dir else info.st_size, "owner": self.hdfs.user, "group": "supergroup",
                "permission": "700" if is_dir else "600", "accessTime": int(info.st_atime * 1000),
                "modificationTime": int(info.st_mtime * 1000), "blockSize": 0 if is_dir else 134217728,
                "replication": 0 if is_dir else 3, "fileId": info.st_ino, "childrenNum": 0, "storagePolicy": 0}

    def _existing(self) -> Path:
        local = self.hdfs.local(self.hdfs_path)
        if not local.exists():
            raise RemoteException("FileNotFoundException", f"File does not exist: {self.hdfs_path}")
        return local


class _NameNode(_Handler):
    def _redirect(self) -> None:
        datanode = self.hdfs.datanode.server_address[1]
        location = (f"http://127.0.0.1:{datanode}{PREFIX}{quote(self.hdfs_path)}?{urlsplit(self.path).query}"
                    f"&namenoderpcaddress=127.0.0.1:{self.server.server_address[1]}")
        self._discard_body()
        self._empty(307, {"Location": location})

    def PUT_CREATE(self):
        self._redirect()

    def GET_OPEN(self):
        local = self._existing()
        if not local.is_file():
            raise RemoteException("FileNotFoundException", f"Path is not a file: {self.hdfs_path}")
        self._redirect()

    def GET_GETFILESTATUS(self):
        self._json(200, {"FileStatus": self._status(self._existing(), "")})

    def GET_LISTSTATUS(self):
        local = self._existing()
        if local.is_file():
            statuses = [self._status(local, "")]
        else:
            statuses = [self._status(child, child.name) for child in sorted(local.iterdir())]
        self._json(200, {"FileStatuses": {"FileStatus": statuses}})

    def GET_GETHOMEDIRECTORY(self):
        self._json(200, {"Path": f"/user/{self.hdfs.user}"})

    def PUT_MKDIRS(self):
        local = self.hdfs.local(self.hdfs_path)
        _check_parents(self.hdfs, self.hdfs_path, including_self=True)
        local.mkdir(parents=True, exist_ok=True)
        self._json(200, {"boolean": True})

    def PUT_RENAME(self):
        source = self.hdfs.local(self.hdfs_path)
        destination_path = self.query.get("destination", "")
        if not destination_path.startswith("/"):
            raise RemoteException("IllegalArgumentException", f"Invalid destination {destination_path!r}")
        destination = self.hdfs.local(destination_path)
        if destination.is_dir():  # HDFS moves a source into an existing folder
            destination = destination / source.name
        ok = (source.exists() and not destination.exists() and destination.parent.is_dir()
              and source != self.hdfs.data and source not in destination.parents)
        if ok:
            os.rename(source, destination)
        self._json(200, {"boolean": ok})

    def DELETE_DELETE(self):
        local = self.hdfs.local(self.hdfs_path)
        if not local.exists():
            self._json(200, {"boolean": False})
            return
        if local.is_dir():
            if any(local.iterdir()) and not self._flag("recursive"):
                raise RemoteException("PathIsNotEmptyDirectoryException", f"`{self.hdfs_path} is non empty': "
                                      f"Directory is not empty")
            if local == self.hdfs.data:
                raise RemoteException("IllegalArgumentException", "Cannot delete the root")
            shutil.rmtree(local)
        else:
            local.unlink()
        self._json(200, {"boolean": True})


class _DataNode(_Handler):
    def PUT_CREATE(self):
        local = self.hdfs.local(self.hdfs_path)
        if local.is_dir():
            raise RemoteException("FileAlreadyExistsException", f"{self.hdfs_path} already exists as a directory")
        if local.exists() and not self._flag("overwrite"):
            raise RemoteException("FileAlreadyExistsException", f"{self.hdfs_path} for client already exists")
        _check_parents(self.hdfs, self.hdfs_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "wb") as out:  # like HDFS, a file being written is visible at once
            for chunk in self._body():
                out.write(chunk)
        self._empty(201, {"Location": f"hdfs://127.0.0.1:{self.server.server_address[1]}{quote(self.hdfs_path)}"})

    def GET_OPEN(self):
        local = self._existing()
        size = local.stat().st_size
        offset = int(self.query.get("offset") or 0)
        length = min(int(self.query.get("length") or size), max(size - offset, 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        with open(local, "rb") as source:
            source.seek(offset)
            while length and (chunk := source.read(min(length, CHUNK))):
                self.wfile.write(chunk)
                length -= len(chunk)


def _check_parents(hdfs: WebHdfs, path: str, including_self: bool = False) -> None:
    """Every existing ancestor of path (and path itself, for MKDIRS) must be a folder."""
    parts = [part for part in path.split("/") if part]
    for end in range(1, len(parts) + (1 if including_self else 0)):
        local = hdfs.local("/" + "/".join(parts[:end]))
        if local.is_file():
            exception = "FileAlreadyExistsException" if end == len(parts) else "ParentNotDirectoryException"
            raise RemoteException(exception, f"/{'/'.join(parts[:end])} (is not a directory)")
