"""Moving the tree to follow the templates: ``templates migrate`` and ``templates conform``.

Real demo studios in tmp_path, scanned into a real catalog; the catalog,
the sidecars and the mirror (a local-folder target) are checked after the
moves; an interrupted migration is a real ``bifrostctl`` process killed with
SIGKILL mid-run, then resumed or rolled back by the next one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.catalog import Catalog
from bifrostd.catalog.state_lock import StateLock
from bifrostd.cli import main
from bifrostd.config import load_config
from bifrostd.demo import create_demo_studio, write_studio_config
from bifrostd.reconcile.tree_journal import JOURNAL_NAME
from bifrostd.reconcile.tree_plan import Refusal, TreeMove, TreePlan, sidecar_moves
from bifrostd.reconcile.tree_run import check_moves, execute

MAYA = "demo/sequences/sq010/sh0100/anim/work/maya"
PROJECTS = "projects"


def run(capsys, studio: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(studio / "bifrost.yaml"), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def studio(tmp_path) -> Path:
    """The demo studio, scanned with its own templates."""
    root = tmp_path / "studio"
    root.mkdir()
    config = load_config(write_studio_config(root, demo=True))
    create_demo_studio(root, config.load_templates())
    assert main(["-q", "--config", str(root / "bifrost.yaml"), "scan"]) == 0
    return root


def edit_templates(studio: Path, old: str, new: str) -> None:
    shots = studio / "templates" / "shots.yaml"
    text = shots.read_text()
    assert old in text
    shots.write_text(text.replace(old, new))


def rename_maya_folder(studio: Path) -> None:
    edit_templates(studio, "/work/maya/", "/work/mayaproj/")


def records(studio: Path) -> dict[int, tuple[str, str | None]]:
    with Catalog.open(load_config(studio / "bifrost.yaml").catalog_path) as catalog:
        return {r.id: (r.relative, r.hash) for r in catalog.present_records()}


# -- the demo case of the issue ----------------------------------------------------------------------
def test_renaming_the_maya_work_folder_moves_the_20_work_files_and_the_plan_is_clean(studio, capsys):
    rename_maya_folder(studio)
    code, out, _ = run(capsys, studio, "templates", "plan", "--json")
    assert code == 1 and json.loads(out)["counts"]["became_unmanaged"] == 20
    before = records(studio)

    code, out, err = run(capsys, studio, "templates", "migrate", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["schema"] == "bifrost.tree-plan.1" and plan["counts"] == {"moves": 20, "refused": 0}
    assert all(m["to"] == m["from"].replace("/work/maya/", "/work/mayaproj/") for m in plan["moves"])
    assert (studio / PROJECTS / MAYA / "sh0100_anim_v001.ma").exists()  # a dry run moves nothing

    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    report = json.loads(out)
    assert code == 0 and (report["moved"], report["records_moved"], report["refused"]) == (20, 20, [])
    assert not (studio / PROJECTS / MAYA.replace("maya", "mayaproj") / "sh0100_anim_v001.ma").is_symlink()
    assert (studio / PROJECTS / MAYA.replace("/maya", "/mayaproj") / "sh0100_anim_v001.ma").is_file()
    assert run(capsys, studio, "templates", "plan")[0] == 0
    after = records(studio)
    assert set(after) == set(before)  # the same records: ids and hashes kept, paths updated
    assert all(after[i][1] == before[i][1] for i in before)
    assert sum(after[i][0] != before[i][0] for i in before) == 20
    assert not (studio / ".bifrost" / JOURNAL_NAME).exists()

    code, out, _ = run(capsys, studio, "templates", "migrate")
    assert (code, out.strip()) == (0, "nothing to move: the tree already follows the templates")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 0 and json.loads(out)["moved"] == 0


def test_the_catalog_logs_each_move_and_emptied_folders_go_unless_something_is_left(studio, capsys):
    (studio / PROJECTS / MAYA / "notes.txt").write_text("mine")
    rename_maya_folder(studio)
    assert run(capsys, studio, "templates", "migrate")[0] == 0
    code, out, _ = run(capsys, studio, "log", "--json", "--limit", "100")
    moved = [e for e in json.loads(out)["events"] if e["kind"] == "moved"]
    assert len(moved) == 20 and {e["source"] for e in moved} == {"migrate"}
    assert (studio / PROJECTS / MAYA / "notes.txt").exists()  # a folder holding anything stays
    assert not (studio / PROJECTS / MAYA.replace("sh0100", "sh0200")).exists()
    assert (studio / PROJECTS / "demo/sequences/sq010/sh0200/anim").is_dir()  # skeleton: a template names it


def test_frame_sequences_and_udim_tiles_move_frame_by_frame_and_their_sequences_follow(studio, capsys):
    edit_templates(studio, "{@farm_shot_task}/render/v{version}/{aov}/", "{@farm_shot_task}/render/{aov}/v{version}/")
    assets = studio / "templates" / "assets.yaml"
    assets.write_text(assets.read_text().replace("{@asset_publish_root}/textures/", "{@asset_publish_root}/tex/"))
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 0 and json.loads(out)["moved"] > 50
    assert run(capsys, studio, "templates", "plan")[0] == 0
    code, out, _ = run(capsys, studio, "drift", "--json")
    (gap,) = json.loads(out)["gaps"]
    assert gap["pattern"].endswith("render/beauty/v001/sh0100_lighting_beauty_v001.####.exr") and gap["missing"] == "1013"


# -- collisions are refused --------------------------------------------------------------------------
def test_two_sources_to_one_target_and_an_existing_target_are_refused(studio, capsys):
    # without the optional name, blocking_v001 and v001 of a task would go to the same file
    edit_templates(studio, "work/maya/{shot}_{task}[_{name}]_v{version}", "work/mayaproj/{shot}_{task}_v{version}")
    target = studio / PROJECTS / MAYA.replace("sh0100", "sh0200").replace("/maya", "/mayaproj")
    target.mkdir(parents=True)
    (target / "sh0200_layout_v001.ma").write_text("already here")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--dry-run", "--json")
    plan = json.loads(out)
    reasons = {(r["from"].rsplit("/", 1)[1], r["reason"]) for r in plan["refused"]}
    assert code == 1
    assert ("sh0100_anim_blocking_v001.ma", "shared-target") in reasons
    assert ("sh0100_anim_v001.ma", "shared-target") in reasons
    assert ("sh0200_layout_v001.ma", "target-exists") not in reasons  # another task's folder
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 1 and (target / "sh0200_layout_v001.ma").read_text() == "already here"
    assert {r["reason"] for r in json.loads(out)["refused"]} == {"shared-target"}  # the plan's refusals too


def test_a_target_that_exists_is_never_overwritten(studio, capsys):
    rename_maya_folder(studio)
    target = studio / PROJECTS / MAYA.replace("/maya", "/mayaproj")
    target.mkdir(parents=True)
    (target / "sh0100_anim_v002.ma").write_text("someone's")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 1 and json.loads(out)["moved"] == 19
    assert (target / "sh0100_anim_v002.ma").read_text() == "someone's"
    assert (studio / PROJECTS / MAYA / "sh0100_anim_v002.ma").exists()


def test_a_renamed_template_is_paired_with_map(studio, capsys):
    edit_templates(studio, "  shot_work_maya:", "  shot_maya_work:")
    edit_templates(studio, "/work/maya/", "/work/mayaproj/")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 1 and plan["counts"]["moves"] == 0 and {r["reason"] for r in plan["refused"]} == {"no-template"}
    code, out, _ = run(capsys, studio, "templates", "migrate", "--map", "shot_work_maya=shot_maya_work", "--json")
    assert code == 0 and json.loads(out)["moved"] == 20
    assert run(capsys, studio, "templates", "plan")[0] == 0


# -- what a running system holds -----------------------------------------------------------------
def test_a_daemon_holding_the_state_folder_refuses_the_migration_but_not_its_plan(studio, capsys):
    rename_maya_folder(studio)
    with StateLock(studio / ".bifrost"):
        assert run(capsys, studio, "templates", "migrate", "--dry-run")[0] == 0
        code, _, err = run(capsys, studio, "templates", "migrate")
    assert code == 12 and "holds the state folder" in err and "bifrostctl daemon stop" in err
    assert (studio / PROJECTS / MAYA / "sh0100_anim_v001.ma").exists()


def test_a_file_open_for_writing_and_its_folder_are_not_moved(studio, capsys):
    rename_maya_folder(studio)
    config = load_config(studio / "bifrost.yaml")
    template_set = config.load_templates()
    roots = {name: template_set.root_path(name) for name in template_set.roots}
    with open(studio / PROJECTS / MAYA / "sh0100_anim_v002.ma", "ab"):  # an artist's save in progress
        code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
        plan = check_moves(TreePlan((TreeMove(PROJECTS, f"{MAYA}/sh0100_anim_v001.ma", "x/y.ma"),)), roots)
    assert [r.reason for r in plan.refused] == [Refusal.OPEN_FOR_WRITING]
    report = json.loads(out)
    assert code == 1 and report["moved"] == 17  # the three files of that folder stay
    assert (studio / PROJECTS / MAYA / "sh0100_anim_v001.ma").exists()


def test_a_rename_across_filesystems_is_refused_and_nothing_is_copied(studio, capsys):
    rename_maya_folder(studio)
    config = load_config(studio / "bifrost.yaml")
    template_set = config.load_templates()

    def cross_device(source: str, target: str) -> None:
        if source.endswith(f"{MAYA}/sh0100_anim_v001.ma"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), source)
        os.rename(source, target)

    from bifrostd.reconcile.tree_plan import plan_migration

    with Catalog.open(config.catalog_path, write=True) as catalog:
        plan = plan_migration(catalog.present_records(), template_set, occupied=lambda root, path: False)
        report = execute(plan, catalog, template_set, config.state_dir, command="migrate", rename=cross_device)
    assert report.moved == 19 and [r.reason for r in report.refused] == [Refusal.OTHER_FILESYSTEM]
    assert (studio / PROJECTS / MAYA / "sh0100_anim_v001.ma").exists()


def test_a_file_the_filesystem_will_not_rename_is_reported_and_the_rest_move(studio, capsys):
    rename_maya_folder(studio)
    config = load_config(studio / "bifrost.yaml")
    template_set = config.load_templates()

    def read_only(source: str, target: str) -> None:
        if "/sq020/" in source:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), source)
        os.rename(source, target)

    from bifrostd.reconcile.tree_plan import plan_migration

    with Catalog.open(config.catalog_path, write=True) as catalog:
        plan = plan_migration(catalog.present_records(), template_set, occupied=lambda root, path: False)
        report = execute(plan, catalog, template_set, config.state_dir, command="migrate", rename=read_only)
    assert report.moved == 12 and {r.reason for r in report.refused} == {Refusal.RENAME_FAILED}
    assert len(report.refused) == 8 and "Permission denied" in report.refused[0].detail
    assert not (config.state_dir / JOURNAL_NAME).exists()


def test_the_rename_never_replaces_a_file(tmp_path):
    from bifrostd.reconcile.tree_run import _renameat2, rename_no_replace

    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        rename_no_replace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "b").read_text() == "b"
    rename_no_replace(str(tmp_path / "a"), str(tmp_path / "c"))
    assert (tmp_path / "c").read_text() == "a" and not (tmp_path / "a").exists()
    assert _renameat2() is not None or sys.platform != "linux"  # the kernel's no-replace rename, not a check


# -- sidecars ----------------------------------------------------------------------------------------
def test_sidecars_follow_their_folder_and_stay_when_it_is_split():
    moves = (TreeMove("p", "a/s1/anim/f1.ma", "x/s1/anim/f1.ma"), TreeMove("p", "a/s1/comp/f2.nk", "x/s1/comp/f2.nk"),
             TreeMove("p", "b/f3.ma", "c/f3.ma"), TreeMove("p", "b/f4.ma", "d/f4.ma"))
    moves += (TreeMove("p", "q/sh1/f5.ma", "q/shots/sh1/f5.ma"),)  # a level inserted: q stays where it is
    folders = ["a/s1", "a/s1/anim", "b", "a", "elsewhere", "q", "q/sh1"]
    sidecars = [("p", f"{folder}/.bifrost-entity.yaml") for folder in folders] + [("p", "a/s1/.bifrost-entity.lock")]
    plan = sidecar_moves(TreePlan(moves), sidecars, occupied=lambda root, path: path == "x/.bifrost-entity.yaml")
    added = {(m.source, m.target) for m in plan.moves[len(moves):]}
    assert added == {("a/s1/.bifrost-entity.yaml", "x/s1/.bifrost-entity.yaml"),
                     ("a/s1/.bifrost-entity.lock", "x/s1/.bifrost-entity.lock"),
                     ("q/sh1/.bifrost-entity.yaml", "q/shots/sh1/.bifrost-entity.yaml"),
                     ("a/s1/anim/.bifrost-entity.yaml", "x/s1/anim/.bifrost-entity.yaml")}
    assert {(r.source, r.reason) for r in plan.refused} == {("b/.bifrost-entity.yaml", Refusal.SIDECAR_SPLIT),
                                                            ("a/.bifrost-entity.yaml", Refusal.TARGET_EXISTS)}


def test_a_sidecar_and_its_lock_move_with_their_shot_folder_and_it_is_indexed_there(studio, capsys):
    from dataclasses import replace

    from bifrostd.authored import update_sidecar

    shot = studio / PROJECTS / "demo/sequences/sq010/sh0200"
    update_sidecar(shot, lambda authored: replace(authored, description="hero shot"))  # as the daemon writes it
    assert main(["-q", "--config", str(studio / "bifrost.yaml"), "scan"]) == 0
    edit_templates(studio, "path: '{@sequence_root}/{shot}'", "path: '{@sequence_root}/shots/{shot}'")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 0, out
    moved = studio / PROJECTS / "demo/sequences/sq010/shots/sh0200"
    assert "hero shot" in (moved / ".bifrost-entity.yaml").read_text() and (moved / ".bifrost-entity.lock").exists()
    assert not shot.exists()  # emptied of everything, the old shot folder is gone
    config = load_config(studio / "bifrost.yaml")
    with Catalog.open(config.catalog_path) as catalog:
        row = catalog.authored(PROJECTS, "demo/sequences/sq010/shots/sh0200")
    assert row is not None and row.data is not None and row.data.description == "hero shot"
    assert run(capsys, studio, "templates", "plan")[0] == 0


# -- conform: a tree laid out by another set ---------------------------------------------------------
def test_conform_brings_a_tree_laid_out_by_another_set_into_the_current_layout(studio, tmp_path, capsys):
    old = tmp_path / "old-templates"
    shutil.copytree(studio / "templates", old)
    code, out, _ = run(capsys, studio, "templates", "conform", str(old), "--dry-run")
    assert (code, out.strip()) == (0, "nothing to move: the tree already follows the templates")
    edit_templates(studio, "  shot_work_maya:", "  shot_maya_work:")
    edit_templates(studio, "/work/maya/", "/work/mayaproj/")
    code, out, _ = run(capsys, studio, "templates", "conform", str(old), "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 1 and plan["counts"]["moves"] == 0 and len(plan["refused"]) == 20
    assert {r["reason"] for r in plan["refused"]} == {"no-template"}
    code, out, _ = run(capsys, studio, "templates", "conform", str(old), "--map", "shot_work_maya=shot_maya_work",
                       "--json")
    assert code == 0 and json.loads(out)["moved"] == 20 and json.loads(out)["records_moved"] == 20
    assert run(capsys, studio, "templates", "plan")[0] == 0
    code, out, _ = run(capsys, studio, "templates", "conform", str(old), "--map", "shot_work_maya=shot_maya_work")
    assert (code, out.strip()) == (0, "nothing to move: the tree already follows the templates")


# -- the mirror sees moves as copies -----------------------------------------------------------------
def test_the_mirror_copies_moved_content_server_side_and_uploads_nothing(studio, tmp_path, capsys):
    with (studio / "bifrost.yaml").open("a") as out:
        out.write(f"mirror:\n  targets:\n    local: {{url: 'file://{tmp_path / 'bucket'}'}}\n")
    code, out, _ = run(capsys, studio, "mirror", "run", "--json")
    assert code == 0 and json.loads(out)["targets"][0]["counts"]["uploaded"] > 20
    rename_maya_folder(studio)
    assert run(capsys, studio, "templates", "migrate")[0] == 0
    code, out, _ = run(capsys, studio, "mirror", "run", "--json")
    (result,) = json.loads(out)["targets"]
    assert code == 0 and result["planned"]["upload"] == 0 and result["planned"]["copy"] == 20
    assert result["counts"]["copied"] == 20 and result["counts"].get("uploaded", 0) == 0 and result["bytes"] == 0
    key = tmp_path / "bucket" / PROJECTS / MAYA.replace("/maya", "/mayaproj") / "sh0100_anim_v001.ma"
    assert key.read_bytes() == (studio / PROJECTS / MAYA.replace("/maya", "/mayaproj") / "sh0100_anim_v001.ma").read_bytes()


# -- an interrupted migration: kill -9, then resume or roll back ---------------------------------------
#: A migration whose renames report on stdout and stall after the 40th, for the parent to kill: the real
#: executor in a real process, stopped by SIGKILL between two renames.
_STALLING = """
import os, sys, time
from pathlib import Path
from bifrostd.catalog import Catalog
from bifrostd.catalog.state_lock import StateLock
from bifrostd.config import load_config
from bifrostd.reconcile.tree_plan import plan_migration
from bifrostd.reconcile.tree_run import execute, rename_no_replace

config = load_config(Path(sys.argv[1]))
template_set = config.load_templates()
count = 0

def rename(source, target):
    global count
    rename_no_replace(source, target)
    count += 1
    print(count, flush=True)
    if count == 40:
        time.sleep(120)

with StateLock(config.state_dir), Catalog.open(config.catalog_path, write=True) as catalog:
    plan = plan_migration(catalog.present_records(), template_set, occupied=lambda root, path: False)
    execute(plan, catalog, template_set, config.state_dir, command="migrate", rename=rename)
"""


def make_many(studio: Path, count: int) -> None:
    """``count`` more Maya work files (versions of one task), scanned."""
    for version in range(10, 10 + count):
        (studio / PROJECTS / MAYA / f"sh0100_anim_v{version:03d}.ma").write_bytes(b"v%d" % version)
    assert main(["-q", "--config", str(studio / "bifrost.yaml"), "scan"]) == 0


def kill_mid_migration(studio: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", _STALLING, str(studio / "bifrost.yaml")], stdout=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "40":
                break
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize("how", ["--resume", "--rollback"])
def test_a_migration_killed_mid_run_is_resumed_or_rolled_back(studio, capsys, how):
    make_many(studio, 100)
    rename_maya_folder(studio)
    before = records(studio)
    kill_mid_migration(studio)
    assert (studio / ".bifrost" / JOURNAL_NAME).exists()
    new = studio / PROJECTS / MAYA.replace("/maya", "/mayaproj")
    assert len(list(new.iterdir())) == 40  # killed between two renames: 40 made, the rest not

    code, _, err = run(capsys, studio, "templates", "migrate")
    assert code == 20 and "--resume" in err and "--rollback" in err  # nothing new starts over a journal
    code, out, _ = run(capsys, studio, "status", "--json")
    assert json.loads(out)["migration"]["moves"] == 120
    assert "migration  interrupted (migrate, 120 moves)" in run(capsys, studio, "status")[1]
    code, out, _ = run(capsys, studio, "templates", "migrate", how, "--dry-run", "--json")
    states = [m["state"] for m in json.loads(out)["moves"]]
    assert code == 0 and (states.count("done"), states.count("to-do")) == (40, 80)

    code, out, _ = run(capsys, studio, "templates", "migrate", how, "--json")
    report = json.loads(out)
    assert code == 0 and not report["refused"]
    assert not (studio / ".bifrost" / JOURNAL_NAME).exists()
    after = records(studio)
    assert set(after) == set(before) and all(after[i][1] == before[i][1] for i in before)
    if how == "--resume":
        assert (report["moved"], report["already_done"]) == (80, 40)
        assert run(capsys, studio, "templates", "plan")[0] == 0
        assert sum("/work/mayaproj/" in path for path, _ in after.values()) == 120
    else:
        assert (report["moved"], report["already_done"]) == (40, 80)
        assert after == before and not new.exists()
        assert len(list((studio / PROJECTS / MAYA).glob("*.ma"))) == 103


def test_reverting_the_templates_and_migrating_again_puts_every_file_back(studio, capsys):
    before = records(studio)
    rename_maya_folder(studio)
    assert run(capsys, studio, "templates", "migrate")[0] == 0
    edit_templates(studio, "/work/mayaproj/", "/work/maya/")
    code, out, _ = run(capsys, studio, "templates", "migrate", "--json")
    assert code == 0 and json.loads(out)["moved"] == 20
    assert records(studio) == before


# -- who writes: /proc ---------------------------------------------------------------------------
def fake_process(proc: Path, pid: int, opened: dict[int, tuple[str, str]]) -> None:
    """A /proc/<pid> whose descriptors point at paths with fdinfo flags (octal, as the kernel writes them)."""
    (proc / str(pid) / "fd").mkdir(parents=True)
    (proc / str(pid) / "fdinfo").mkdir()
    for fd, (path, flags) in opened.items():
        os.symlink(path, proc / str(pid) / "fd" / str(fd))
        (proc / str(pid) / "fdinfo" / str(fd)).write_text(f"pos:\t0\nflags:\t{flags}\nmnt_id:\t29\n")


def test_only_descriptors_open_for_writing_under_the_roots_count(tmp_path):
    from bifrostd.observe.open_files import open_for_writing

    proc = tmp_path / "proc"
    fake_process(proc, 10, {3: ("/mnt/projects/a.ma", "0100001"), 4: ("/mnt/projects/b.ma", "0100000"),
                            5: ("/mnt/projects/c.exr", "02100002"), 6: ("/elsewhere/d.ma", "0100001"),
                            7: ("socket:[123]", "02")})
    fake_process(proc, 11, {})
    (proc / "self").mkdir()
    assert open_for_writing(("/mnt/projects",), proc=proc) == {"/mnt/projects/a.ma", "/mnt/projects/c.exr"}
    assert open_for_writing(("/mnt/projects",), proc=tmp_path / "no-proc") == frozenset()


# -- the plan's invariants, on any set of files -------------------------------------------------------
@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """The default set, and a copy whose Maya work files lost their folder and their optional name."""
    from bifrostd.demo import default_templates_dir
    from bifrostd.templates import load_template_set

    new = tmp_path_factory.mktemp("sets") / "new"
    shutil.copytree(default_templates_dir(), new)
    shots = new / "shots.yaml"
    shots.write_text(shots.read_text().replace("work/maya/{shot}_{task}[_{name}]_v{version}",
                                               "work/{shot}_{task}_v{version}"))
    return load_template_set(default_templates_dir()), load_template_set(new)


WORK_FILES = st.lists(st.tuples(st.sampled_from(["sq010", "sq020"]), st.sampled_from(["sh0100", "sh0200"]),
                                st.sampled_from(["anim", "layout"]), st.integers(1, 4),
                                st.sampled_from([None, "blocking", "main"]), st.sampled_from(["ma", "mb"])),
                      max_size=30, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=WORK_FILES, taken=st.sets(st.integers(0, 40), max_size=5))
def test_no_two_moves_share_a_target_and_none_lands_on_a_file_or_outside_its_template(two_sets, files, taken):
    from bifrostd.reconcile.tree_plan import plan_conform

    old, new = two_sets
    paths = []
    for sequence, shot, task, version, name, ext in files:
        fields = {"project": "demo", "sequence": sequence, "shot": shot, "task": task, "version": version,
                  "ext": ext, **({"name": name} if name else {})}
        paths.append(("projects", old.templates["shot_work_maya"].format(fields, use_defaults=False)))
    occupied_paths = {new.templates["shot_work_maya"].format(
        {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": n % 4 + 1,
         "ext": "ma"}) for n in taken}
    plan = plan_conform(paths, old, new, occupied=lambda root, path: path in occupied_paths)
    targets = [m.target for m in plan.moves]
    sources = {p for _, p in paths}
    assert len(targets) == len(set(targets))
    assert not set(targets) & (occupied_paths | sources)
    assert all(new.match_relative("projects", t).template.name == "shot_work_maya" for t in targets)
    assert len(plan.moves) + len(plan.refused) == len(paths)  # every file moves or is said not to
    assert {(r.source, r.reason) for r in plan.refused} <= {(p, Refusal.SHARED_TARGET) for _, p in paths} | {
        (p, Refusal.TARGET_EXISTS) for _, p in paths}
