#!/usr/bin/env bash
# Create a demo studio and show what Bifrost makes of it.
# Usage: scripts/demo.sh VENV_BIN DEMO_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
dir=$2
ctl="$bin/bifrostctl"

step() { printf '\n== %s\n' "$*"; }

"$ctl" init "$dir" --demo --force
cd "$dir"

step "bifrostctl templates check"
"$ctl" templates check

step "bifrostctl scan"
"$ctl" scan

step "bifrostctl status"
"$ctl" status

step "bifrostctl drift   (exit code 1: the demo has junk and a missing frame on purpose)"
"$ctl" drift || true

shot=bifrost:///shot/demo/sq010/sh0100
step "bifrostctl resolve $shot"
"$ctl" resolve "$shot"

step "bifrostctl ls $shot"
"$ctl" ls "$shot"

sample=$(find "$PWD/projects" -path '*/work/maya/*_v*.ma' | sort | head -n 1)
step "bifrostctl resolve $sample"
"$ctl" resolve "$sample"

step "bifrostctl create bifrost:///shot/demo/sq030/sh0010 --frames 1001-1096 --handles 8   (its folders and sidecar)"
"$ctl" create bifrost:///shot/demo/sq030/sh0010 --frames 1001-1096 --handles 8 --description "Roof chase"

work=projects/demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v002.ma
step "bifrostctl publish $work --comment 'Blocking, for review'"
"$ctl" publish "$work" --comment "Blocking, for review"
"$ctl" versions bifrost:///task/shot/demo/sq010/sh0100/anim

step "bifrostctl search roof   (full text over names, paths, descriptions, publish comments and tags)"
"$ctl" search roof
step "bifrostctl search blocking --kind version"
"$ctl" search blocking --kind version

if "$ctl" --help | grep -q '^  daemon'; then
    step "bifrostd   (watching the demo studio; Ctrl-C stops it)"
    work=projects/demo/sequences/sq010/sh0100/anim/work/maya
    echo "In another terminal: cd $PWD && cp $work/sh0100_anim_v002.ma $work/sh0100_anim_v003.ma"
    echo "then: $ctl status   (run it from $PWD)"
    exec "$bin/bifrostd" --config "$PWD/bifrost.yaml"
fi
echo
echo "The demo studio is in $PWD; run bifrostctl from there (it reads ./bifrost.yaml)."
