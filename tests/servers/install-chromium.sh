#!/usr/bin/env bash
# The UI tests' browser: Debian's Chromium, driven by Playwright (which cannot download its
# own browser here). Idempotent; run as root.
set -euo pipefail

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
