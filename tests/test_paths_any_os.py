"""Paths from any OS: a Windows or macOS path given on Linux (and the reverse) names the same file."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrostd.cli import main
from bifrostd.templates import load_template_set
from bifrostd.templates.placing import place
from bifrostd.templates.resolution import resolve_path
from conftest import scanned_demo

REPO = Path(__file__).resolve().parent.parent
RELATIVE = "demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v003.ma"
SPELLINGS = {
    "linux": f"/mnt/projects/{RELATIVE}",
    "windows": "P:\\projects\\" + RELATIVE.replace("/", "\\"),
    "mac": f"/Volumes/projects/{RELATIVE}",
}


@pytest.fixture(scope="module")
def default_set():
    return load_template_set(REPO / "templates")


def on(template_set, os_name: str):
    """The set as a machine running ``os_name`` reads it."""
    return dataclasses.replace(template_set, os_name=os_name)


@pytest.mark.parametrize("here", ["linux", "mac", "windows"])
@pytest.mark.parametrize("written_for", ["linux", "mac", "windows"])
def test_a_path_written_for_any_os_resolves_to_the_same_file_on_any_os(default_set, here, written_for):
    answer = resolve_path(on(default_set, here), SPELLINGS[written_for])
    assert answer.matched and answer.match.template.name == "shot_work_maya"
    assert answer.match.fields["version"] == 3 and answer.root == "projects"
    assert answer.path == SPELLINGS[here]  # answered as this machine's path of the same file


@pytest.mark.parametrize("text", [
    "p:/projects/" + RELATIVE,  # a lower-case drive and forward slashes
    "P:\\Projects\\" + RELATIVE.replace("/", "\\"),  # Windows compares roots without regard to case
    "P:\\projects\\demo\\sequences\\sq010\\..\\sq010\\sh0100/anim\\work\\maya\\sh0100_anim_v003.ma",
    "P:\\projects\\\\demo\\.\\sequences\\sq010\\sh0100\\anim\\work\\maya\\sh0100_anim_v003.ma",
])
def test_windows_paths_are_read_as_windows_reads_them(default_set, text):
    answer = resolve_path(default_set, text)
    assert answer.matched and answer.path == SPELLINGS["linux"]


@pytest.mark.parametrize("text", [
    "/mnt/projects//demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v003.ma",
    "/mnt/projects/demo/./sequences/sq010/x/../sh0100/anim/work/maya/sh0100_anim_v003.ma",
    "//mnt/projects/" + RELATIVE,
])
def test_posix_paths_are_normalised_the_same_way_for_the_cli_and_the_api(default_set, text, tmp_path, capsys):
    from bifrostd import Studio

    assert resolve_path(default_set, text).path == SPELLINGS["linux"]
    config = tmp_path / "bifrost.yaml"
    config.write_text(f"schema: bifrost.config.1\ntemplates: {REPO / 'templates'}\nstate: state\n")
    assert Studio.open(config).resolve(text).path == SPELLINGS["linux"]
    assert main(["--config", str(config), "resolve", "--json", text]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["path"] == SPELLINGS["linux"]


@pytest.mark.parametrize("text", [
    "P:\\projects\\..\\secrets\\x.ma",  # '..' leaves the root: under none
    "/mnt/projects/demo/../../etc/passwd",
    "Q:\\projects\\" + RELATIVE.replace("/", "\\"),  # another drive
    "/Volumes/projectsX/" + RELATIVE,  # a root's name as a prefix of another folder's
    "\\\\server\\projects\\" + RELATIVE.replace("/", "\\"),
])
def test_nothing_outside_every_root_is_placed_under_one(default_set, text):
    assert place(default_set, text).root is None
    assert resolve_path(default_set, text).reason == "is under no root"


def test_a_root_itself_and_a_root_without_a_path_for_the_os(default_set, tmp_path):
    assert place(default_set, "P:\\projects").relative == "" and place(default_set, "P:/").root is None
    (tmp_path / "set.yaml").write_text(
        "schema: bifrost.templates.1\nroots:\n  linux_only: {linux: /srv/p}\n  both: {linux: /srv/b, windows: 'B:\\'}\n"
        "keys:\n  name: {type: str}\ntemplates:\n  a: {path: '{name}.txt', root: linux_only}\n"
        "  b: {path: '{name}.txt', root: both}\n")
    template_set = load_template_set(tmp_path)
    assert resolve_path(template_set, "B:\\n.txt").path == "/srv/b/n.txt"
    assert resolve_path(on(template_set, "windows"), "/srv/b/n.txt").path == "B:\\n.txt"
    # a root with no Windows path: a Linux path read on Windows still names its file, given as written
    answer = resolve_path(on(template_set, "windows"), "/srv/p/n.txt")
    assert answer.matched and answer.root == "linux_only" and answer.path == "/srv/p/n.txt"


def test_relative_paths_are_taken_from_the_current_folder(default_set, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert place(default_set, "x.ma").normal == os.path.join(str(tmp_path), "x.ma")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["demo", "sq010", "..", ".", "", "a b", "é"]), max_size=6))
def test_placing_never_puts_a_path_under_a_root_it_leaves(default_set, segments):
    """Whatever '..', '.' and empty segments a Windows path holds, it is placed under the root only
    when Windows itself would read it there."""
    import ntpath

    text = "P:\\projects\\" + "\\".join(segments)
    placed = place(default_set, text)
    windows_reads = ntpath.normpath(text).lower()
    inside = windows_reads == "p:\\projects" or windows_reads.startswith("p:\\projects\\")
    assert (placed.root == "projects") == inside
    if inside:
        assert placed.relative == ntpath.normpath(text)[len("P:\\projects"):].lstrip("\\").replace("\\", "/")


def test_a_windows_path_names_the_folder_to_forget_or_list(tmp_path, capsys):
    """ls and forget take a path written for Windows as the same folder on this machine."""
    config = scanned_demo(tmp_path / "s")
    capsys.readouterr()
    shot = tmp_path / "s" / "projects/demo/sequences/sq010/sh0100/anim/work/maya"
    victim = next(shot.iterdir())
    victim.unlink()
    assert main(["--config", str(config), "scan"]) == 0
    capsys.readouterr()
    windows = "P:\\projects\\demo\\sequences\\sq010\\sh0100\\anim\\work\\maya"
    # the demo's roots are folders beside its config on Linux; on Windows they stay where the templates say
    assert main(["--config", str(config), "ls", "--json", windows]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(f["path"].endswith(victim.name) and f["state"] == "missing" for f in listed["files"])
    assert main(["--config", str(config), "forget", "--json", windows]) == 0
    assert [f["path"] for f in json.loads(capsys.readouterr().out)["files"]] == [
        f"demo/sequences/sq010/sh0100/anim/work/maya/{victim.name}"]
