"""vsftpd, the real FTP daemon, on 127.0.0.1: the FTP store's test server.

It logs in real local users through PAM, so it runs as root and serves the home directory of
the user install-ftp-sftp.sh creates. Like many servers it has no MLSD (the store lists with
NLST and tells directories by trying CWD).
"""
from __future__ import annotations

import ftplib
import os
import pwd
import random
from pathlib import Path

import pytest

from conftest import free_port
from servers.loopback import LoopbackServer, unavailable

FTP_USER = "mlflowftp"  # created, with this password, by install-ftp-sftp.sh
FTP_PASSWORD = "mlflowftp-test"
VSFTPD = "/usr/sbin/vsftpd"


class Vsftpd(LoopbackServer):
    def __init__(self, tmp: Path):
        self.port = free_port()
        empty = tmp / "empty"  # vsftpd's secure_chroot_dir: empty and owned by root
        empty.mkdir(mode=0o755)
        pasv = random.randrange(40000, 60000, 100)  # vsftpd tries another port of the range if one is taken
        config = tmp / "vsftpd.conf"
        config.write_text(f"""\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={self.port}
background=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port={pasv}
pasv_max_port={pasv + 99}
connect_from_port_20=NO
pam_service_name=vsftpd
userlist_enable=NO
secure_chroot_dir={empty}
ssl_enable=NO
utf8_filesystem=YES
xferlog_enable=NO
dual_log_enable=NO
""")
        super().__init__("vsftpd", [VSFTPD, str(config)], tmp / "vsftpd.log", self._logs_in)
        self.user = FTP_USER
        self.home = Path(pwd.getpwnam(FTP_USER).pw_dir)

    def _logs_in(self) -> bool:
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", self.port, timeout=2)
            ftp.login(FTP_USER, FTP_PASSWORD)
        return True

    def url(self, path: str, password: str = FTP_PASSWORD) -> str:
        """The ftp:// location of a path on the server (the FTP user's home is its '/')."""
        return f"ftp://{FTP_USER}:{password}@127.0.0.1:{self.port}{path}"


def start_vsftpd(tmp: Path) -> Vsftpd:
    """vsftpd on a free port, or a skip (a fail under CI) naming what is missing."""
    if not os.path.exists(VSFTPD):
        unavailable("vsftpd is not installed (run tests/servers/install-ftp-sftp.sh as root)")
    if os.geteuid() != 0:
        unavailable("vsftpd logs in local users through PAM and must run as root")
    try:
        pwd.getpwnam(FTP_USER)
    except KeyError:
        unavailable(f"the FTP test user {FTP_USER} does not exist (run tests/servers/install-ftp-sftp.sh)")
    return Vsftpd(tmp)


@pytest.fixture(scope="session")
def vsftpd(tmp_path_factory):
    """One vsftpd for the test session (import this fixture into a test module)."""
    server = start_vsftpd(tmp_path_factory.mktemp("vsftpd"))
    yield server
    server.stop()
