#!/usr/bin/env bash
# Azurite, Microsoft's Azure Storage emulator, for the Azure store's tests: an npm package
# installed into tests/servers/node_modules (3.35 is the last release that runs on Node 20).
set -euo pipefail
cd "$(dirname "$0")"
VERSION=3.35.0

if [ -x node_modules/.bin/azurite-blob ] && grep -q "\"version\": \"$VERSION\"" node_modules/azurite/package.json; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
npm install --prefix . --no-save --no-audit --no-fund --loglevel=error "azurite@$VERSION"
