"""OpenSSH's sshd on 127.0.0.1: the SFTP store's test server.

Its host key and the one client key it accepts are generated per server (ed25519); the
client logs in as the user running the tests, with the key only. `ssh_home` writes the
HOME of a process that connects to it the way a user would set it up.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import free_port
from servers.loopback import LoopbackServer, unavailable

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and needs its absolute path
PRIVSEP_DIR = Path("/run/sshd")


class Sshd(LoopbackServer):
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.user = getpass.getuser()
        self.client_key = tmp / "client_ed25519"
        host_key = tmp / "host_ed25519"
        for key in (host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mlflow-test", "-f", str(key)],
                           check=True)
        self.host_public_key = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
        authorized = tmp / "authorized_keys"
        shutil.copy(f"{self.client_key}.pub", authorized)
        config = tmp / "sshd_config"
        config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
AllowUsers {self.user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""")
        super().__init__("sshd", [SSHD, "-D", "-e", "-f", str(config)], tmp / "sshd.log", self._greets)

    def _greets(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            return conn.recv(8).startswith(b"SSH-")

    def ssh_home(self, home: Path, alias: str, known: bool = True) -> Path:
        """A HOME whose ~/.ssh/config names this server `alias` (HostName, Port, User and
        IdentityFile) and whose known_hosts holds its host key (unless not `known`)."""
        ssh = home / ".ssh"
        ssh.mkdir(parents=True, mode=0o700)
        (ssh / "config").write_text(f"Host {alias}\n    HostName 127.0.0.1\n    Port {self.port}\n"
                                    f"    User {self.user}\n    IdentityFile {self.client_key}\n")
        (ssh / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {self.host_public_key}\n" if known else "")
        return home


def start_sshd(tmp: Path) -> Sshd:
    """sshd on a free port, or a skip (a fail under CI) naming what is missing."""
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        unavailable("OpenSSH's sshd is not installed (run tests/servers/install-ftp-sftp.sh as root)")
    if not PRIVSEP_DIR.is_dir():
        if os.geteuid() != 0:
            unavailable(f"sshd needs {PRIVSEP_DIR} (run tests/servers/install-ftp-sftp.sh as root)")
        PRIVSEP_DIR.mkdir(mode=0o755)
    return Sshd(tmp)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """One sshd for the test session (import this fixture into a test module)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()
