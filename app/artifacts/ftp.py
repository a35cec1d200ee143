"""Artifacts on an FTP server, ftp://user:password@host:port/path, through ftplib.

Passive mode, binary transfers, absolute paths under the location's path. Many servers
(vsftpd among them) have no MLSD, so folders are listed with NLST, files sized with SIZE and
folders told apart by CWD. Uploads go to a hidden temporary name in the root's staging folder
and are renamed over the target when complete, so a failed upload keeps the previous file;
sweeps remove staged files whose modification time (MDTM) is STALE_UPLOAD_SECONDS old. Each
operation has its own connection: ftplib connections are not thread-safe.
"""
from __future__ import annotations

import ftplib
import io
import logging
import posixpath
import time
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from ..errors import MlflowError, invalid, not_found
from .base import (
    DENIED, FAILED, STAGING, STALE_UPLOAD_SECONDS, TEMP_PREFIX, UNAVAILABLE, ArtifactRepository, FileInfo,
    below_a_file, check_names, short_upload, store_error, temp_name,
)

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
TIMEOUT = 60  # seconds to connect, and for each reply or block of data


class FtpArtifactRepository(ArtifactRepository):
    def __init__(self, location: str):
        parts = urlsplit(location)
        self.location = location
        self.host, self.port = parts.hostname, parts.port or 21
        self.user = unquote(parts.username) if parts.username else "anonymous"
        self._password = unquote(parts.password or "")
        self.root = posixpath.normpath("/" + unquote(parts.path).strip("/"))

    def _path(self, rel: str) -> str:
        if "\r" in rel or "\n" in rel:
            raise invalid(f"Invalid path {rel!r}: FTP cannot name files with line breaks")
        check_names(rel)
        return posixpath.join(self.root, rel) if rel else self.root

    def _error(self, action: str, cause: str, code: str) -> MlflowError:
        return store_error(self.location, action, cause, code, secrets=(self._password,))

    @contextmanager
    def _session(self, action: str):
        """A logged-in connection in binary mode; the server's failures become store errors."""
        ftp = ftplib.FTP(timeout=TIMEOUT)
        try:
            try:
                ftp.connect(self.host, self.port)
            except OSError as error:
                raise self._error(action, f"cannot connect to {self.host}:{self.port}: {error}",
                                  UNAVAILABLE) from None
            try:
                ftp.login(self.user, self._password)
            except ftplib.error_perm as error:
                raise self._error(action, f"login as '{self.user}' refused: {error}", DENIED) from None
            ftp.voidcmd("TYPE I")
            yield ftp
        except ftplib.error_perm as error:
            raise self._error(action, str(error), FAILED) from None
        except (ftplib.Error, OSError, EOFError) as error:
            raise self._error(action, str(error) or type(error).__name__, UNAVAILABLE) from None
        finally:
            ftp.close()

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        target = self._path(rel)
        directory = posixpath.dirname(target)
        temp = temp_name(self.root)
        with self._session(f"upload of '{rel}'") as ftp:
            if _is_dir(ftp, target):
                raise invalid(f"Cannot upload '{rel}': a directory of that name exists")
            if self.sweep_due():
                self._sweep(ftp)
            try:
                _makedirs(ftp, directory)
            except ftplib.error_perm:
                if error := below_a_file(rel, lambda folder: _size(ftp, self._path(folder)) is not None):
                    raise error from None
                raise
            _makedirs(ftp, posixpath.dirname(temp))
            try:
                written = 0
                with ftp.transfercmd(f"STOR {temp}") as conn:
                    while chunk := stream.read(CHUNK):
                        conn.sendall(chunk)
                        written += len(chunk)
                ftp.voidresp()
                if size is not None and written != size:
                    raise short_upload(rel, written, size)
                ftp.rename(temp, target)
            except BaseException:
                self._discard(temp)
                raise

    def _sweep(self, ftp: ftplib.FTP) -> None:
        """Removes the abandoned files of the staging folder."""
        staging = posixpath.join(self.root, STAGING)
        stale = time.time() - STALE_UPLOAD_SECONDS
        if not _is_dir(ftp, staging):  # which enters it
            return
        try:
            for name in _names(ftp):
                path = posixpath.join(staging, name)
                modified = datetime.strptime(ftp.sendcmd(f"MDTM {path}")[4:18], "%Y%m%d%H%M%S")
                if modified.replace(tzinfo=UTC).timestamp() < stale:
                    ftp.delete(path)
                    log.info("removed the staged file of an abandoned upload: %s", path)
        except (ftplib.Error, ValueError) as error:  # no MDTM, or no right to delete
            log.warning("cannot sweep the abandoned uploads of %s: %s", staging, error)

    def _discard(self, temp: str) -> None:
        # on a connection of its own: the failed one may still await the transfer's reply
        with suppress(MlflowError), self._session("removal of a failed upload") as ftp:
            ftp.delete(temp)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        path = self._path(rel)
        with ExitStack() as stack:
            ftp = stack.enter_context(self._session(f"download of '{rel}'"))
            try:
                size = ftp.size(path)
            except ftplib.error_perm:  # missing, or a folder
                raise not_found(f"No such artifact: '{rel}'") from None
            download = _Download(ftp.transfercmd(f"RETR {path}"), stack.pop_all())
        return io.BufferedReader(download, CHUNK), size

    def list(self, rel: str) -> list[FileInfo]:
        with self._session(f"listing of '{rel or '/'}'") as ftp:
            entries = _entries(ftp, self._path(rel)) or []
        return sorted((e for e in entries if not e.name.startswith(TEMP_PREFIX)), key=lambda e: e.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        path = self._path(rel)
        with self._session(f"deletion of '{rel}'") as ftp:
            if _is_dir(ftp, path):
                _remove_tree(ftp, path)
                return
            try:
                ftp.delete(path)
            except ftplib.error_perm:
                if _size(ftp, path) is None:
                    raise not_found(f"No such artifact: '{rel}'") from None
                raise


class _Download(io.RawIOBase):
    """A RETR's data connection; closing it ends the FTP session."""

    def __init__(self, conn, session: ExitStack):
        self._conn, self._session = conn, session

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._conn.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._conn.close()
            self._session.close()
        super().close()


def _is_dir(ftp: ftplib.FTP, path: str) -> bool:
    """Whether path is a folder, by entering it (every other command uses absolute paths)."""
    try:
        ftp.cwd(path)
        return True
    except ftplib.error_perm:
        return False


def _size(ftp: ftplib.FTP, path: str) -> int | None:
    try:
        return ftp.size(path)
    except ftplib.error_perm:
        return None


def _makedirs(ftp: ftplib.FTP, directory: str) -> None:
    if _is_dir(ftp, directory):
        return
    path = ""
    for part in directory.strip("/").split("/"):
        path += "/" + part
        try:
            ftp.mkd(path)
        except ftplib.error_perm:
            if not _is_dir(ftp, path):  # not "exists already": a file in the way, or no right
                raise


def _names(ftp: ftplib.FTP) -> list[str]:
    """Names in the current folder. With -a, vsftpd, ProFTPD and Pure-FTPd include dotfiles
    (such as temporary upload files); other servers refuse it. An empty folder may answer
    450 or 550 instead of an empty list."""
    for args in (("-a",), ()):
        try:
            names = (posixpath.basename(name) for name in ftp.nlst(*args))
            return [name for name in names if name not in ("", ".", "..")]
        except (ftplib.error_perm, ftplib.error_temp):
            continue
    return []


def _entries(ftp: ftplib.FTP, path: str) -> list[FileInfo] | None:
    """A folder's entries, temporary files included; None when path is not a folder."""
    if not _is_dir(ftp, path):
        return None
    entries = []
    for name in _names(ftp):
        full = posixpath.join(path, name)
        size = _size(ftp, full)
        if size is not None:
            entries.append(FileInfo(name, False, size))
        elif _is_dir(ftp, full):
            entries.append(FileInfo(name, True, None))
    return entries


def _remove_tree(ftp: ftplib.FTP, path: str) -> None:
    for entry in _entries(ftp, path) or []:
        full = posixpath.join(path, entry.name)
        if entry.is_dir:
            _remove_tree(ftp, full)
        else:
            ftp.delete(full)
    ftp.cwd(posixpath.dirname(path))  # some servers will not remove the current folder
    ftp.rmd(path)
