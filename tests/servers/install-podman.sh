#!/usr/bin/env bash
# The container tests' engine: podman with the runc runtime (crun refuses this host's mixed
# cgroup layout), its network stack, and debootstrap for the Debian base image they build
# (no registry can be pulled from here); catatonit is the pause process of `podman kube play`
# pods. Debian packages; idempotent; run as root.
set -euo pipefail

missing=()
for package in podman runc catatonit netavark aardvark-dns iptables debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
