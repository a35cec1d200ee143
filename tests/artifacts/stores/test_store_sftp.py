"""The store contract on SFTP: OpenSSH's sshd as the proxy's destination. The server process
logs in as a user would, through its HOME's ~/.ssh (config, key, known_hosts)."""
from __future__ import annotations

import shutil

import pytest

from conftest import free_port
from servers.sshd import sshd  # noqa: F401 (fixture)
from store_checks import (check_delete, check_large_transfer, check_listing, check_missing_file,
                          check_official_client, check_round_trip, check_store_error, check_traversal,
                          store_server)

SENTINEL = b"outside the destination"
ALIAS = "artifact-host"  # a Host of ~/.ssh/config, not resolvable without it
PASSWORD = "sftp-password-must-not-leak"


def _env(tmp_path, destination: str) -> dict:
    return {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", "HOME": str(tmp_path / "home"),
            "MLFLOW_ARTIFACTS_DESTINATION": destination}


@pytest.fixture(scope="module")
def sftp_store(sshd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store-sftp")
    parent = tmp / "sftp"
    parent.mkdir()
    (parent / "sentinel.txt").write_bytes(SENTINEL)
    home = sshd.ssh_home(tmp / "home", ALIAS)
    server = store_server(tmp, f"sftp://{ALIAS}{parent}/root", env={"HOME": str(home)})
    server.outside = lambda: {p.relative_to(parent).as_posix(): p.read_bytes()
                              for p in parent.rglob("*") if p.is_file() and parent / "root" not in p.parents}
    yield server
    server.stop()


def test_round_trip(sftp_store):
    check_round_trip(sftp_store)


def test_listing(sftp_store):
    check_listing(sftp_store)


def test_delete(sftp_store):
    check_delete(sftp_store)


def test_missing_file(sftp_store):
    check_missing_file(sftp_store)


def test_traversal(sftp_store):
    check_traversal(sftp_store, sftp_store.outside)


def test_official_client(sftp_store, tmp_path):
    check_official_client(sftp_store, tmp_path)


def test_large_file_streams_with_flat_memory(sftp_store):
    check_large_transfer(sftp_store)


def test_user_port_and_default_key_without_a_config(sshd, start_server, tmp_path):
    """sftp://user@host:port/path finds ~/.ssh/id_ed25519 and the [host]:port known_hosts entry."""
    ssh = sshd.ssh_home(tmp_path / "home", ALIAS) / ".ssh"
    (ssh / "config").unlink()
    shutil.copy(sshd.client_key, ssh / "id_ed25519")
    server = start_server(_env(tmp_path, f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/root"))
    check_listing(server)
    assert all(p.name.startswith(("checks-", ".upload-")) for p in (tmp_path / "root").iterdir())


def test_unknown_host_key_is_refused(sshd, start_server, tmp_path):
    sshd.ssh_home(tmp_path / "home", ALIAS, known=False)
    server = start_server(_env(tmp_path, f"sftp://{ALIAS}{tmp_path}/root"))
    check_store_error(server, secrets=[], names=[f"sftp://{ALIAS}{tmp_path}/root",
                                                 f"host key of [127.0.0.1]:{sshd.port} is not in known_hosts"],
                      statuses=[403])
    assert not (tmp_path / "root").exists()


def test_password_refused_without_leaking(sshd, start_server, tmp_path):
    """A password in the URI is tried (this sshd takes keys only) and never shown."""
    sshd.ssh_home(tmp_path / "home", ALIAS)
    location = f"127.0.0.1:{sshd.port}{tmp_path}/root"
    server = start_server(_env(tmp_path, f"sftp://{sshd.user}:{PASSWORD}@{location}"))
    check_store_error(server, secrets=[PASSWORD], names=[f"sftp://{location}", f"login as '{sshd.user}' refused"],
                      statuses=[403])
    assert "the URI holds a password" in server.log()


def test_unreachable_host(start_server, tmp_path):
    location = f"127.0.0.1:{free_port()}/root"
    server = start_server(_env(tmp_path, f"sftp://someone:{PASSWORD}@{location}"))
    check_store_error(server, secrets=[PASSWORD], names=[f"sftp://{location}", "Connection refused"],
                      statuses=[503])
