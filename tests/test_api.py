"""The Python API (``from bifrostd import Studio``) on a real demo studio, made and scanned by the installed
bifrostctl: what pipeline TDs rely on."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bifrostd
from bifrostd import api
from bifrostd.api import ConfigError, Match, ResolveError, Studio

from conftest import REPO, installed

WORK = "projects/demo/sequences/sq010/sh0100/anim/work/maya"
TASK = "bifrost:///task/shot/demo/sq010/sh0100/anim"
HEAVY = ("fsspec", "s3fs", "gcsfs", "adlfs", "pxr", "watchdog", "click")


def bifrostctl(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([installed("bifrostctl"), *args], check=check, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo studio, scanned. Tests that change it make a copy (``own_demo``)."""
    folder = tmp_path_factory.mktemp("api") / "studio"
    bifrostctl("init", "--demo", str(folder))
    bifrostctl("--config", str(folder), "scan")
    return folder


@pytest.fixture(scope="module")
def studio(demo):
    with Studio.open(demo) as opened:
        yield opened


@pytest.fixture(scope="module")
def managed(studio, demo) -> list[Match]:
    """The match of every file of the demo studio a template knows."""
    files = sorted(str(p) for p in demo.rglob("*") if p.is_file() and ".bifrost" not in p.parts)
    found = [studio.resolve(path) for path in files]
    return [m for m in found if m is not None]


@pytest.fixture
def own_demo(demo, tmp_path) -> Path:
    """A copy of the demo studio (its config names its roots relative to itself) that a test may change."""
    shutil.copytree(demo, tmp_path / "studio", symlinks=True)
    return tmp_path / "studio"


def test_a_managed_path_gives_template_typed_fields_and_entity(studio, demo):
    match = studio.resolve(demo / WORK / "sh0100_anim_v002.ma")
    assert match.template == "shot_work_maya"
    assert dict(match.fields) == {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim",
                                  "version": 2, "ext": "ma"}
    assert type(match.fields["version"]) is int
    assert (match.root, match.relative) == ("projects", f"{WORK.removeprefix('projects/')}/sh0100_anim_v002.ma")
    assert match.path == str(demo / WORK / "sh0100_anim_v002.ma")
    assert match.entity.kind == "version" and match.entity.uri == "bifrost:///version/shot/demo/sq010/sh0100/anim/2"
    assert match.entity.fields["version"] == 2 and match.entity.name == "2"


def test_a_frame_is_an_int(managed):
    frames = [m for m in managed if "frame" in m.fields]
    assert frames and all(type(m.fields["frame"]) is int for m in frames)


def test_path_formats_every_managed_file_back(studio, managed):
    assert len(managed) > 200
    for match in managed:
        assert studio.path(match.template, match.fields) == match.path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_path_round_trips_resolve_over_real_fields(studio, managed, data):
    """Fields drawn from real resolved files, the version changed: formatted, then resolved, give them back."""
    match = data.draw(st.sampled_from([m for m in managed if isinstance(m.fields.get("version"), int)]))
    version = data.draw(st.integers(min_value=1, max_value=999))
    fields = {**match.fields, "version": version}
    again = studio.resolve(studio.path(match.template, fields))
    assert again is not None and again.template == match.template and dict(again.fields) == fields


def test_path_ignores_fields_the_template_does_not_use_and_names_a_missing_one(studio, demo):
    work = studio.resolve(demo / WORK / "sh0100_anim_v002.ma")
    assert studio.path("shot_root", work.fields) == str(demo / "projects/demo/sequences/sq010/sh0100")
    assert studio.path("shot_root", work.fields, os="windows") == r"P:\projects\demo\sequences\sq010\sh0100"
    with pytest.raises(api.FieldValueError, match="needs a value for ext"):
        studio.path("shot_work_maya", {**work.fields, "ext": None})
    with pytest.raises(ResolveError, match="unknown template 'shot_wrk_maya'"):
        studio.path("shot_wrk_maya", work.fields)


def test_latest_gives_the_highest_version_with_files_there(studio):
    numbers = [v.number for v in studio.versions(TASK)]
    latest = studio.latest(TASK, template="shot_work_maya", ext="ma")
    assert latest.fields["version"] == max(numbers) == 2
    assert latest.path.endswith("/sh0100_anim_v002.ma") and latest.entity.uri.endswith("/anim/2")
    sibling = studio.latest("bifrost:///version/shot/demo/sq010/sh0100/anim/1", template="shot_work_maya", ext="ma")
    assert sibling == latest
    assert studio.resolve(f"{TASK}?version=latest&template=shot_work_maya&ext=ma") == latest


def test_latest_follows_a_new_version_once_catalogued(own_demo):
    shutil.copy(own_demo / WORK / "sh0100_anim_v002.ma", own_demo / WORK / "sh0100_anim_v003.ma")
    with Studio.open(own_demo) as studio:
        assert studio.latest(TASK, template="shot_work_maya", ext="ma").fields["version"] == 2
        bifrostctl("--config", str(own_demo), "scan")
        newest = studio.latest(TASK, template="shot_work_maya", ext="ma")  # the open studio sees the new commit
        assert newest.fields["version"] == 3 and newest.path == str(own_demo / WORK / "sh0100_anim_v003.ma")
        assert studio.latest(TASK).template == "shot_publish_root"  # v003 has no publish: v002's stays latest
        assert studio.latest(TASK).fields["version"] == 2


def test_a_studio_dropped_without_close_closes_its_connection(demo):
    import gc
    import sqlite3

    studio = Studio.open(demo)
    assert studio.latest(TASK) is not None  # the catalog is open now
    catalog = studio._catalog
    del studio
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        catalog._conn.execute("SELECT 1")


def test_latest_is_none_where_nothing_is_catalogued_and_refused_above_a_task(studio):
    assert studio.latest("bifrost:///task/shot/demo/sq010/sh0100/cfx") is None
    with pytest.raises(ResolveError, match="version=latest is asked on a task or version reference"):
        studio.latest("bifrost:///shot/demo/sq010/sh0100")


def test_an_unmanaged_path_gives_none_or_says_why(studio, demo):
    path = demo / "projects/demo/sequences/sq010/notes.txt"
    assert studio.resolve(path) is None
    with pytest.raises(ResolveError, match="notes.txt: matches no template"):
        studio.resolve(path, strict=True)


def test_a_path_outside_every_root_gives_none_or_says_why(studio, tmp_path):
    assert studio.resolve(tmp_path / "elsewhere.ma") is None
    assert studio.resolve("/etc/passwd") is None
    with pytest.raises(ResolveError, match="is under no root"):
        studio.resolve("/etc/passwd", strict=True)


def test_explain_says_why_a_path_is_not_one_managed_thing(studio, demo):
    unmanaged = studio.explain(demo / "projects/demo/sequences/sq010/notes.txt")
    assert isinstance(unmanaged, api.Unresolved)
    assert (unmanaged.root, unmanaged.reason, unmanaged.candidates) == ("projects", "matches no template", ())
    outside = studio.explain("/etc/passwd")
    assert (outside.input, outside.root, outside.reason) == ("/etc/passwd", None, "is under no root")
    assert studio.explain(demo / WORK / "sh0100_anim_v002.ma") == studio.resolve(demo / WORK / "sh0100_anim_v002.ma")


def test_a_path_two_templates_match_is_explained_and_refused(own_demo):
    shots = own_demo / "templates" / "shots.yaml"
    shots.write_text(shots.read_text() + "  shot_work_maya_copy:\n    root: projects\n"
                     "    path: '{@shot_task_root}/work/maya/{shot}_{task}[_{name}]_v{version}.{maya_ext}'\n"
                     "    entity: version\n")
    path = own_demo / WORK / "sh0100_anim_v002.ma"
    with Studio.open(own_demo) as studio:
        answer = studio.explain(path)
        assert isinstance(answer, api.Unresolved) and answer.root == "projects"
        assert set(answer.candidates) == {"shot_work_maya", "shot_work_maya_copy"}
        assert answer.relative == str(path.relative_to(own_demo / "projects")) and answer.fields["version"] == 2
        with pytest.raises(ResolveError, match="shot_work_maya, shot_work_maya_copy|shot_work_maya_copy, shot_work_maya"):
            studio.resolve(path)  # not None: the path is managed, by two templates


def test_format_gives_what_resolve_of_the_path_gives(studio, managed):
    for match in managed:
        assert studio.format(match.template, match.fields) == match
    work = managed[0]
    with pytest.raises(api.FieldValueError, match="has no field 'colour'"):
        studio.format(work.template, {**work.fields, "colour": "red"}, strict=True)
    assert studio.format(work.template, {**work.fields, "colour": "red"}) == work


def test_an_entity_says_what_it_holds(studio):
    shot = studio.entity("bifrost:///shot/demo/sq010/sh0100")
    assert (shot.kind, shot.name, dict(shot.own)) == ("shot", "sh0100", {"shot": "sh0100"})
    assert shot.children == len(studio.listing(shot.uri).children) > 0
    version = studio.entity("bifrost:///version/shot/demo/sq010/sh0100/anim/2")
    own_files = [f for f in studio.files(version.uri)]
    assert version.files == len(own_files) and version.bytes == sum(f.size for f in own_files) > 0
    assert studio.resolve(version.uri).entity == dataclasses.replace(version, files=None, bytes=None, children=None)
    with pytest.raises(ResolveError, match="not in the catalog"):
        studio.entity("bifrost:///shot/demo/sq010/sh9900")


def test_a_listing_of_the_top_an_entity_and_a_folder(studio, demo):
    top = studio.listing()
    assert top.entity is None and [p.uri for p in top.children] == ["bifrost:///project/demo"]
    comp = studio.listing("bifrost:///version/shot/demo/sq010/sh0100/comp/2")
    assert comp.sequences and all(s.count and s.bytes > 0 and s.missing_count >= 0 for s in comp.sequences)
    folder = studio.listing(demo / WORK)
    assert (folder.root, folder.folder, folder.entity) == ("projects", WORK.removeprefix("projects/"), None)
    assert sorted(f.path for f in folder.files) == sorted(str(p) for p in (demo / WORK).rglob("*") if p.is_file())


def test_a_reference_gives_its_path_on_each_os(studio, demo):
    shot = studio.resolve("bifrost:///shot/demo/sq010/sh0100")
    assert (shot.template, shot.path) == ("shot_root", str(demo / "projects/demo/sequences/sq010/sh0100"))
    windows = studio.resolve("bifrost:///shot/demo/sq010/sh0100", os="windows")
    assert windows.path == r"P:\projects\demo\sequences\sq010\sh0100" and windows.relative == shot.relative
    assert studio.resolve(shot.path, os="windows").path == windows.path
    with pytest.raises(ResolveError, match="unknown entity kind 'shto'"):
        studio.resolve("bifrost:///shto/demo/sq010/sh0100")


def test_the_cli_gives_the_same_answers(studio, demo, managed):
    """bifrostctl resolve and the API are one implementation: their answers can't drift."""
    paths = [m.path for m in managed] + [str(demo / "projects/demo/sequences/sq010/notes.txt")]
    done = bifrostctl("--config", str(demo), "resolve", "-", input="\n".join(paths) + "\n", check=False)
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(documents) == len(paths)
    for document, path in zip(documents, paths):
        match = studio.resolve(path)
        if match is None:
            assert not document["matched"]
            continue
        assert (document["template"], document["fields"]) == (match.template, dict(match.fields))
        assert (document["root"], document["relative"], document["entity"]["uri"]) == (
            match.root, match.relative, match.entity.uri)
    cli = json.loads(bifrostctl("--config", str(demo), "versions", "--json", TASK).stdout)
    assert [v["uri"] for v in cli["versions"]] == [v.entity.uri for v in studio.versions(TASK)]
    assert [[f["path"] for f in v["files"]] for v in cli["versions"]] == [
        [f.relative for f in v.files] for v in studio.versions(TASK)]
    assert [(v["bytes"], v["keys"]) for v in cli["versions"]] == [
        (v.entity.bytes, dict(v.entity.own)) for v in studio.versions(TASK)]
    assert cli["entity"]["children"] == studio.entity(TASK).children
    shot = "bifrost:///shot/demo/sq010/sh0100"
    listed = json.loads(bifrostctl("--config", str(demo), "ls", "--json", shot).stdout)
    assert [(c["uri"], c["files"]) for c in listed["children"]] == [
        (c.uri, c.files) for c in studio.listing(shot).children]
    comp = "bifrost:///version/shot/demo/sq010/sh0100/comp/2"
    listed = json.loads(bifrostctl("--config", str(demo), "ls", "--json", comp).stdout)
    assert [(s["pattern"], s["first"], s["last"], s["missing"]) for s in listed["sequences"]] == [
        (s.relative, s.first, s.last, s.missing) for s in studio.listing(comp).sequences]
    latest = f"{TASK}?version=latest&template=shot_work_maya&ext=ma"
    resolved = json.loads(bifrostctl("--config", str(demo), "resolve", "--json", latest).stdout)["results"][0]
    assert (resolved["path"], resolved["latest"]["uri"]) == (studio.resolve(latest).path, studio.resolve(latest).latest.uri)
    formatted = json.loads(bifrostctl("--config", str(demo), "path", "--json", "shot_root", "project=demo",
                                      "sequence=sq010", "shot=sh0100").stdout)
    assert formatted["path"] == studio.path("shot_root", {"project": "demo", "sequence": "sq010", "shot": "sh0100"})


def test_versions_files_and_entities(studio, demo):
    versions = studio.versions("bifrost:///task/shot/demo/sq010/sh0100/comp")
    assert versions and all(isinstance(v.number, int) for v in versions)
    sequences = [s for v in versions for s in v.sequences]
    assert sequences and all("####" in s.path and s.count > 0 and s.first <= s.last for s in sequences)
    files = studio.files("bifrost:///version/shot/demo/sq010/sh0100/anim/2")
    assert {f.template for f in files} >= {"shot_work_maya"}
    assert all(f.state == "present" and Path(f.path).is_file() and f.hash for f in files)
    below = studio.files("bifrost:///shot/demo/sq010/sh0100")
    assert set(files) < set(below)
    shots = studio.entities("shot", project="demo", sequence="sq010")
    assert [s.uri for s in shots] == [f"bifrost:///shot/demo/sq010/sh0{n}00" for n in (1, 2, 3)]
    assert dict(shots[0].fields) == {"project": "demo", "sequence": "sq010", "shot": "sh0100"}
    second = studio.entities("version", shot="sh0100", task="anim", version="2")
    assert [v.fields["sequence"] for v in second] == ["sq010", "sq020"]
    with pytest.raises(ResolveError, match="unknown entity kind 'shots'"):
        studio.entities("shots")
    with pytest.raises(ResolveError, match="not in the catalog"):
        studio.versions("bifrost:///task/shot/demo/sq010/sh0100/cfx")


def test_answers_are_frozen_hashable_and_picklable(studio, demo):
    match = studio.resolve(demo / WORK / "sh0100_anim_v002.ma")
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.template = "other"
    with pytest.raises(TypeError):
        match.fields["version"] = 3
    assert pickle.loads(pickle.dumps(match)) == match and {match: 1}[match] == 1


def test_open_finds_the_config_as_bifrostctl_does(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("BIFROST_CONFIG", str(demo / "bifrost.yaml"))
    assert Studio.open().config_path == demo / "bifrost.yaml"
    monkeypatch.delenv("BIFROST_CONFIG")
    monkeypatch.chdir(demo)
    assert Studio.open().config_path == demo / "bifrost.yaml"
    with pytest.raises(ConfigError, match="does not exist"):
        Studio.open(tmp_path / "nowhere.yaml")


def test_a_broken_config_names_file_and_line(own_demo):
    config = own_demo / "bifrost.yaml"
    config.write_text(config.read_text() + "scan:\n  workers: many\n")
    line = len(config.read_text().splitlines())
    with pytest.raises(ConfigError, match=rf"{config}:{line}:\d+"):
        Studio.open(own_demo)


def test_a_studio_without_a_catalog_answers_from_its_templates(own_demo):
    shutil.rmtree(own_demo / ".bifrost")
    with Studio.open(own_demo) as studio:
        assert studio.resolve(own_demo / WORK / "sh0100_anim_v002.ma").fields["version"] == 2
        with pytest.raises(api.CatalogError, match="run 'bifrostctl scan'"):
            studio.latest(TASK)


def test_the_public_names_are_exported_and_documented():
    documented = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    for name in api.__all__:
        assert hasattr(api, name), name
        assert f"`{name}`" in documented, f"docs/api.md does not mention {name}"
    assert bifrostd.Studio is Studio and "Studio" in dir(bifrostd)


@pytest.mark.parametrize("code", [
    "from bifrostd import Studio",
    "from bifrostd import Studio; s = Studio.open(sys.argv[1]); s.path('shot_root', s.resolve(sys.argv[2]).fields)",
])
def test_the_api_loads_no_heavy_module(code, demo):
    script = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    arguments = [str(demo), str(demo / WORK / "sh0100_anim_v002.ma")]
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", script, *arguments],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not {name for name in imported if name.split(".")[0] in HEAVY}


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["docs/api.md", "README.md"])
def test_the_documented_examples_run(doc, demo, monkeypatch, capsys):
    """Each page's python blocks, in order and in one namespace, as a TD would paste them in the demo studio."""
    monkeypatch.chdir(demo)
    blocks = python_blocks(REPO / doc)
    assert blocks, f"{doc} has no python example"
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{doc}, python block {number}", "exec"), namespace)
