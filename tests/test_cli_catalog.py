"""End to end: the installed bifrostctl scanning a real tree and answering from the catalog."""

from __future__ import annotations

import os

import pytest

from bifrostd.catalog import Catalog

from studio_tree import age_tree, make_tree, write, write_config
from studio_tree import ctl as run
from studio_tree import ctl_json as run_json


@pytest.fixture
def studio(tmp_path):
    tree = tmp_path / "projects"
    make_tree(tree, shots=2, versions=3, frames=6, gap=1003)
    age_tree(tree)
    return tree, write_config(tmp_path, tree)


def test_scan_then_status_drift_ls_versions_log(bifrostctl_bin, studio):
    tree, config = studio
    scanned = run_json(bifrostctl_bin, config, "scan")
    assert scanned["schema"] == "bifrost.scan.1" and scanned["counts"]["added"] == 2 * 3 * 6 + 2
    status = run_json(bifrostctl_bin, config, "status")
    assert status["schema"] == "bifrost.status.1"
    assert status["entities"]["version"] == 2 * 2 * 3 and status["files"]["present"] == 38
    assert status["drift"] == {"unmanaged": 2, "missing": 0, "sequences_with_gaps": 6, "records_from_other_sets": 0}
    drift = run_json(bifrostctl_bin, config, "drift", code=1)
    assert drift["counts"]["unmanaged_files"] == 2 and drift["counts"]["gaps"] == 6
    assert {g["missing"] for g in drift["gaps"]} == {"1003"}
    listing = run_json(bifrostctl_bin, config, "ls", "bifrost:///shot/demo/sq010/sh0010")
    assert [c["name"] for c in listing["children"]] == ["anim", "comp"]
    versions = run_json(bifrostctl_bin, config, "versions", "bifrost:///task/shot/demo/sq010/sh0010/comp")
    assert [v["name"] for v in versions["versions"]] == ["1", "2", "3"]
    assert versions["versions"][0]["sequences"][0]["missing"] == "1003"
    log = run_json(bifrostctl_bin, config, "log", "--since", "1h")
    assert log["events"] and all(e["kind"] == "appeared" for e in log["events"])
    human = run(bifrostctl_bin, config, "status").stdout
    assert "38 present" in human


def test_resolve_latest_answers_from_the_catalog(bifrostctl_bin, studio):
    tree, config = studio
    run(bifrostctl_bin, config, "scan")
    uri = "bifrost:///task/shot/demo/sq010/sh0010/anim?version=latest&ext=ma"
    result = run_json(bifrostctl_bin, config, "resolve", uri)["results"][0]
    assert result["fields"]["version"] == 3 and result["path"].endswith("sh0010_anim_v003.ma")
    assert result["latest"]["uri"] == "bifrost:///version/shot/demo/sq010/sh0010/anim/3"
    sibling = "bifrost:///version/shot/demo/sq010/sh0010/anim/1?version=latest&ext=ma"
    assert run_json(bifrostctl_bin, config, "resolve", sibling)["results"][0]["fields"]["version"] == 3
    (tree / "demo/sequences/sq010/sh0010/anim/work/sh0010_anim_v003.ma").unlink()
    run(bifrostctl_bin, config, "scan")
    assert run_json(bifrostctl_bin, config, "resolve", uri)["results"][0]["fields"]["version"] == 2
    refused = run(bifrostctl_bin, config, "resolve", "bifrost:///shot/demo/sq010/sh0010?version=latest", code=6)
    assert "version=latest is asked on a task or version reference" in refused.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(bifrostctl_bin, studio):
    tree, config = studio
    planned = run_json(bifrostctl_bin, config, "scan", "--dry-run")
    assert planned["schema"] == "bifrost.scan-plan.1" and len(planned["actions"]) == 38
    assert not (config.parent / "state" / "catalog.db").exists()
    run(bifrostctl_bin, config, "scan")
    os.rename(tree / "demo/.DS_Store", tree / "demo/sequences/.DS_Store")
    lines = run(bifrostctl_bin, config, "scan", "--dry-run").stdout.splitlines()
    assert lines == ["> projects:demo/.DS_Store -> projects:demo/sequences/.DS_Store"]
    assert run_json(bifrostctl_bin, config, "scan")["counts"]["moved"] == 1


def test_drift_reports_missing_files_and_exit_code_0_when_clean(bifrostctl_bin, tmp_path):
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=1, versions=1, frames=3, junk=False)
    config = write_config(tmp_path, tree)
    run(bifrostctl_bin, config, "scan")
    assert run(bifrostctl_bin, config, "drift").stdout.strip() == "no drift"
    (tree / made[0]).unlink()
    run(bifrostctl_bin, config, "scan")
    drift = run_json(bifrostctl_bin, config, "drift", code=1)
    assert [m["path"] for m in drift["missing"]] == [made[0]]


def test_templates_plan_shows_records_that_would_become_unmanaged(bifrostctl_bin, studio, tmp_path):
    tree, config = studio
    run(bifrostctl_bin, config, "scan")
    assert run_json(bifrostctl_bin, config, "templates", "plan")["counts"]["became_unmanaged"] == 0
    studio_yaml = tmp_path / "templates" / "studio.yaml"
    lines = [line for line in studio_yaml.read_text().splitlines() if not line.startswith("  shot_work:")]
    studio_yaml.write_text("\n".join(lines).replace("  name: {type: str, default: main}\n", "") + "\n")
    planned = run_json(bifrostctl_bin, config, "templates", "plan", code=1)
    assert planned["counts"]["became_unmanaged"] == 6
    drift = run_json(bifrostctl_bin, config, "drift", code=1)
    assert drift["counts"]["template_mismatch"] == 6


def test_a_scan_while_another_process_writes_exits_9(bifrostctl_bin, studio):
    tree, config = studio
    with Catalog.open(config.parent / "state" / "catalog.db", write=True):
        done = run(bifrostctl_bin, config, "scan", code=9)
    assert done.stderr.startswith("Error: another process is writing the catalog")


def test_non_utf8_names_are_scanned_listed_and_printed(bifrostctl_bin, studio):
    tree, config = studio
    with open(os.fsencode(tree) + b"/demo/bad\xffname.txt", "wb") as handle:
        handle.write(b"x")
    run(bifrostctl_bin, config, "scan")
    drift = run_json(bifrostctl_bin, config, "drift", code=1)
    examples = [e for g in drift["unmanaged"] for e in g["examples"]]
    assert os.fsdecode(b"bad\xffname.txt") in examples  # lossless: os.fsencode gives the name's bytes back
    assert "bad\\xffname.txt" in run(bifrostctl_bin, config, "drift", code=1).stdout


@pytest.mark.parametrize(("text", "shown"), [
    ("sh0100_comp_v003.exr", "sh0100_comp_v003.exr"),
    ("héro modèle (copie).ma", "héro modèle (copie).ma"),
    (os.fsdecode(b"caf\xc3\xa9_\xff.txt"), "café_\\xff.txt"),  # the byte as the catalog's escaped form shows it
    ("two\nlines\t.ma", "two\\nlines\\t.ma"),
])
def test_names_are_printed_safely_for_a_terminal(text, shown):
    from bifrostd.cli.output import printable

    assert printable(text) == shown


def test_log_since_longer_than_the_epoch_means_everything_and_limits_must_be_positive(bifrostctl_bin, studio):
    tree, config = studio
    run(bifrostctl_bin, config, "scan")
    everything = run_json(bifrostctl_bin, config, "log", "--limit", "1000")["events"]
    assert run_json(bifrostctl_bin, config, "log", "--since", "99999999d", "--limit", "1000")["events"] == everything
    assert run_json(bifrostctl_bin, config, "log", "--since", "0001-01-01", "--limit", "1000")["events"] == everything
    for command in (("log",), ("drift",)):
        assert "Invalid value for '--limit'" in run(bifrostctl_bin, config, *command, "--limit", "-1", code=2).stderr


def test_ls_lists_versions_in_numeric_order(bifrostctl_bin, tmp_path):
    tree = tmp_path / "projects"
    for version in (1, 2, 9, 10, 1000):
        write(tree / f"demo/sequences/sq010/sh0010/anim/work/sh0010_anim_v{version:03d}.ma", b"x")
    config = write_config(tmp_path, tree)
    run(bifrostctl_bin, config, "scan")
    children = run_json(bifrostctl_bin, config, "ls", "bifrost:///task/shot/demo/sq010/sh0010/anim")["children"]
    assert [c["name"] for c in children] == ["1", "2", "9", "10", "1000"]


def test_latest_is_the_newest_version_with_files_where_the_answer_points(bifrostctl_bin, tmp_path):
    import subprocess
    from pathlib import Path

    studio = tmp_path / "studio"
    subprocess.run([bifrostctl_bin, "init", "--demo", str(studio)], check=True, capture_output=True)
    task = studio / "projects/demo/assets/character/hero/model"
    write(task / "work/maya/hero_model_v009.ma", b"saved, not published yet")
    config = studio / "bifrost.yaml"
    run(bifrostctl_bin, config, "scan")
    uri = "bifrost:///task/asset/demo/character/hero/model?version=latest"
    published = run_json(bifrostctl_bin, config, "resolve", uri)["results"][0]
    assert published["template"] == "asset_publish_root" and published["fields"]["version"] < 9
    assert Path(published["path"]).is_dir() and any(Path(published["path"]).iterdir())
    publish = run_json(bifrostctl_bin, config, "resolve", uri + "&template=asset_publish_root")["results"][0]
    assert publish["path"] == published["path"]
    work = run_json(bifrostctl_bin, config, "resolve", uri + "&template=asset_work_maya&ext=ma")["results"][0]
    assert work["fields"]["version"] == 9 and work["path"].endswith("hero_model_v009.ma")
    assert work["latest"]["uri"] == "bifrost:///version/asset/demo/character/hero/model/9"
    for frame in ("%23", "%25d"):  # a frame sequence, named by a placeholder: its frames must be there
        frames = run_json(bifrostctl_bin, config, "resolve", f"{uri}&template=asset_turntable&frame={frame}")
        render = Path(frames["results"][0]["path"])
        assert render.name.endswith((".####.exr", ".%04d.exr")) and frames["results"][0]["fields"]["version"] < 9
        assert any(p.suffix == ".exr" for p in render.parent.iterdir())
    nowhere = run(bifrostctl_bin, config, "resolve", uri + "&template=asset_work_maya&ext=mb", code=6)
    assert "no version under bifrost:///task/asset/demo/character/hero/model has files at template " \
           "'asset_work_maya'" in nowhere.stderr and "model/9" in nowhere.stderr


def edit_in_place(path, data: bytes, *, keep_mtime: bool = False) -> None:
    """Write into an existing file, as a tool that opens it for update does: its folder's mtime does not move."""
    before = os.stat(path)
    with open(path, "r+b") as f:
        f.write(data)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def test_a_plain_scan_sees_files_edited_in_place_and_prune_does_not(bifrostctl_bin, studio):
    """A cron job's 'scan && mirror run' must back up edits in place: nothing in their folder changed but them."""
    tree, config = studio
    run(bifrostctl_bin, config, "scan")
    work = tree / "demo/sequences/sq010/sh0010/anim/work"
    edited = sorted(work.glob("*.ma"))
    for path in edited:
        edit_in_place(path, b"edited!")
    pruned = run_json(bifrostctl_bin, config, "scan", "--prune")
    assert pruned["counts"]["changed"] == 0 and pruned["counts"]["dirs_skipped"] > 0  # blind, as documented
    scanned = run_json(bifrostctl_bin, config, "scan")
    assert scanned["counts"]["changed"] == len(edited) and scanned["counts"]["dirs_skipped"] == 0
    assert run_json(bifrostctl_bin, config, "scan")["counts"]["changed"] == 0


def test_rehash_finds_content_changed_behind_the_same_size_and_mtime(bifrostctl_bin, studio):
    tree, config = studio
    run(bifrostctl_bin, config, "scan")
    shot = tree / "demo/sequences/sq010/sh0010"
    target = sorted((shot / "anim/work").glob("*.ma"))[0]
    other = sorted((tree / "demo/sequences/sq010/sh0020/anim/work").glob("*.ma"))[0]
    for path in (target, other):
        edit_in_place(path, b"X", keep_mtime=True)  # same size, same mtime: invisible to any mtime scan
    assert run_json(bifrostctl_bin, config, "scan")["counts"]["changed"] == 0

    scrub = run_json(bifrostctl_bin, config, "scan", "--rehash", "bifrost:///shot/demo/sq010/sh0010")
    found = [f for f in scrub["findings"] if f["kind"] == "changed-under-same-mtime"]
    assert [f["path"] for f in found] == [target.relative_to(tree).as_posix()]
    assert scrub["counts"]["changed"] == 1
    assert 1 < scrub["counts"]["hashed"] < scrub["counts"]["files_seen"]  # the shot's files, not the whole root
    with Catalog.open(config.parent / "state" / "catalog.db") as catalog:
        from bifrostd.observe.hashing import hash_file

        row = catalog._conn.execute("SELECT hash FROM files WHERE path = ?",
                                   (target.relative_to(tree).as_posix(),)).fetchone()
        assert row[0] == hash_file(str(target))

    everything = run_json(bifrostctl_bin, config, "scan", "--rehash", str(tree))
    assert [f["path"] for f in everything["findings"] if f["kind"] == "changed-under-same-mtime"] == \
        [other.relative_to(tree).as_posix()]
    again = run_json(bifrostctl_bin, config, "scan", "--rehash")
    assert not [f for f in again["findings"] if f["kind"] == "changed-under-same-mtime"]
    assert again["counts"]["hashed"] == again["counts"]["files_seen"]
    run(bifrostctl_bin, config, "scan", "--prune", "--rehash", code=2)
