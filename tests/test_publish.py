"""Publishing versions and deprecating them, on real demo studios (real trees, a real SQLite catalog), through
the Python API and ``bifrostctl``; racing and killed publishes as real processes; hypothesis on the planner."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
import xxhash
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.api import PublishError, ResolveError, Studio
from bifrostd.authored import (Authored, Deprecation, Publish, PublishedFile, parse_sidecar, read_sidecar,
                               render_sidecar)
from bifrostd.publish import next_version
from bifrostd.publish.claim import STAGING_PREFIX
from bifrostd.publish.plan import PublishSource, check_frames, choose_template

from conftest import installed

SHOT = "projects/demo/sequences/sq010/sh0100"
WORK = f"{SHOT}/anim/work/maya"
SOURCE = f"{WORK}/sh0100_anim_v002.ma"
TASK = "bifrost:///task/shot/demo/sq010/sh0100/anim"
PUBLISH = f"{SHOT}/anim/publish"
RENDER = "renders/demo/sequences/sq010/sh0100/lighting/render/v001/beauty"
REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "entity.schema.json").read_text())


def bifrostctl(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([installed("bifrostctl"), *args], cwd=cwd, check=check, capture_output=True, text=True)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("publish") / "studio"
    subprocess.run([installed("bifrostctl"), "init", "--demo", str(folder)], check=True, capture_output=True)
    subprocess.run([installed("bifrostctl"), "--config", str(folder), "scan"], check=True, capture_output=True)
    return folder


@pytest.fixture
def demo(pristine, tmp_path, monkeypatch) -> Path:
    """A scanned demo studio of this test's own; the current folder."""
    shutil.copytree(pristine, tmp_path / "studio", symlinks=True)
    monkeypatch.chdir(tmp_path / "studio")
    return tmp_path / "studio"


@pytest.fixture
def studio(demo):
    with Studio.open(demo) as opened:
        yield opened


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- the pure planner ------------------------------------------------------------------------
@given(st.sets(st.integers(min_value=1, max_value=10_000), max_size=50))
def test_the_next_version_is_above_every_taken_one_and_never_fills_a_gap(taken):
    number = next_version(taken)
    assert number >= 1 and number not in taken
    assert all(number > n for n in taken)
    assert next_version(taken | {number}) == number + 1  # a claim in flight (incomplete) takes its number too


def test_no_taken_version_starts_at_one():
    assert next_version([]) == 1


@given(st.sets(st.integers(min_value=990, max_value=1010), min_size=1))
def test_a_sequence_is_refused_exactly_when_a_frame_is_missing_between_first_and_last(frames):
    source = PublishSource("s", "s", "renders", "shot_render", {}, tuple((f, f"/x.{f}.exr") for f in sorted(frames)))
    whole = max(frames) - min(frames) + 1 == len(frames)
    if whole:
        check_frames(source)
    else:
        with pytest.raises(PublishError, match="missing"):
            check_frames(source)


def test_the_publish_template_is_the_one_whose_keys_take_the_sources_fields(studio):
    template_set = studio._set
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "ext": "ma", "version": 2}
    maya = PublishSource("w.ma", "/w.ma", "projects", "shot_work_maya", fields, ((None, "/w.ma"),))
    assert choose_template(template_set, maya).name == "shot_publish_maya"  # usd_ext refuses ma
    nuke = PublishSource("w.nk", "/w.nk", "projects", "shot_work_nuke", {**fields, "ext": "nk"}, ((None, "/w.nk"),))
    with pytest.raises(PublishError, match="no publish template fits"):
        choose_template(template_set, nuke)
    with pytest.raises(PublishError, match="cannot be published to 'shot_publish_usd'"):
        choose_template(template_set, maya, "shot_publish_usd")


# -- a single file -------------------------------------------------------------------------
def test_a_publish_copies_verifies_and_records_the_next_version(demo, studio):
    plan = studio.publish(SOURCE, comment="for review", dry_run=True)
    assert (plan.version, plan.template) == (3, "shot_publish_maya")
    assert not (demo / PUBLISH / "v003").exists()  # a dry run changes nothing

    done = studio.publish(SOURCE, comment="for review")
    folder = demo / PUBLISH / "v003"
    published = folder / "sh0100_anim_v003.ma"
    assert done.path == str(folder) and done.recorded == "catalog"
    assert published.read_bytes() == (demo / SOURCE).read_bytes()
    assert not published.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # read-only
    record = read_sidecar(folder).data.publish
    assert record.comment == "for review" and record.source == str(demo / SOURCE)
    assert record.files[0].xxh3 == xxhash.xxh3_128_hexdigest(published.read_bytes())
    assert not [n for n in os.listdir(demo / PUBLISH) if n.startswith(".")]  # no staging left behind

    newest = studio.versions(TASK)[-1]  # at once, from the catalog
    assert newest.number == 3 and newest.publish == record
    latest = studio.resolve(TASK + "?version=latest")
    assert latest.fields["version"] == 3 and latest.publish.user == record.user


def test_publishing_twice_makes_two_versions(studio):
    assert [studio.publish(SOURCE).plan.version for _ in range(2)] == [3, 4]


@pytest.mark.parametrize(("source", "message"), [
    (f"{SHOT}/notes.txt", "matches no template"),
    (f"{SHOT}/comp/work/nuke/sh0100_comp_v002.nk", "no publish template fits"),
    (f"{RENDER}/sh0100_lighting_beauty_v001.1001.exr", r"1 frame\(s\) missing between 1001 and 1024 \(1013\)"),
    (f"{WORK}/sh0100_anim_v009.ma", "no such file"),
])
def test_bad_sources_are_refused_and_change_nothing(demo, source, message):
    before = tree(demo / "projects")
    done = bifrostctl("publish", source, cwd=demo, check=False)
    assert done.returncode == 21 and done.stdout == ""
    assert done.stderr.startswith("Error: ") and re.search(message, done.stderr)
    assert tree(demo / "projects") == before


# -- a frame sequence ------------------------------------------------------------------------
def test_a_whole_frame_sequence_is_published_as_one_version(demo):
    render = demo / RENDER
    (render / "sh0100_lighting_beauty_v001.1013.exr").write_bytes(b"the frame that was missing")
    bifrostctl("scan", cwd=demo)
    pattern = f"{RENDER}/sh0100_lighting_beauty_v001.####.exr"
    plan = json.loads(bifrostctl("publish", pattern, "--dry-run", "--json", cwd=demo).stdout)
    assert plan["schema"] == "bifrost.publish-plan.1" and plan["frames"] == "1001-1024"
    assert plan["template"] == "shot_publish_render" and len(plan["files"]) == 24
    assert plan["files"][0]["target"] == "beauty/sh0100_lighting_beauty_v001.1001.exr"

    done = json.loads(bifrostctl("publish", pattern, "--comment", "lookdev", "--json", cwd=demo).stdout)
    folder = demo / "projects/demo/sequences/sq010/sh0100/lighting/publish/v001/beauty"
    assert sorted(os.listdir(folder)) == [f"sh0100_lighting_beauty_v001.{f}.exr" for f in range(1001, 1025)]
    assert done["publish"]["frames"] == "1001-1024" and len(done["publish"]["files"]) == 24
    versions = json.loads(bifrostctl("versions", "bifrost:///task/shot/demo/sq010/sh0100/lighting", "--json",
                                     cwd=demo).stdout)["versions"]
    published = [v for v in versions if v["publish"]]
    assert published[0]["sequences"][0]["count"] == 24 and published[0]["publish"]["comment"] == "lookdev"


# -- races and crashes -----------------------------------------------------------------------
RACER = textwrap.dedent("""
    import sys, time
    from bifrostd import Studio
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    result = Studio.open(sys.argv[1]).publish(sys.argv[3], comment=sys.argv[4])
    print(result.plan.version)
""")


def test_racing_publishes_of_one_task_end_as_distinct_whole_versions(demo):
    start = time.time() + 1.5
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(demo), str(start), str(demo / SOURCE), f"racer {i}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outputs = [r.communicate(timeout=120) for r in racers]
    assert all(r.returncode == 0 for r in racers), outputs
    numbers = sorted(int(out) for out, _ in outputs)
    assert numbers == [3, 4, 5, 6]
    comments = set()
    for number in numbers:
        folder = demo / PUBLISH / f"v{number:03d}"
        assert sorted(n for n in os.listdir(folder) if not n.startswith(".")) == [f"sh0100_anim_v{number:03d}.ma"]
        comments.add(read_sidecar(folder).data.publish.comment)
    assert comments == {f"racer {i}" for i in range(4)}  # never one merged or overwritten version
    versions = json.loads(bifrostctl("versions", TASK, "--json", cwd=demo).stdout)["versions"]
    assert sorted(v["publish"]["comment"] for v in versions if v["publish"]) == sorted(comments)


KILLED = textwrap.dedent("""
    import os, sys
    from bifrostd import Studio
    from bifrostd.publish import execute
    copy = execute._copy
    def copy_then_die(*args):
        copy(*args)
        os._exit(9)  # killed after the first file is in place in the staging folder
    execute._copy = copy_then_die
    Studio.open(sys.argv[1]).publish(sys.argv[2])
""")


def test_a_killed_publish_never_shows_and_the_next_publish_cleans_it_up(demo, studio):
    render = demo / RENDER
    (render / "sh0100_lighting_beauty_v001.1013.exr").write_bytes(b"frame")
    bifrostctl("scan", cwd=demo)
    killed = subprocess.run([sys.executable, "-c", KILLED, str(demo), str(render / "sh0100_lighting_beauty_v001.1001.exr")],
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    parent = demo / "projects/demo/sequences/sq010/sh0100/lighting/publish"
    assert [n for n in os.listdir(parent) if n.startswith(STAGING_PREFIX)]  # left behind, whole or not
    assert os.listdir(parent / "v001") == []  # the claimed folder stays empty: no partial version in place
    bifrostctl("scan", cwd=demo)
    lighting = "bifrost:///task/shot/demo/sq010/sh0100/lighting"
    assert studio.latest(lighting, template="shot_publish_root") is None

    again = studio.publish(render / "sh0100_lighting_beauty_v001.1001.exr")
    assert again.cleaned == ("v001",) and again.plan.version == 1
    assert sorted(os.listdir(parent)) == ["v001"]
    assert len([n for n in os.listdir(parent / "v001" / "beauty")]) == 24


def test_a_failed_copy_undoes_the_publish(demo, studio, monkeypatch):
    from bifrostd.publish import execute

    def broken(*args):
        raise PublishError("disk on fire")

    monkeypatch.setattr(execute, "_copy", broken)
    before = tree(demo / "projects")
    with pytest.raises(PublishError, match="disk on fire"):
        studio.publish(SOURCE)
    assert tree(demo / "projects") == before


# -- deprecation -----------------------------------------------------------------------------
def test_latest_skips_a_deprecated_version_and_nothing_is_deleted(demo, studio):
    done = studio.publish(SOURCE, comment="anim v3")
    ref = "bifrost:///version/shot/demo/sq010/sh0100/anim/3"
    dry = json.loads(bifrostctl("version", "deprecate", ref, "--dry-run", "--json", cwd=demo).stdout)
    assert dry["deprecated"] and dry["dry_run"] and not read_sidecar(done.path).data.deprecated

    result = json.loads(bifrostctl("version", "deprecate", ref, "--comment", "wrong camera", "--json",
                                   cwd=demo).stdout)
    assert result["recorded"] == "catalog" and result["deprecation"]["comment"] == "wrong camera"
    data = read_sidecar(done.path).data
    assert data.deprecated and data.publish == done.publish  # the publish record is kept
    assert studio.latest(TASK).fields["version"] == 2
    assert (Path(done.path) / "sh0100_anim_v003.ma").exists()
    text = bifrostctl("versions", TASK, cwd=demo).stdout
    assert "anim/3  (1 files)  DEPRECATED" in text and "wrong camera" in text

    bifrostctl("version", "undeprecate", str(Path(done.path) / "sh0100_anim_v003.ma"), cwd=demo)  # by a file
    assert studio.latest(TASK).fields["version"] == 3


@pytest.mark.parametrize("target", ["bifrost:///task/shot/demo/sq010/sh0100/anim",
                                    "bifrost:///version/shot/demo/sq010/sh0100/anim/1"])
def test_deprecating_what_is_no_published_version_is_refused(demo, target):
    done = bifrostctl("version", "deprecate", target, cwd=demo, check=False)
    assert done.returncode == 21 and "Error: " in done.stderr


# -- the sidecar's publish and deprecation blocks ------------------------------------------------
def _sample() -> Authored:
    files = (PublishedFile("sh0100_anim_v003.ma", 594, "0" * 32),)
    return Authored(publish=Publish("/p/sh0100_anim_v002.ma", "shot_publish_maya", "ana", "2026-12-06T03:00:00Z",
                                    "review: yes", "", files),
                    deprecated=True, deprecation=Deprecation("bo", "2026-12-07T09:00:00Z", "wrong cam"))


def test_the_publish_and_deprecation_blocks_round_trip_and_follow_the_schema():
    text = render_sidecar(_sample())
    assert parse_sidecar(text, "s").data == _sample()
    jsonschema.validate(yaml.safe_load(text), SCHEMA)


@pytest.mark.parametrize(("change", "key"), [
    ("  files: nope\n", "publish.files"),
    ("  user: 7\n", "publish.user"),
    ("  extra: 1\n", "publish.extra"),
])
def test_a_broken_publish_block_is_reported_with_its_line(change, key):
    text = render_sidecar(_sample())
    head, _, tail = text.partition("  files:")
    broken = head + change + ("" if "files" in change else "  files:" + tail)
    read = parse_sidecar(broken.replace("  user: ana\n", "") if "user" in change else broken, "s")
    assert read.data is None and any(p.key == key for p in read.problems), read.problems


def test_deprecated_must_be_true_or_false():
    read = parse_sidecar("schema: bifrost.entity.1\ndeprecated: maybe\n", "s")
    assert read.data is None and read.problems[0].key == "deprecated" and read.problems[0].where.line == 2


def test_the_worked_example_in_the_cli_docs_works_when_pasted(demo):
    text = (REPO / "docs" / "cli.md").read_text().partition("### Worked example: a publish")[2]
    block = re.search(r"```sh\n(.*?)```", text, flags=re.S).group(1)
    prelude = f'bifrostctl() {{ "{installed("bifrostctl")}" "$@"; }}\n'
    done = subprocess.run(["bash", "-c", prelude + block], cwd=demo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "would publish v003" in out and "published v003" in out and "Blocking, for review" in out
    assert "anim/publish/v002" in out.split("deprecated bifrost:///version")[1]  # latest skipped v003
    assert out.split().count("21") == 2 and "frame(s) missing" in done.stderr


def test_an_empty_claimed_folder_takes_its_number_and_a_gap_stays_a_gap(demo, studio):
    (demo / PUBLISH / "v007").mkdir()  # claimed by a publish in flight (or killed before it copied anything)
    assert studio.publish(SOURCE, dry_run=True).version == 8


def test_task_publishes_to_another_task_with_that_tasks_names(demo, studio):
    done = studio.publish(SOURCE, task="bifrost:///task/shot/demo/sq010/sh0200/anim")
    number = done.plan.version
    assert done.plan.folder == f"demo/sequences/sq010/sh0200/anim/publish/v{number:03d}"
    assert (Path(done.path) / f"sh0200_anim_v{number:03d}.ma").read_bytes() == (demo / SOURCE).read_bytes()
    with pytest.raises(PublishError, match="not a task"):
        studio.publish(SOURCE, task="bifrost:///shot/demo/sq010/sh0200")


def test_latest_says_so_when_every_version_with_files_there_is_deprecated(demo, studio):
    done = studio.publish(SOURCE)
    studio.deprecate(done.path)
    with pytest.raises(ResolveError, match="1 deprecated version"):
        studio.resolve(TASK + "?version=latest&template=shot_publish_maya&ext=ma")


def test_a_copy_that_reads_back_wrong_fails_with_21_and_keeps_nothing(demo, studio, monkeypatch):
    from bifrostd.errors import PublishVerifyFailed
    from bifrostd.publish import execute

    monkeypatch.setattr(execute, "hash_file", lambda path: "f" * 32)  # a bit flipped on the way to the disk
    before = tree(demo / "projects")
    with pytest.raises(PublishVerifyFailed, match="read back with xxh3 f{32}") as caught:
        studio.publish(SOURCE)
    assert caught.value.exit_code == 22
    assert tree(demo / "projects") == before
