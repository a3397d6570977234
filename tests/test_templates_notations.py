"""Frame and UDIM notations: every way pipelines write "all frames" or "all tiles", read and written back."""

from __future__ import annotations

import json

import pytest

from bifrostd.cli import main
from bifrostd.errors import FieldValueError
from bifrostd.templates import load_template_set, notation_of

SEQ = "/mnt/p/seq"

SET = """\
schema: bifrost.templates.1
roots:
  p: {linux: /mnt/p, windows: 'P:\\p', mac: /Volumes/p}
keys:
  name: {type: str}
  frame: {type: frame, padding: 4}
  udim: {type: udim}
  tile: {type: udim, notations: [mari, hash, printf]}
  deftile: {type: udim, default: <UDIM>, alias: udim2}
  nframe: {type: frame, padding: 1, notations: [hash]}
templates:
  seq: {path: 'seq/{name}.{frame}.exr', root: p}
  tex: {path: 'tex/{name}.{udim}.tif', root: p}
  tex_hash: {path: 'texh/{name}.{tile}.tif', root: p}
  tex_default: {path: 'texd/{name}.{deftile}.tif', root: p}
  hashes_only: {path: 'h/{name}.{nframe}.exr', root: p}
"""


@pytest.fixture
def notation_set(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "set.yaml").write_text(SET)
    return load_template_set(folder)


@pytest.mark.parametrize(
    ("written", "value", "notation"),
    [
        ("1001", 1001, None),
        ("-0005", -5, None),
        ("####", "####", "hash"),
        ("@@@@", "@@@@", "at"),
        ("%04d", "%04d", "printf"),
        ("$F4", "$F4", "houdini"),
        ("[1001-1100]", "[1001-1100]", "flame"),
        ("1001-1100#", "1001-1100#", "range"),
        ("1001-1100####", "1001-1100####", "range"),
        ("1001-1100@@@@", "1001-1100@@@@", "range"),
        ("[-0010--0001]", "[-0010--0001]", "flame"),
    ],
)
def test_a_frame_key_reads_and_writes_every_notation(notation_set, written, value, notation):
    found = notation_set.match(f"{SEQ}/a.{written}.exr")
    assert found is not None and found.template.name == "seq"
    assert found.fields == {"name": "a", "frame": value}
    assert notation_of(found.fields["frame"]) == notation
    assert notation_set.format("seq", found.fields) == f"{SEQ}/a.{written}.exr"


@pytest.mark.parametrize(
    ("given", "written"),
    [("#", "####"), ("@", "@@@@"), ("%d", "%04d"), ("$F", "$F4"), ("[1-100]", "[0001-0100]"), ("1-100#", "0001-0100#"),
     (7, "0007")],
)
def test_short_notations_are_written_in_the_key_padding(notation_set, given, written):
    assert notation_set.format("seq", {"name": "a", "frame": given}) == f"{SEQ}/a.{written}.exr"


@pytest.mark.parametrize("written", ["###", "%03d", "$F3", "[100-1100]", "1001-1100", "1001-1100##", "[1001-1100", "$F"])
def test_notations_of_another_width_or_incomplete_do_not_match(notation_set, written):
    assert notation_set.match(f"{SEQ}/a.{written}.exr") is None


@pytest.mark.parametrize("value", ["###", "%03d", "[1001]", "1001-1100", "frames"])
def test_formatting_refuses_what_is_no_notation(notation_set, value):
    with pytest.raises(FieldValueError, match="notations"):
        notation_set.format("seq", {"name": "a", "frame": value})


@pytest.mark.parametrize(
    ("written", "value", "notation"),
    [("1001", 1001, None), ("<UDIM>", "<UDIM>", "mari"), ("$UDIM", "$UDIM", "houdini"), ("<UVTILE>", "<UVTILE>", "uvtile")],
)
def test_a_udim_key_reads_and_writes_tile_notations(notation_set, written, value, notation):
    found = notation_set.match(f"/mnt/p/tex/a.{written}.tif")
    assert found.fields["udim"] == value and notation_of(value) == notation
    assert notation_set.format("tex", found.fields) == f"/mnt/p/tex/a.{written}.tif"


def test_udim_hash_and_printf_only_where_the_set_says_so(notation_set):
    assert notation_set.match("/mnt/p/tex/a.####.tif") is None
    assert notation_set.match("/mnt/p/tex/a.%04d.tif") is None
    with pytest.raises(FieldValueError):
        notation_set.format("tex", {"name": "a", "udim": "####"})
    assert notation_set.match("/mnt/p/texh/a.####.tif").fields["tile"] == "####"
    assert notation_set.match("/mnt/p/texh/a.%04d.tif").fields["tile"] == "%04d"
    assert notation_set.match("/mnt/p/texh/a.$UDIM.tif") is None  # not listed
    assert notation_set.format("tex_hash", {"name": "a", "tile": "%04d"}) == "/mnt/p/texh/a.%04d.tif"


def test_a_key_limited_to_some_notations(notation_set):
    assert notation_set.match("/mnt/p/h/a.#.exr").fields["nframe"] == "#"
    assert notation_set.match("/mnt/p/h/a.1.exr").fields["nframe"] == 1
    assert notation_set.match("/mnt/p/h/a.%d.exr") is None


def test_a_udim_key_may_default_to_a_notation(notation_set):
    assert notation_set.format("tex_default", {"name": "a"}) == "/mnt/p/texd/a.<UDIM>.tif"


def test_an_unknown_notation_is_a_problem_of_the_set(tmp_path):
    from bifrostd.templates import build_template_set

    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "set.yaml").write_text(SET.replace("notations: [hash]", "notations: [hashes]"))
    _, problems = build_template_set(folder)
    assert any("unknown notation 'hashes'" in p.message and "hash" in p.hint for p in problems)


def test_resolve_json_names_the_notation_and_path_writes_a_range(tmp_path, capsys):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "set.yaml").write_text(SET)
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: templates\nstate: state\n")
    assert main(["--config", str(config), "resolve", "--json", f"{SEQ}/a.[1001-1100].exr", f"{SEQ}/a.1001.exr"]) == 0
    first, second = json.loads(capsys.readouterr().out)["results"]
    assert first["fields"]["frame"] == "[1001-1100]" and first["notations"] == {"frame": "flame"}
    assert second["fields"]["frame"] == 1001 and "notations" not in second
    assert main(["--config", str(config), "path", "seq", "name=a", "frame=[1001-1100]"]) == 0
    assert capsys.readouterr().out.strip() == f"{SEQ}/a.[1001-1100].exr"
    assert main(["--config", str(config), "path", "tex", "name=a", "udim=$UDIM"]) == 0
    assert capsys.readouterr().out.strip() == "/mnt/p/tex/a.$UDIM.tif"
