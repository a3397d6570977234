"""``templates import tk``: a ShotGrid Toolkit configuration as a Bifrost template set.

The fixture ``fixtures/tk`` is written in tk-core's documented syntax. The expected fields below are
written by hand from tk-core's documented behaviour (strict ``format_spec`` padding, Unicode-aware
``filter_by: alphanumeric``, ``[optional]`` sections, ``@`` references, ``alias``), not by running
the importer, so the test says whether the translated set answers as tk-core would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.cli import main
from bifrostd.errors import ImportSourceInvalid
from bifrostd.importers.emit import write_set
from bifrostd.importers.tk import import_tk
from bifrostd.importers.tk_names import Renamer
from bifrostd.templates.check import check_template_set
from bifrostd.templates.keys import windows_name_problem

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "fixtures" / "tk"
TEMPLATES_YML = FIXTURE / "core" / "templates.yml"
SHOT = "sequences/sq010/sh0100"


@pytest.fixture(scope="module")
def result():
    return import_tk(FIXTURE)


@pytest.fixture(scope="module")
def imported(result, tmp_path_factory):
    written = write_set(tmp_path_factory.mktemp("tk"), result.document, result.header)
    template_set, problems = check_template_set(written)
    assert problems == []  # the fixture set has no overlap and no template with two readings
    return template_set


MATCHES = [
    ("primary", f"{SHOT}/anim/work/maya/main.v003.ma", "maya_shot_work",
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "version": 3, "extension": "ma"}),
    ("primary", f"{SHOT}/anim/work/maya/main_2.v003.ma", "maya_shot_work",  # the optional [_{iteration}]
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "iteration": 2, "version": 3,
      "extension": "ma"}),
    ("primary", f"{SHOT}/anim/work/maya/main_002.v1000.mb", "maya_shot_work",  # no format_spec: any digits
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "iteration": 2, "version": 1000,
      "extension": "mb"}),
    ("primary", "sequences/sq010/Ñandú01/anim/work/maya/main.v003.ma", "maya_shot_work",  # Unicode alphanumeric
     {"sequence": "sq010", "shot": "Ñandú01", "task": "anim", "name": "main", "version": 3, "extension": "ma"}),
    ("primary", f"{SHOT}/anim/work/maya/snapshots/main.v003.2024-05-17.ma", "maya_shot_snapshot",
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "version": 3,
      "timestamp": "2024-05-17", "extension": "ma"}),
    ("primary", "assets/Prop/cup/model/publish/maya/main.v012.mb", "maya_asset_publish",
     {"asset_type": "Prop", "asset": "cup", "task": "model", "name": "main", "version": 12, "extension": "mb"}),
    ("primary", f"{SHOT}/comp/work/images/main/v003/sh0100_main_beauty_v003.1001.exr", "nuke_shot_render",
     {"sequence": "sq010", "shot": "sh0100", "task": "comp", "name": "main", "version": 3, "output": "beauty",
      "SEQ": 1001}),
    ("primary", f"{SHOT}/comp/work/images/main/v003/sh0100_main_beauty_v003.%04d.exr", "nuke_shot_render",
     {"sequence": "sq010", "shot": "sh0100", "task": "comp", "name": "main", "version": 3, "output": "beauty",
      "SEQ": "%04d"}),
    ("primary", f"{SHOT}/comp/work/images/main/v003/sh0100_main_beauty_v003.####.exr", "nuke_shot_render",
     {"sequence": "sq010", "shot": "sh0100", "task": "comp", "name": "main", "version": 3, "output": "beauty",
      "SEQ": "####"}),
    ("primary", f"{SHOT}/comp/work/stereo/main_left_v003.1001.exr", "nuke_shot_stereo",
     {"sequence": "sq010", "shot": "sh0100", "task": "comp", "name": "main", "eye": "left", "version": 3,
      "SEQ": 1001}),
    ("primary", f"{SHOT}/comp/finishing/sh0100_v003.00001001.dpx", "flame_shot_render",
     {"sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 3, "flame_frame": 1001}),
    ("primary", "assets/Prop/cup/tex/publish/mari/main.v001.1001.tif", "mari_texture",
     {"asset_type": "Prop", "asset": "cup", "task": "tex", "name": "main", "version": 1, "UDIM": 1001}),
    ("primary", "assets/Prop/cup/tex/publish/mari/main.v001.<UDIM>.tif", "mari_texture",
     {"asset_type": "Prop", "asset": "cup", "task": "tex", "name": "main", "version": 1, "UDIM": "<UDIM>"}),
    ("primary", f"{SHOT}/anim/review/sh0100_t2_v0003.mov", "shot_review",  # strict_matching: false
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "take": 2, "version": 3}),
    ("primary", f"{SHOT}/anim/review/sh0100_t02_v0003.mov", "shot_review",
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "take": 2, "version": 3}),
    ("primary", f"{SHOT}/anim/notes/main@JS.txt", "shot_notes",  # '@@' is a literal '@'
     {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "initials": "JS"}),
    ("primary", "sequences/sq010/editorial/sq010_cut007.edl", "sequence_cut",  # from the included file
     {"sequence": "sq010", "cut": 7}),
    ("renders", "deliveries/AB/sh0100_abcd.v003.zip", "vendor_delivery",
     {"vendor": "AB", "shot": "sh0100", "label": "abcd", "version": 3}),
    ("renders", f"{SHOT}/light/render/sh0100_v003.1001.exr", "farm_shot_render",  # @shot_root of another root
     {"sequence": "sq010", "shot": "sh0100", "task": "light", "version": 3, "SEQ": 1001}),
]

REFUSED = [
    f"{SHOT}/anim/work/maya/main.v03.ma",        # format_spec "03" matches strictly: v03 is not version 3
    f"{SHOT}/anim/work/maya/main.v0003.ma",
    f"{SHOT}/anim/work/maya/main.v003.obj",      # not one of the choices
    f"{SHOT}/anim/work/maya/Main.v003.ma",       # the filter_by regex ^[a-z]...
    "sequences/sq010/sh_0100/anim/work/maya/main.v003.ma",  # alphanumeric: no '_'
    f"{SHOT}/anim2/work/maya/main.v003.ma",      # alpha: no digits
    "assets/Vehicle/car/model/publish/maya/main.v012.mb",  # not one of sg_asset_type's choices
    f"{SHOT}/comp/work/stereo/main_both_v003.1001.exr",    # an exclusion
    f"{SHOT}/comp/finishing/sh0100_v003.1001.dpx",         # format_spec "08" on a sequence key
]


@pytest.mark.parametrize(("root", "relative", "template", "fields"), MATCHES, ids=[m[2] + ":" + m[1][-24:] for m in MATCHES])
def test_translated_set_resolves_as_tk_core(imported, root, relative, template, fields):
    match = imported.match_relative(root, relative)
    assert match is not None and match.template.name == template
    assert match.fields == fields


@pytest.mark.parametrize("relative", REFUSED)
def test_translated_set_refuses_what_tk_core_refuses(imported, relative):
    assert imported.match_relative("primary", relative) is None


def test_entities_derive_from_the_well_known_keys(imported):
    match = imported.match_relative("primary", f"{SHOT}/anim/work/maya/main.v003.ma")
    assert match.entity.kind == "version"
    asset = imported.match_relative("primary", "assets/Prop/cup/model/publish/maya/main.v012.mb")
    assert [kind for kind, _ in asset.entity.chain] == ["asset", "task", "version"]


def test_formatting_round_trips(imported):
    work = imported.templates["maya_shot_work"]
    fields = {"sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "main", "version": 3}
    assert work.format(fields) == f"{SHOT}/anim/work/maya/main.v003.ma"  # extension: its default, ma
    render = imported.templates["nuke_shot_render"]  # tk-core's sequence default: %d in the key's padding
    assert render.format({**fields, "task": "comp", "output": "beauty"}).endswith("_beauty_v003.%04d.exr")
    udim = imported.templates["mari_texture"]
    assert udim.format({"asset_type": "Prop", "asset": "cup", "task": "tex", "name": "main", "version": 1}).endswith(
        "main.v001.<UDIM>.tif")


def test_roots_and_references(result):
    document = result.document
    assert document["roots"]["primary"] == {"linux": "/mnt/projects/demo", "windows": "P:\\projects\\demo",
                                            "mac": "/Volumes/projects/demo"}
    templates = document["templates"]
    assert templates["shot_root"] == {"path": "{@sequence_root}/{shot}/{task}", "root": "primary"}
    assert templates["farm_shot_render"]["path"] == "sequences/{sequence}/{shot}/{task}/render/{shot}_v{version}.{SEQ}.exr"
    assert templates["shot_notes"]["path"].endswith("{name}@{initials}.txt")


def test_report_lists_each_approximation_with_file_and_line(result):
    lines = {(Path(n.file).name, n.line, n.approximated): n.construct for n in result.notes}
    assert lines[("templates.yml", 68, True)].startswith("key 'timestamp': type: timestamp")
    assert lines[("templates.yml", 72, True)] == "key 'vendor': filter_by: '[A-Z]{2}'"
    assert lines[("templates.yml", 76, True)].startswith("key 'initials': subset")
    assert lines[("templates.yml", 80, True)] == "key 'label': length: 4"
    assert lines[("templates.yml", 108, True)] == "strings template 'nuke_shot_version_name'"
    assert lines[("templates.yml", 66, False)] == "key 'eye': exclusions: ['both']"
    assert lines[("templates.yml", 104, False)] == "template 'farm_shot_render': @shot_root"
    assert lines[("templates.yml", 46, True)] == "key 'SEQ': type: sequence"  # <UDIM> is no frame in Bifrost
    assert lines[("templates.yml", 52, True)] == "key 'UDIM': type: sequence (UDIM tiles)"
    assert sum(n.approximated for n in result.notes) == 8
    assert result.skipped == ("nuke_shot_version_name",)
    assert {(r.source, r.bifrost) for r in result.renamed} == {
        ("Sequence", "sequence"), ("Shot", "shot"), ("Step", "task"), ("Asset", "asset"),
        ("Asset.sg_asset_type", "asset_type"), ("flame.frame", "flame_frame"), ("nuke.output", "nuke_output")}


def test_an_exact_import_exits_0(tmp_path, capsys):
    source = tmp_path / "templates.yml"
    source.write_text("keys:\n  Shot: {type: str, filter_by: alphanumeric}\n"
                      "  version: {type: int, format_spec: '03'}\n"
                      "paths:\n  shot_work: 'shots/{Shot}/work/{Shot}_v{version}.nk'\n")
    roots = tmp_path / "roots.yml"
    roots.write_text("primary: {linux_path: /mnt/p, mac_path: /Volumes/p, windows_path: 'P:\\p', default: true}\n")
    assert main(["templates", "import", "tk", str(source), "--roots", str(roots)]) == 0
    captured = capsys.readouterr()
    assert "shot_work: shots/{shot}/work/{shot}_v{version}.nk" in captured.out
    assert "0 approximated, 1 renamed" in captured.err and "renamed: Shot -> shot" in captured.err


@pytest.mark.parametrize(("text", "expected"), [
    ("keys:\n  a: {type: str\npaths:\n  t: '{a}'\n", r"templates\.yml:3:\d+: YAML syntax error"),
    ("keys:\n  a: {type: str}\npaths:\n  t: 'x/{b}'\n", r"templates\.yml:4:\d+: paths\.t: undefined key 'b'"),
    ("keys: {}\npaths:\n  t: '@nowhere/x'\n", r"templates\.yml:3:\d+: paths\.t: the reference at '@nowhere/x' names"),
    ("include: missing.yml\nkeys: {}\n", r"templates\.yml:1:\d+: include: included file 'missing.yml' not found"),
    ("keys: {}\npaths:\n  t: {definition: x, root_name: elsewhere}\n", r"paths\.t\.root_name: unknown root"),
])
def test_unreadable_sources_exit_19_with_file_and_line(tmp_path, capsys, text, expected):
    source = tmp_path / "templates.yml"
    source.write_text(text)
    with pytest.raises(ImportSourceInvalid, match=expected):
        import_tk(source)
    assert main(["templates", "import", "tk", str(source)]) == 19
    assert "cannot be imported" in capsys.readouterr().err


def test_template_names_bifrost_cannot_hold_are_made_distinct(tmp_path):
    source = tmp_path / "templates.yml"
    source.write_text("keys:\n  v: {type: int, format_spec: '03'}\n"
                      "paths:\n  work.area: 'a/v{v}'\n  work_area: 'b/v{v}'\n  work-file: '@work.area/x.txt'\n")
    result = import_tk(source)
    templates = result.document["templates"]
    assert {n.construct: n.done for n in result.notes}["template 'work.area'"].startswith("named 'work_area_2'")
    assert templates == {"work_area_2": "a/v{v}", "work_area": "b/v{v}", "work_file": "{@work_area_2}/x.txt"}


def test_missing_source_exits_19(tmp_path, capsys):
    assert main(["templates", "import", "tk", str(tmp_path / "nowhere")]) == 19


def test_cli_writes_a_set_that_templates_check_passes(tmp_path):
    """The installed console entry point, as an admin runs it: import, then check and resolve the result."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bifrostctl = [sys.executable, "-m", "bifrostd.cli"]
    out = tmp_path / "imported"
    run = subprocess.run([*bifrostctl, "templates", "import", "tk", str(FIXTURE), "--out", str(out), "--json"],
                         capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 1, run.stderr  # the fixture has approximations
    report = json.loads(run.stdout)
    assert report["templates"] == 15 and report["written"] == str(out / "templates.yaml")
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: imported\nstate: state\n")
    check = subprocess.run([*bifrostctl, "--config", str(config), "templates", "check"],
                           capture_output=True, text=True, env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    resolve = subprocess.run([*bifrostctl, "--config", str(config), "resolve", "--json",
                              f"/mnt/projects/demo/{SHOT}/anim/work/maya/main.v003.ma"],
                             capture_output=True, text=True, env=env, check=False)
    assert resolve.returncode == 0, resolve.stderr
    answer = json.loads(resolve.stdout)["results"][0]
    assert answer["template"] == "maya_shot_work" and answer["fields"]["shot"] == "sh0100"


NAMES = st.text(st.characters(categories=["Lu", "Ll", "Lo", "Nd"]), min_size=1, max_size=6).filter(
    lambda text: text.isalnum() and windows_name_problem(text) is None)  # Bifrost refuses device names (com1)


@given(sequence=NAMES, shot=NAMES, name=st.from_regex(r"[a-z][a-zA-Z0-9]{0,5}", fullmatch=True),
       iteration=st.none() | st.integers(0, 999), version=st.integers(0, 99999), extension=st.sampled_from(["ma", "mb"]))
def test_imported_work_template_round_trips(imported, sequence, shot, name, iteration, version, extension):
    """format then match gives the fields back, for any Unicode alphanumeric names tk-core's filter accepts."""
    fields = {"sequence": sequence, "shot": shot, "task": "anim", "name": name, "version": version,
              "extension": extension, **({"iteration": iteration} if iteration is not None else {})}
    path = imported.templates["maya_shot_work"].format(fields)
    match = imported.match_relative("primary", path)
    assert match is not None and match.template.name == "maya_shot_work" and match.fields == fields


@given(st.lists(st.text(alphabet="AaBb._-1", min_size=1, max_size=4), max_size=8))
def test_renamer_gives_distinct_valid_names(names):
    rename = Renamer(names)
    targets = [rename(n) for n in dict.fromkeys(names)]
    assert len(set(targets)) == len(targets)
    assert all(t.replace("_", "a").isalnum() and t.isascii() and not t[0].isdigit() for t in targets)
    assert all(rename(r.source) == r.bifrost != r.source for r in rename.renamed())


def test_project_folder_and_placeholder_roots(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "templates.yml").write_text("keys:\n  Shot: {type: str}\npaths:\n  shot: 'shots/{Shot}'\n")
    (tmp_path / "core" / "roots.yml").write_text("primary:\n  linux_path: /mnt/p\n  default: true\n")
    result = import_tk(tmp_path, project="demo")
    assert result.document["roots"] == {"primary": {"linux": "/mnt/p/demo", "windows": "X:\\primary\\demo",
                                                    "mac": "/Volumes/primary/demo"}}
    assert [n.construct for n in result.notes if n.approximated] == ["root 'primary'"]  # the placeholders
    assert result.document["keys"] == {"shot": {"type": "str", "chars": "any"}}
