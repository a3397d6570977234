#!/usr/bin/env bash
# Create a demo studio and show what Bifrost makes of it.
# Usage: scripts/demo.sh VENV_BIN DEMO_DIR
set -euo pipefail
bin=$1
dir=$2
"$bin/bifrostctl" init "$dir" --demo --force
cd "$dir"
echo
echo "== bifrostctl templates check"
"$bin/bifrostctl" templates check
sample=$(find projects -name '*.ma' -print -quit 2>/dev/null || true)
if [ -n "$sample" ]; then
    echo
    echo "== bifrostctl resolve $sample"
    "$bin/bifrostctl" resolve "$PWD/$sample"
fi
if "$bin/bifrostctl" --help | grep -q '^  scan'; then
    echo
    echo "== bifrostctl scan"
    "$bin/bifrostctl" scan
    echo
    echo "== bifrostctl status"
    "$bin/bifrostctl" status
fi
echo
echo "The demo studio is in $dir; run bifrostctl from there (it reads ./bifrost.yaml)."
