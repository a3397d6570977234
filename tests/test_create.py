"""bifrostctl create: an entity's folder skeleton and its sidecar, planned first, all or nothing."""

from __future__ import annotations

import grp
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.templates import load_template_set
from bifrostd.templates.skeleton import skeleton_folders
from conftest import ctl_in_process as ctl
from conftest import scanned_demo

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def default_set():
    return load_template_set(REPO / "templates")


def folders_of(template_set, kind, **fields):
    own = frozenset(template_set.entities[kind].keys)
    return {(f.root, f.relative): f.own for f in skeleton_folders(template_set.templates, own, fields)}


def test_a_shot_has_its_folder_and_static_subfolders_but_no_task_folder(default_set):
    found = folders_of(default_set, "shot", project="demo", sequence="sq010", shot="sh0100")
    assert found[("projects", "demo/sequences/sq010/sh0100")] is True
    assert found[("projects", "demo/sequences/sq010/sh0100/plates")] is True  # plates/{plate}/... stops at plates
    assert found[("renders", "demo/sequences/sq010/sh0100")] is True  # every root the templates use
    assert found[("projects", "demo/sequences/sq010")] is False  # a parent, made if missing
    assert not any("anim" in relative for _, relative in found)  # task folders need a task


def test_a_task_has_its_work_folders_and_publish_but_no_version(default_set):
    found = folders_of(default_set, "task", project="demo", sequence="sq010", shot="sh0100", task="anim")
    task = "demo/sequences/sq010/sh0100/anim"
    for folder in ("", "/work/maya", "/work/houdini", "/publish", "/review"):
        assert found[("projects", task + folder)] is True, folder
    assert not any("/v0" in relative or relative.endswith(".ma") for _, relative in found)


def test_an_asset_type_folder_is_a_parent_of_the_asset(default_set):
    found = folders_of(default_set, "asset", project="demo", asset_type="character", asset="hero")
    assert found[("projects", "demo/assets/character")] is False
    assert found[("projects", "demo/assets/character/hero")] is True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 999).map(lambda n: f"sq{n:03d}"), st.integers(0, 9999).map(lambda n: f"sh{n:04d}"),
       st.sampled_from(["anim", "comp", "lighting"]))
def test_every_own_folder_of_a_plan_resolves_to_the_entity_or_below_it(default_set, sequence, shot, task):
    fields = {"project": "demo", "sequence": sequence, "shot": shot, "task": task}
    uri = f"bifrost:///task/shot/demo/{sequence}/{shot}/{task}"
    for folder in skeleton_folders(default_set.templates, frozenset({"task"}), fields):
        assert folder.relative.count("/") < 12 and ".." not in folder.relative.split("/")
        found = default_set.match_relative(folder.root, folder.relative)
        if found is not None and found.entity is not None and folder.own:
            assert found.entity.uri(default_set.entities).startswith(uri)


# -- the command ---------------------------------------------------------------------------
@pytest.fixture
def studio(tmp_path):
    return scanned_demo(tmp_path / "s")


def test_dry_run_prints_every_folder_and_makes_none(studio, capsys):
    shot = studio.parent / "projects/demo/sequences/sq030/sh0010"
    code, out, _ = ctl(capsys, studio, "create", "--dry-run", "--json", "bifrost:///shot/demo/sq030/sh0010")
    document = json.loads(out)
    assert code == 0 and document["dry_run"] is True
    paths = {f["path"]: f["exists"] for f in document["entities"][0]["folders"]}
    assert paths[str(shot)] is False and paths[str(studio.parent / "projects/demo")] is True
    assert document["folders_to_make"] == sum(1 for exists in paths.values() if not exists)
    assert not shot.parent.exists()


def test_create_makes_the_skeleton_and_the_sidecar_and_the_catalog_knows_it(studio, capsys):
    code, out, _ = ctl(capsys, studio, "create", "shot", "project=demo", "sequence=sq030", "shot=sh0010",
                       "--description", "Hero lands", "--frames", "1001-1050", "--handles", "8,12", "--tag", "hero")
    shot = studio.parent / "projects/demo/sequences/sq030/sh0010"
    assert code == 0 and out.rstrip().endswith("catalogued")
    assert (shot / "plates").is_dir() and (studio.parent / "renders/demo/sequences/sq030/sh0010").is_dir()
    sidecar = (shot / ".bifrost-entity.yaml").read_text()
    assert "Hero lands" in sidecar and "cut_in: 1001" in sidecar and "handle_out: 12" in sidecar
    code, out, _ = ctl(capsys, studio, "show", "--json", "bifrost:///shot/demo/sq030/sh0010")
    shown = json.loads(out)
    assert code == 0 and shown["authored"]["description"] == "Hero lands"
    code, out, _ = ctl(capsys, studio, "ls", "--json", "bifrost:///sequence/demo/sq030")
    assert "bifrost:///shot/demo/sq030/sh0010" in out
    # a second create leaves the folders and keeps what was authored, adding a tag
    code, out, _ = ctl(capsys, studio, "create", "bifrost:///shot/demo/sq030/sh0010", "--tag", "night")
    assert code == 0 and "made 0 folder(s)" in out
    assert "Hero lands" in (shot / ".bifrost-entity.yaml").read_text()
    assert "night" in (shot / ".bifrost-entity.yaml").read_text()


def test_a_rebuilt_catalog_still_knows_an_entity_without_files(studio, capsys):
    assert ctl(capsys, studio, "create", "bifrost:///shot/demo/sq030/sh0020")[0] == 0
    for name in os.listdir(studio.parent / ".bifrost"):
        if name.startswith("catalog.db"):
            os.unlink(studio.parent / ".bifrost" / name)
    assert ctl(capsys, studio, "scan")[0] == 0
    code, out, _ = ctl(capsys, studio, "show", "--json", "bifrost:///shot/demo/sq030/sh0020")
    assert code == 0 and json.loads(out)["entity"]["kind"] == "shot"


def test_a_value_its_key_refuses_changes_nothing(studio, capsys):
    code, _, err = ctl(capsys, studio, "create", "bifrost:///shot/demo/sq030/SH1")
    assert code == 5 and "'shot'" in err and "sh\\\\d{4}" in err
    assert not (studio.parent / "projects/demo/sequences/sq030").exists()


def test_from_a_csv_is_all_or_nothing(studio, capsys, tmp_path):
    rows = tmp_path / "shots.csv"
    rows.write_text("kind,project,sequence,shot,frames,description\n"
                    "shot,demo,sq040,sh0010,1001-1020,First\n"
                    "shot,demo,sq040,sh0020,1001-1030,Second\n"
                    "shot,demo,sq040,shX,1001-1040,Bad\n")
    code, _, err = ctl(capsys, studio, "create", "--from", str(rows))
    assert code == 5 and f"{rows}:4" in err and "'shot'" in err  # the row's line is named
    assert not (studio.parent / "projects/demo/sequences/sq040").exists()
    rows.write_text(rows.read_text().replace("shX", "sh0030"))
    code, out, _ = ctl(capsys, studio, "create", "--from", str(rows), "--json")
    document = json.loads(out)
    assert code == 0 and len(document["entities"]) == 3
    sidecar = (studio.parent / "projects/demo/sequences/sq040/sh0020/.bifrost-entity.yaml").read_text()
    assert "Second" in sidecar and "cut_out: 1030" in sidecar


def test_a_failure_part_way_takes_back_what_the_batch_made(studio, capsys, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, studio.parent / "renders/demo/sequences/sq050")  # planted where sh0020's folder goes
    rows = tmp_path / "shots.json"
    rows.write_text(json.dumps([{"ref": "bifrost:///shot/demo/sq060/sh0010"},
                                {"kind": "shot", "project": "demo", "sequence": "sq050", "shot": "sh0020"}]))
    code, _, err = ctl(capsys, studio, "create", "--from", str(rows))
    assert code == 21 and "is a symlink" in err
    assert list(outside.iterdir()) == []  # nothing was made through the link
    assert not (studio.parent / "projects/demo/sequences/sq060").exists()  # the first entity was taken back


def test_mode_and_group_come_from_the_templates(tmp_path, capsys):
    group = next(g for g in ("users", "nogroup", "staff", "daemon") if _group(g) is not None)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "set.yaml").write_text(f"""\
schema: bifrost.templates.1
roots:
  p: {tmp_path / 'tree'}
keys:
  project: {{type: str}}
  shot: {{type: str}}
entities:
  project: {{keys: [project]}}
  shot: {{keys: [shot], parent: project}}
templates:
  project_root: {{path: '{{project}}', entity: project}}
  shot_root: {{path: '{{project}}/{{shot}}', entity: shot, mode: '2775', group: {group}}}
  shot_work: {{path: '{{project}}/{{shot}}/work/{{shot}}.txt'}}
""")
    (tmp_path / "tree").mkdir()
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: state\n")
    old = os.umask(0o022)
    try:
        code, out, err = ctl(capsys, config, "create", "bifrost:///shot/demo/a1")
    finally:
        os.umask(old)
    assert code == 0, err
    info = os.stat(tmp_path / "tree/demo/a1")
    assert stat.S_IMODE(info.st_mode) == 0o2775 and info.st_gid == _group(group)
    assert (tmp_path / "tree/demo/a1/work").is_dir()
    assert stat.S_IMODE(os.stat(tmp_path / "tree/demo").st_mode) == 0o755  # no mode given: the umask's
    assert "no catalog yet" in out
    (tmp_path / "t" / "set.yaml").write_text((tmp_path / "t" / "set.yaml").read_text()
                                             .replace(f"group: {group}", "group: no-such-group-here"))
    code, _, err = ctl(capsys, config, "create", "bifrost:///shot/demo/a2")
    assert code == 21 and "no-such-group-here" in err and not (tmp_path / "tree/demo/a2").exists()


def _group(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def test_skeleton_check_drift_and_fix_hold_created_entities_to_their_skeleton(studio, capsys):
    assert ctl(capsys, studio, "create", "bifrost:///shot/demo/sq030/sh0010")[0] == 0
    assert ctl(capsys, studio, "skeleton", "check")[0] == 0
    plates = studio.parent / "projects/demo/sequences/sq030/sh0010/plates"
    plates.rmdir()
    code, out, _ = ctl(capsys, studio, "skeleton", "check", "--json", "bifrost:///sequence/demo/sq030")
    document = json.loads(out)
    assert code == 1 and [m["path"] for m in document["missing"]] == [str(plates)]
    code, out, _ = ctl(capsys, studio, "drift", "--json")
    assert code == 1 and json.loads(out)["counts"]["missing_skeleton"] == 1
    # entities derived from paths alone (no sidecar) are not held to a skeleton: the demo's own shots
    assert all(m["entity"] == "bifrost:///shot/demo/sq030/sh0010" for m in json.loads(out)["missing_skeleton"])
    code, out, _ = ctl(capsys, studio, "skeleton", "fix", "--dry-run")
    assert code == 0 and not plates.exists() and str(plates) in out
    code, out, _ = ctl(capsys, studio, "skeleton", "fix", "--json")
    assert code == 0 and json.loads(out)["made"] == [str(plates)] and plates.is_dir()
    assert ctl(capsys, studio, "skeleton", "check")[0] == 0
