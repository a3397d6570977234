"""End to end: sidecars in the demo studio indexed by the installed bifrostctl's scan, rebuilt after
``rm catalog.db``, and a broken one reported by ``drift`` while the catalog keeps its last good values."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bifrostd import Studio
from bifrostd.atomic_write import write_atomic
from bifrostd.authored import SIDECAR_NAME, Authored, FrameRange, Link, update_sidecar
from bifrostd.catalog import Catalog

from conftest import installed

SHOT = Authored("Hero lands on the roof", FrameRange(1001, 1100, 8, 8), ("hero", "night"),
                (Link("bifrost:///asset/demo/char/hero"),), {"vendor": "inhouse"})


def ctl(studio: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([installed("bifrostctl"), "--config", str(studio), *args], capture_output=True, text=True,
                          timeout=120)


#: Two shot folders of the demo studio, relative to its projects root.
GOOD, BAD = "demo/sequences/sq010/sh0100", "demo/sequences/sq010/sh0200"


def indexed(studio: Path, folder: str):
    with Catalog.open(studio / ".bifrost" / "catalog.db") as catalog:
        return catalog.authored("projects", folder)


def test_scan_indexes_sidecars_rebuilds_them_and_drift_reports_a_broken_one(tmp_path):
    studio = tmp_path / "studio"
    subprocess.run([installed("bifrostctl"), "init", "--demo", str(studio)], check=True, capture_output=True)
    good, bad = GOOD, BAD
    update_sidecar(studio / "projects" / good, lambda a: SHOT)
    (studio / "projects" / bad / SIDECAR_NAME).write_text("schema: bifrost.entity.1\nframes:\n  cut_in: x\n")
    assert ctl(studio, "scan").returncode == 0
    assert indexed(studio, good).data == SHOT

    drift = ctl(studio, "drift", "--json")
    document = json.loads(drift.stdout)
    assert drift.returncode == 1
    [broken] = document["broken_sidecars"]
    assert broken["folder"] == bad and not broken["last_good_kept"]
    assert broken["problems"][0]["line"] == 3 and "whole number" in broken["problems"][0]["message"]
    assert broken["problems"][0]["file"].endswith(f"{bad}/{SIDECAR_NAME}")
    unmanaged = [name for group in document["unmanaged"] for name in group["examples"]]
    assert SIDECAR_NAME not in unmanaged and ".bifrost-entity.lock" not in unmanaged
    assert f"{SIDECAR_NAME}:3:" in ctl(studio, "drift").stdout

    for leftover in (studio / ".bifrost").glob("catalog.db*"):
        leftover.unlink()
    assert ctl(studio, "scan").returncode == 0
    assert indexed(studio, good).data == SHOT  # rebuilt from the tree

    write_atomic(studio / "projects" / good / SIDECAR_NAME, b"schema: bifrost.entity.1\ntags: [a b]\n")
    assert ctl(studio, "scan").returncode == 0
    row = indexed(studio, good)
    assert row.data == SHOT and row.problems[0]["line"] == 2  # the last good values are kept
    assert {b["folder"] for b in json.loads(ctl(studio, "drift", "--json").stdout)["broken_sidecars"]} == {good, bad}
    with Studio.open(studio) as api:  # the API answers the last good values of a broken sidecar, too
        assert api.authored("bifrost:///shot/demo/sq010/sh0100") == SHOT
        assert api.authored("bifrost:///shot/demo/sq010/sh0200") == Authored()
        assert api.authored("bifrost:///shot/demo/sq010/sh0300") == Authored()

    shown = ctl(studio, "show", "bifrost:///shot/demo/sq010/sh0100", "--json")  # broken now: the last good values
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["entity"]["uri"] == "bifrost:///shot/demo/sq010/sh0100"
    assert document["authored"] == SHOT.to_json()
    text = ctl(studio, "show", "bifrost:///shot/demo/sq010/sh0100").stdout
    assert "1001-1100 (handles 8, 8)" in text and "hero, night" in text and "fields.vendor" in text
