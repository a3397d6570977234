"""Forgetting files deleted on purpose: only missing records go, each logged, and drift is clean again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bifrostd.catalog import Catalog
from bifrostd.reconcile.forget import execute_forget, plan_forget
from bifrostd.reconcile.scan import ScanOptions, scan

from studio_tree import ctl, ctl_json, load, make_tree, write, write_config

SHOT = "demo/sequences/sq010/sh0010"
V1 = f"{SHOT}/comp/render/v001"
V2 = f"{SHOT}/comp/render/v002"


@pytest.fixture
def studio(tmp_path):
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=2, versions=2, frames=3, junk=False)
    config = write_config(tmp_path, tree)
    return tree, config, made


def missing_paths(bifrostctl_bin, config) -> list[str]:
    drift = json.loads(subprocess.run([bifrostctl_bin, "--config", str(config), "drift", "--json"],
                                      capture_output=True, text=True, errors="surrogateescape").stdout)
    return sorted(m["path"] for m in drift["missing"])


def test_a_deleted_folder_is_forgotten_by_path_and_drift_is_clean_again(bifrostctl_bin, studio):
    tree, config, made = studio
    ctl(bifrostctl_bin, config, "scan")
    shutil.rmtree(tree / V1)
    ctl(bifrostctl_bin, config, "scan")
    gone = sorted(p for p in made if p.startswith(V1 + "/"))
    assert missing_paths(bifrostctl_bin, config) == gone

    planned = ctl_json(bifrostctl_bin, config, "forget", "--dry-run", str(tree / SHOT))
    assert planned["schema"] == "bifrost.forget.1" and planned["dry_run"] is True
    assert [f["path"] for f in planned["files"]] == gone
    assert missing_paths(bifrostctl_bin, config) == gone  # a dry run changes nothing

    done = ctl_json(bifrostctl_bin, config, "forget", str(tree / SHOT))
    assert done["count"] == len(gone) and done["via"] == "catalog" and done["kept"] == 0
    assert ctl(bifrostctl_bin, config, "drift").stdout.strip() == "no drift"
    logged = ctl_json(bifrostctl_bin, config, "log", "--kind", "forgotten")["events"]
    assert sorted(e["path"] for e in logged) == gone
    assert {e["source"] for e in logged} == {"command"}
    # the files still on disk under the target are untouched, in the catalog and on disk
    listed = ctl_json(bifrostctl_bin, config, "ls", str(tree / SHOT))["files"]
    assert sorted(f["path"] for f in listed) == sorted(p for p in made if p.startswith(SHOT + "/") and p not in gone)
    assert all(f["state"] == "present" for f in listed)


def test_forget_by_reference_takes_the_entity_and_those_below_it_only(bifrostctl_bin, studio):
    tree, config, made = studio
    ctl(bifrostctl_bin, config, "scan")
    other_shot = "demo/sequences/sq010/sh0020"
    for relative in (f"{V2}/sh0010_comp_v002.1001.exr", f"{other_shot}/anim/work/sh0020_anim_v001.ma"):
        (tree / relative).unlink()
    ctl(bifrostctl_bin, config, "scan")
    done = ctl_json(bifrostctl_bin, config, "forget", "bifrost:///shot/demo/sq010/sh0010")
    assert [f["path"] for f in done["files"]] == [f"{V2}/sh0010_comp_v002.1001.exr"]
    assert missing_paths(bifrostctl_bin, config) == [f"{other_shot}/anim/work/sh0020_anim_v001.ma"]
    assert ctl_json(bifrostctl_bin, config, "forget", "--all")["count"] == 1
    assert missing_paths(bifrostctl_bin, config) == []


def test_nothing_missing_under_a_target_forgets_nothing(bifrostctl_bin, studio):
    tree, config, made = studio
    ctl(bifrostctl_bin, config, "scan")
    assert ctl(bifrostctl_bin, config, "forget", str(tree / SHOT)).stdout.startswith("nothing to forget")
    assert ctl_json(bifrostctl_bin, config, "status")["files"]["present"] == len(made)


def test_forget_without_a_target_is_a_usage_error(bifrostctl_bin, studio):
    tree, config, made = studio
    assert "name what to forget" in ctl(bifrostctl_bin, config, "forget", code=2).stderr


@pytest.mark.parametrize(("args", "message"), [
    (("/etc",), "/etc is under no root"),
    (("bifrost:///shot/demo/sq999/sh9990",), "is not in the catalog"),
    (("bifrost:///task/shot/demo/sq010/sh0010/comp?version=1",), "does not select entities here"),
    (("bifrost:///shot/demo/sq010/sh0010?version=latest",), "does not select entities here"),
])
def test_targets_that_name_nothing_are_errors(bifrostctl_bin, studio, args, message):
    tree, config, made = studio
    ctl(bifrostctl_bin, config, "scan")
    done = ctl(bifrostctl_bin, config, "forget", *args, code=6)
    assert done.stderr.startswith("Error: ") and message in done.stderr


def test_forget_needs_a_catalog(bifrostctl_bin, studio):
    tree, config, made = studio
    done = ctl(bifrostctl_bin, config, "forget", "--all", code=7)
    assert "run 'bifrostctl scan'" in done.stderr
    assert not (config.parent / "state" / "catalog.db").exists()


def test_a_file_back_on_disk_between_plan_and_forget_is_kept(studio):
    tree, config, made = studio
    cfg, template_set = load(config)
    victim = f"{V1}/sh0010_comp_v001.1002.exr"
    with Catalog.open(cfg.catalog_path, write=True) as catalog:
        scan(catalog, template_set, ScanOptions())
        data = (tree / victim).read_bytes()
        (tree / victim).unlink()
        (tree / V1 / "sh0010_comp_v001.1003.exr").unlink()
        scan(catalog, template_set, ScanOptions(full=True))
        plan = plan_forget(catalog, template_set, [str(tree / V1)])
        assert len(plan.records) == 2
        write(tree / victim, data)
        scan(catalog, template_set, ScanOptions(full=True))
        report = execute_forget(catalog, template_set, plan)
        document = report.to_json()
        assert document["count"] == 1 and document["kept"] == 1
        assert [f["path"] for f in document["files"]] == [f"{V1}/sh0010_comp_v001.1003.exr"]
        assert [r.relative for r in catalog.missing()] == []
        assert catalog.integrity() == "ok"


def test_a_forgotten_file_that_comes_back_is_new_and_its_sequence_is_recounted(studio):
    tree, config, made = studio
    cfg, template_set = load(config)
    frame = f"{V1}/sh0010_comp_v001.1003.exr"
    with Catalog.open(cfg.catalog_path, write=True) as catalog:
        scan(catalog, template_set, ScanOptions())
        data = (tree / frame).read_bytes()
        (tree / frame).unlink()
        scan(catalog, template_set, ScanOptions(full=True))
        execute_forget(catalog, template_set, plan_forget(catalog, template_set, [], everything=True))
        count = catalog._conn.execute("SELECT count FROM sequences WHERE root = 'projects' AND pattern LIKE ?",
                                     (f"{V1}/%",)).fetchone()[0]
        assert count == 2
        write(tree / frame, data)
        report = scan(catalog, template_set, ScanOptions(full=True))
        assert report.counts["added"] == 1 and report.counts["moved"] == 0


def test_non_utf8_missing_names_are_forgotten_and_logged(bifrostctl_bin, studio):
    tree, config, made = studio
    bad = os.fsencode(tree / SHOT) + b"/bad\xffname.txt"
    with open(bad, "wb") as handle:
        handle.write(b"x")
    ctl(bifrostctl_bin, config, "scan")
    os.unlink(bad)
    ctl(bifrostctl_bin, config, "scan")
    name = f"{SHOT}/" + os.fsdecode(b"bad\xffname.txt")  # JSON keeps the undecodable byte, losslessly
    assert missing_paths(bifrostctl_bin, config) == [name]
    done = ctl(bifrostctl_bin, config, "forget", str(tree / SHOT))
    assert "bad\\xffname.txt" in done.stdout  # and a terminal shows it escaped
    assert missing_paths(bifrostctl_bin, config) == []
    logged = ctl_json(bifrostctl_bin, config, "log", "--kind", "forgotten")["events"]
    assert [e["path"] for e in logged] == [name]


def test_a_file_restored_on_disk_but_not_yet_scanned_is_not_forgotten(bifrostctl_bin, studio):
    tree, config, made = studio
    ctl(bifrostctl_bin, config, "scan")
    frame = tree / f"{V1}/sh0010_comp_v001.1002.exr"
    data = frame.read_bytes()
    frame.unlink()
    ctl(bifrostctl_bin, config, "scan")
    write(frame, data)  # restored from a backup; no scan has seen it yet
    done = ctl_json(bifrostctl_bin, config, "forget", str(frame))
    assert done["count"] == 0 and done["kept"] == 1
    rescanned = ctl_json(bifrostctl_bin, config, "scan", "--full")
    assert rescanned["counts"]["added"] == 0  # the same record comes back, with its history
    assert missing_paths(bifrostctl_bin, config) == []
