"""Artifacts on an SSH server, sftp://user@host:port/path, through paramiko.

Not through pysftp, which MLflow's design names: its last release (0.2.9, 2016) fails to
import with paramiko 4 and later (DSSKey was removed), loads only RSA key files, and looks
host keys up by bare host instead of [host]:port. paramiko, its foundation, does it all.

Login follows the user's OpenSSH setup: ~/.ssh/config (HostName, User, Port, IdentityFile,
UserKnownHostsFile, StrictHostKeyChecking), the default key files and the agent, and
known_hosts with strict host-key checking: an unknown host is refused unless the config says
`StrictHostKeyChecking no`. A password in the URI works but is discouraged.

One SSH connection per server and login is shared by all threads of a process; each
operation opens its own SFTP channel on it. Uploads go to a hidden temporary name in the
root's staging folder and are renamed over the target when complete (atomically where the
server has OpenSSH's posix-rename), so a failed upload keeps the previous file; sweeps remove
staged files whose modification time is STALE_UPLOAD_SECONDS old.
"""
from __future__ import annotations

import getpass
import io
import logging
import os
import posixpath
import socket
import stat
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, int64

from ..errors import MlflowError, invalid, not_found
from .base import (
    DENIED, FAILED, STAGING, STALE_UPLOAD_SECONDS, TEMP_PREFIX, UNAVAILABLE, ArtifactRepository, FileInfo,
    below_a_file, check_names, describe, short_upload, store_error, temp_name,
)

log = logging.getLogger(__name__)
logging.getLogger("paramiko.transport.sftp").setLevel(logging.WARNING)  # it logs every channel at INFO

CHUNK = 1024 * 1024
WINDOW = 4 * 1024 * 1024  # bytes a download asks for at once
TIMEOUT = 60  # seconds to connect, and for each reply

_connections: dict[tuple, paramiko.SSHClient] = {}  # (host, port, user, password) -> live client
_connections_lock = threading.Lock()


class _UnknownHostKey(paramiko.SSHException):
    pass


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise _UnknownHostKey(hostname)


class SftpArtifactRepository(ArtifactRepository):
    def __init__(self, location: str):
        parts = urlsplit(location)
        try:
            config = _ssh_config().lookup(parts.hostname)
            self.port = parts.port or int(config.get("port", 22))
        except (paramiko.ssh_exception.ConfigParseError, ValueError) as error:
            raise invalid(f"Artifact store {describe(location)}: cannot use ~/.ssh/config: {error}") from None
        self.location = location
        self.host = config["hostname"]
        self.user = unquote(parts.username) if parts.username else config.get("user", getpass.getuser())
        self._password = unquote(parts.password) if parts.password else None
        self._key_files = [os.path.expanduser(path) for path in config.get("identityfile", [])]
        self._known_hosts = [os.path.expanduser(path) for path in
                             config.get("userknownhostsfile", "~/.ssh/known_hosts").split()]
        self._strict = config.get("stricthostkeychecking", "yes").lower() not in ("no", "off")
        self.root = posixpath.normpath("/" + unquote(parts.path).strip("/"))
        if self._password:
            log.warning("Artifact store %s: the URI holds a password; a key (IdentityFile in "
                        "~/.ssh/config) is safer", describe(location))

    def _path(self, rel: str) -> str:
        check_names(rel)
        return posixpath.join(self.root, rel) if rel else self.root

    def _error(self, action: str, cause: str, code: str) -> MlflowError:
        return store_error(self.location, action, cause, code, secrets=(self._password or "",))

    def _connect(self, action: str) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        for path in self._known_hosts:
            if os.path.exists(path):
                client.load_host_keys(path)
        client.set_missing_host_key_policy(_RejectUnknown() if self._strict else paramiko.WarningPolicy())
        address = f"[{self.host}]:{self.port}" if self.port != 22 else self.host
        sock = None
        try:
            # paramiko leaves Nagle on: each read-ahead window of a download would then stall
            # on the server's delayed ACK (about 40 ms), a third of the throughput.
            sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.connect(self.host, self.port, self.user, password=self._password, sock=sock,
                           key_filename=self._key_files or None, timeout=TIMEOUT, banner_timeout=TIMEOUT,
                           auth_timeout=TIMEOUT, channel_timeout=TIMEOUT)
            sock = None  # the client's now
        except _UnknownHostKey:
            raise self._error(action, f"the host key of {address} is not in known_hosts and strict "
                                      f"host-key checking refuses unknown hosts (add it to known_hosts, "
                                      f"e.g. with ssh-keyscan)", DENIED) from None
        except paramiko.BadHostKeyException:
            raise self._error(action, f"the host key of {address} differs from the one in known_hosts",
                              DENIED) from None
        except paramiko.AuthenticationException as error:
            raise self._error(action, f"login as '{self.user}' refused: {error}", DENIED) from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise self._error(action, f"cannot connect to {address}: {error}", UNAVAILABLE) from None
        finally:
            if sock is not None:
                sock.close()
        return client

    def _transport(self, action: str) -> paramiko.Transport:
        key = (self.host, self.port, self.user, self._password)
        with _connections_lock:
            client = _connections.get(key)
            transport = client.get_transport() if client else None
            if transport is None or not transport.is_active():
                _connections[key] = client = self._connect(action)
                transport = client.get_transport()
        return transport

    @contextmanager
    def _sftp(self, action: str):
        """An SFTP channel on the shared connection; the server's failures become store errors."""
        transport = self._transport(action)
        try:
            with paramiko.SFTPClient.from_transport(transport) as sftp:
                sftp.get_channel().settimeout(TIMEOUT)
                yield sftp
        except PermissionError as error:
            raise self._error(action, str(error), DENIED) from None
        except (paramiko.SSHException, EOFError, TimeoutError) as error:
            raise self._error(action, str(error) or type(error).__name__, UNAVAILABLE) from None
        except OSError as error:
            raise self._error(action, str(error), FAILED) from None

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        target = self._path(rel)
        directory = posixpath.dirname(target)
        temp = temp_name(self.root)
        with self._sftp(f"upload of '{rel}'") as sftp:
            if _is_dir(sftp, target):
                raise invalid(f"Cannot upload '{rel}': a directory of that name exists")
            if self.sweep_due():
                self._sweep(sftp)
            try:
                _makedirs(sftp, directory)
            except OSError:
                if error := below_a_file(rel, lambda folder: _is_file(sftp, self._path(folder))):
                    raise error from None
                raise
            _makedirs(sftp, posixpath.dirname(temp))
            try:
                written = 0
                with sftp.open(temp, "wb") as out:
                    out.set_pipelined(True)  # no round trip per write; close() collects the replies
                    while chunk := stream.read(CHUNK):
                        out.write(chunk)
                        written += len(chunk)
                if size is not None and written != size:
                    raise short_upload(rel, written, size)
                _publish(sftp, temp, target)
            except BaseException:
                with suppress(OSError, paramiko.SSHException):
                    sftp.remove(temp)
                raise

    def _sweep(self, sftp: paramiko.SFTPClient) -> None:
        """Removes the abandoned files of the staging folder."""
        staging = posixpath.join(self.root, STAGING)
        stale = time.time() - STALE_UPLOAD_SECONDS
        try:
            for entry in sftp.listdir_attr(staging):
                if entry.st_mtime < stale:
                    with suppress(FileNotFoundError):  # an upload just done
                        sftp.remove(posixpath.join(staging, entry.filename))
                        log.info("removed the staged file of an abandoned upload: %s/%s", staging, entry.filename)
        except FileNotFoundError:  # nothing staged yet
            pass
        except OSError as error:
            log.warning("cannot sweep the abandoned uploads of %s: %s", staging, error)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        path = self._path(rel)
        with ExitStack() as stack:
            sftp = stack.enter_context(self._sftp(f"download of '{rel}'"))
            try:
                attributes = sftp.stat(path)
            except FileNotFoundError:
                attributes = None
            if attributes is None or not stat.S_ISREG(attributes.st_mode):
                raise not_found(f"No such artifact: '{rel}'")
            handle = stack.enter_context(sftp.open(path, "rb"))
            download = _Download(handle, attributes.st_size, stack.pop_all())
        return io.BufferedReader(download, WINDOW), attributes.st_size

    def list(self, rel: str) -> list[FileInfo]:
        with self._sftp(f"listing of '{rel or '/'}'") as sftp:
            try:
                entries = sftp.listdir_attr(self._path(rel))
            except FileNotFoundError:  # missing, or a file
                return []
        return sorted((FileInfo(e.filename, True, None) if stat.S_ISDIR(e.st_mode)
                       else FileInfo(e.filename, False, e.st_size)
                       for e in entries if not e.filename.startswith(TEMP_PREFIX)), key=lambda e: e.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        path = self._path(rel)
        with self._sftp(f"deletion of '{rel}'") as sftp:
            if _is_dir(sftp, path):
                _remove_tree(sftp, path)
                return
            try:
                sftp.remove(path)
            except FileNotFoundError:
                raise not_found(f"No such artifact: '{rel}'") from None


class _Download(io.RawIOBase):
    """A remote file read a window at a time: the window's read requests (32 KB each) are sent
    at once, then their replies collected. Not through paramiko's readv or prefetch: their
    sender thread races the reader, and when the replies overtake it the file falls back to one
    round trip per request while keeping every reply that arrives after that in memory until it
    is closed (tens of MB per download, seen here). This uses paramiko's request/reply calls,
    which are internal: the version is pinned and tests/artifacts/stores cover it."""

    def __init__(self, handle: paramiko.SFTPFile, size: int, session: ExitStack):
        self._handle, self._size, self._session = handle, size, session
        self._offset = 0
        self._replies: dict[int, tuple[int, paramiko.Message]] = {}

    def readable(self) -> bool:
        return True

    def _async_response(self, kind: int, message: paramiko.Message, number: int) -> None:
        self._replies[number] = (kind, message)  # called by the SFTP client for our requests

    def readinto(self, buffer) -> int:
        end = min(self._offset + len(buffer), self._size)
        if end <= self._offset:
            return 0
        sftp, step = self._handle.sftp, self._handle.MAX_REQUEST_SIZE
        requests = [(offset, min(step, end - offset)) for offset in range(self._offset, end, step)]
        numbers = [sftp._async_request(self, CMD_READ, self._handle.handle, int64(offset), length)
                   for offset, length in requests]
        while len(self._replies) < len(numbers):
            sftp._read_response()
        view, got = memoryview(buffer), 0
        try:
            for number, (_, length) in zip(numbers, requests):
                data = self._data(number)
                view[got:got + len(data)] = data
                got += len(data)
                if len(data) < length:
                    break  # a short reply: the next read asks for the rest again
        finally:
            self._replies.clear()
        self._offset += got
        return got

    def _data(self, number: int) -> bytes:
        kind, message = self._replies[number]
        if kind == CMD_DATA:
            return message.get_string()
        try:
            self._handle.sftp._convert_status(message)  # raises the server's error
        except EOFError:
            return b""  # the file got shorter since it was opened
        raise paramiko.SSHException(f"unexpected SFTP reply {kind} to a read")

    def close(self) -> None:
        if not self.closed:
            self._session.close()
        super().close()


def _ssh_config() -> paramiko.SSHConfig:
    path = os.path.expanduser("~/.ssh/config")
    return paramiko.SSHConfig.from_path(path) if os.path.exists(path) else paramiko.SSHConfig()


def _is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _is_file(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISREG(sftp.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
    if _is_dir(sftp, directory):
        return
    path = ""
    for part in directory.strip("/").split("/"):
        path += "/" + part
        try:
            sftp.mkdir(path)
        except OSError:
            if not _is_dir(sftp, path):  # not "exists already": a file in the way, or no right
                raise


def _publish(sftp: paramiko.SFTPClient, temp: str, target: str) -> None:
    """Rename temp over target: atomic with OpenSSH's posix-rename; plain SFTP renames refuse
    an existing target, so elsewhere the old file is removed first."""
    try:
        sftp.posix_rename(temp, target)
    except OSError:
        with suppress(FileNotFoundError):
            sftp.remove(target)
        sftp.rename(temp, target)


def _remove_tree(sftp: paramiko.SFTPClient, path: str) -> None:
    for entry in sftp.listdir_attr(path):
        full = posixpath.join(path, entry.filename)
        if stat.S_ISDIR(entry.st_mode):
            _remove_tree(sftp, full)
        else:
            sftp.remove(full)
    sftp.rmdir(path)
