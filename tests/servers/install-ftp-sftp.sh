#!/usr/bin/env bash
# The FTP and SFTP stores' test servers: vsftpd and OpenSSH's sshd (Debian packages), and the
# local user vsftpd logs in (it authenticates real users through PAM). Idempotent; run as root.
set -euo pipefail

missing=()
[ -x /usr/sbin/vsftpd ] || missing+=(vsftpd)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Keep in step with tests/servers/vsftpd.py (FTP_USER, FTP_PASSWORD).
if ! id mlflowftp >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh mlflowftp
fi
echo "mlflowftp:mlflowftp-test" | chpasswd
mkdir -p /run/sshd
