"""bifrostctl shots import: an edit (EDL, .otio) read with OpenTimelineIO, planned, then applied.

The pure planner is held to idempotence with hypothesis; the command runs on
the demo studio (real files, a real catalog) with the fixtures in
fixtures/edit/, which are EDLs and an .otio in their documented formats.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrostd.authored import FrameRange, read_sidecar
from bifrostd.errors import EditUnreadable, PackageMissing
from bifrostd.production.edit_plan import KnownShot, Naming, compile_pattern, name_clips, plan_edit
from bifrostd.production.edit_read import CutClip, parse_rate, read_edit
from conftest import ctl_in_process as ctl
from conftest import scanned_demo

EDITS = Path(__file__).resolve().parent.parent / "fixtures" / "edit"


# -- naming and rates ---------------------------------------------------------------------
@pytest.mark.parametrize(("name", "sequence", "expected"), [
    ("sq010_sh0100", None, ("sq010", "sh0100")),
    ("sq010-sh0100", None, ("sq010", "sh0100")),
    ("sh0100", "sq020", ("sq020", "sh0100")),
    ("sh0100", None, None),  # no sequence from the name, none given
    ("SH0100 comp plate", "sq020", None),  # needs a pattern (or a marker)
])
def test_default_naming(name, sequence, expected):
    assert Naming(sequence=sequence).names(CutClip(name, 0, 10)) == expected


def test_a_marker_names_the_shot_when_the_clip_name_does_not():
    clip = CutClip("A001C003 plate", 0, 10, ("fix edge", "sh0300"))
    assert Naming(sequence="sq040").names(clip) == ("sq040", "sh0300")


def test_a_pattern_without_a_shot_group_is_refused():
    with pytest.raises(ValueError, match=r"\(\?P<shot>"):
        compile_pattern(r"(?P<sequence>sq\d+)")


@pytest.mark.parametrize(("text", "rate"), [("24", Fraction(24)), ("25", Fraction(25)), ("29.97", Fraction(30000, 1001)),
                                            ("30000/1001", Fraction(30000, 1001)), ("23.976", Fraction(24000, 1001))])
def test_rates(text, rate):
    assert parse_rate(text) == rate


# -- the planner ---------------------------------------------------------------------------
def _check(sequence, shot):
    return f"bifrost:///sequence/p/{sequence}", f"bifrost:///shot/p/{sequence}/{shot}"


def test_a_new_shot_a_changed_one_and_one_no_longer_in_the_cut():
    clips = [CutClip("sq010_sh0100", 0, 24), CutClip("sq010_sh0300", 24, 48), CutClip("sq020_sh0100", 72, 10)]
    shots, refused = name_clips(clips, Naming(), _check)
    known = {u: KnownShot(u, "bifrost:///sequence/p/sq010", f, r) for u, f, r in [
        ("bifrost:///shot/p/sq010/sh0100", FrameRange(1001, 1048, 8, 8), {"a.####.exr": tuple(range(993, 1057))}),
        ("bifrost:///shot/p/sq010/sh0200", FrameRange(1001, 1010), {})]}
    plan = plan_edit(shots, known, {"bifrost:///sequence/p/sq010"}, refused=refused)
    actions = {s.uri: s.action for s in plan.shots}
    assert actions == {"bifrost:///shot/p/sq010/sh0100": "changed", "bifrost:///shot/p/sq010/sh0300": "new",
                       "bifrost:///shot/p/sq020/sh0100": "new"}
    assert plan.new_sequences == ("bifrost:///sequence/p/sq020",)
    assert plan.removed == ("bifrost:///shot/p/sq010/sh0200",)
    shrunk = plan.shots[0]
    assert shrunk.frames == FrameRange(1001, 1024, 8, 8)  # handles kept when none are asked for
    assert shrunk.stranded[0].to_json() == {"sequence": "a.####.exr", "frames": "1033-1056", "count": 24}


def test_a_shot_named_twice_is_refused_the_second_time():
    shots, refused = name_clips([CutClip("sq010_sh0100", 0, 5), CutClip("sq010_sh0100", 5, 5)], Naming(), _check)
    assert len(shots) == 1 and "twice" in refused[0].reason


clip_names = st.tuples(st.integers(1, 3), st.integers(1, 6)).map(lambda t: f"sq{t[0]:03d}_sh{t[1] * 10:04d}")
clips = st.lists(st.tuples(clip_names, st.integers(1, 200)), max_size=8).map(
    lambda items: [CutClip(name, 0, duration) for name, duration in items])
ranges = st.builds(lambda a, n, h, k: FrameRange(a, a + n, h, k), st.integers(900, 1100), st.integers(0, 100),
                   st.integers(0, 12), st.integers(0, 12))
knowns = st.dictionaries(clip_names, st.tuples(st.none() | ranges, st.lists(st.integers(900, 1300), max_size=20)),
                         max_size=8)


@settings(max_examples=200, deadline=None)
@given(clips, knowns, st.none() | st.tuples(st.integers(0, 12), st.integers(0, 12)), st.integers(1, 2000))
def test_applying_a_plan_then_planning_again_changes_nothing(cut, held, handles, start):
    known = {}
    for name, (frames, rendered) in held.items():
        sequence_uri, uri = _check(*name.split("_"))
        known[uri] = KnownShot(uri, sequence_uri, frames, {"r.####.exr": tuple(sorted(set(rendered)))})
    sequences = {k.sequence_uri for k in known.values()}
    shots, refused = name_clips(cut, Naming(), _check, start=start)
    plan = plan_edit(shots, known, sequences, refused=refused, handles=handles)
    applied = dict(known)
    for change in plan.changes:  # what apply_edit writes: the new range into the sidecar
        rendered = known[change.uri].rendered if change.uri in known else {}
        applied[change.uri] = KnownShot(change.uri, change.sequence_uri, change.frames, rendered)
    again = plan_edit(shots, applied, sequences | set(plan.new_sequences), refused=refused, handles=handles)
    assert again.changes == () and again.new_sequences == ()
    assert again.removed == plan.removed  # reported every time, never deleted
    assert all(s.frames.cut_in == start for s in plan.shots)


# -- reading edits -----------------------------------------------------------------------
def test_an_edl_is_read_at_the_rate_given():
    found = read_edit(EDITS / "sq010_cut_v001.edl")
    assert [(c.name, c.record_in, c.duration) for c in found] == [
        ("sq010_sh0100", 0, 24), ("sq010_sh0200", 24, 48), ("sq010_sh0300", 72, 48), ("sq030_sh0100", 120, 96)]


def test_an_ntsc_edl_needs_its_rate():
    found = read_edit(EDITS / "ntsc_shots.edl", Fraction(30000, 1001))
    assert [(c.duration, c.markers) for c in found] == [(75, ("sh0100",)), (59, ("sh0200",))]
    with pytest.raises(EditUnreadable, match="frames beyond 23"):  # read at 24 fps, frame 29 is nonsense
        read_edit(EDITS / "ntsc_shots.edl")


def test_an_otio_keeps_its_rate_unless_one_is_given():
    assert [c.duration for c in read_edit(EDITS / "sq020_cut_v003.otio")] == [50, 30, 40]
    assert [c.record_in for c in read_edit(EDITS / "sq020_cut_v003.otio")] == [0, 50, 90]  # after a gap
    assert [c.duration for c in read_edit(EDITS / "sq020_cut_v003.otio", Fraction(50))] == [100, 60, 80]


@pytest.mark.parametrize("name", ["broken.edl", "broken.otio", "missing.edl"])
def test_a_file_that_does_not_parse_is_an_edit_unreadable(name):
    with pytest.raises(EditUnreadable) as caught:
        read_edit(EDITS / name)
    assert caught.value.exit_code == 23 and name in str(caught.value)


def test_an_unknown_format_says_which_adapter(tmp_path):
    (tmp_path / "cut.xyz").write_text("nothing")
    with pytest.raises(EditUnreadable, match="no OpenTimelineIO adapter"):
        read_edit(tmp_path / "cut.xyz")


def test_without_opentimelineio_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentimelineio", None)
    with pytest.raises(PackageMissing, match="pip install") as caught:
        read_edit(EDITS / "sq010_cut_v001.edl")
    assert caught.value.exit_code == 16 and "opentimelineio" in str(caught.value)


# -- the command, on the demo studio ------------------------------------------------------
@pytest.fixture
def studio(tmp_path):
    return scanned_demo(tmp_path / "s")


def shot_folder(config, sequence, shot):
    return config.parent / "projects/demo/sequences" / sequence / shot


def frames_of(config, sequence, shot):
    return read_sidecar(shot_folder(config, sequence, shot)).data.frames


def tree(config):
    return sorted(str(p.relative_to(config.parent)) for p in (config.parent / "projects").rglob("*"))


def test_dry_run_prints_every_change_and_changes_nothing(studio, capsys):
    before = tree(studio)
    code, out, _ = ctl(capsys, studio, "shots", "import", str(EDITS / "sq010_cut_v001.edl"), "--dry-run")
    assert code == 0 and tree(studio) == before
    assert "would create sequence bifrost:///sequence/demo/sq030" in out
    assert "would change bifrost:///shot/demo/sq010/sh0200  - -> 1001-1048" in out
    assert "would create bifrost:///shot/demo/sq030/sh0100  1001-1096" in out


def test_import_creates_new_shots_writes_ranges_and_a_second_import_changes_nothing(studio, capsys):
    edl = str(EDITS / "sq010_cut_v001.edl")
    code, out, _ = ctl(capsys, studio, "shots", "import", edl, "--handles", "8", "--json")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "bifrost.shots-import.1" and document["recorded"] == "catalog"
    assert document["created"] == ["bifrost:///sequence/demo/sq030", "bifrost:///shot/demo/sq030/sh0100"]
    assert frames_of(studio, "sq030", "sh0100") == FrameRange(1001, 1096, 8, 8)
    assert frames_of(studio, "sq010", "sh0200") == FrameRange(1001, 1048, 8, 8)
    assert (shot_folder(studio, "sq030", "sh0100") / "plates").is_dir()  # the skeleton, as create makes it
    code, out, _ = ctl(capsys, studio, "show", "--json", "bifrost:///shot/demo/sq030/sh0100")
    assert code == 0 and json.loads(out)["authored"]["frames"]["cut_out"] == 1096  # catalogued
    code, out, _ = ctl(capsys, studio, "shots", "import", edl, "--json")
    assert code == 0 and json.loads(out)["counts"] == {"new": 0, "changed": 0, "same": 4, "removed": 0,
                                                       "refused": 0, "stranding": 0}


def test_an_import_keeps_the_rest_of_the_sidecar(studio, capsys):
    assert ctl(capsys, studio, "create", "bifrost:///shot/demo/sq010/sh0300", "--description", "Truck jump",
               "--tag", "hero")[0] == 0
    assert ctl(capsys, studio, "shots", "import", str(EDITS / "sq010_cut_v001.edl"))[0] == 0
    data = read_sidecar(shot_folder(studio, "sq010", "sh0300")).data
    assert data.description == "Truck jump" and data.tags == ("hero",) and data.frames == FrameRange(1001, 1048)


def test_a_shrink_over_rendered_frames_needs_force_and_lists_them(studio, capsys):
    assert ctl(capsys, studio, "shots", "import", str(EDITS / "sq010_cut_v001.edl"), "--handles", "8")[0] == 0
    before = tree(studio)
    edl = str(EDITS / "sq010_cut_v002.edl")
    code, _, err = ctl(capsys, studio, "shots", "import", edl)
    assert code == 21 and "--force" in err
    assert "sh0100_comp_v002.####.exr frames 1021-1024" in err  # 1001-1012 with 8 frames of handles
    assert tree(studio) == before and frames_of(studio, "sq010", "sh0100") == FrameRange(1001, 1024, 8, 8)
    code, out, _ = ctl(capsys, studio, "shots", "import", edl, "--dry-run")
    assert code == 0 and "rendered outside the new range:" in out and "not in the cut  bifrost:///shot/demo/sq010/sh0200" in out
    code, out, _ = ctl(capsys, studio, "shots", "import", edl, "--force", "--json")
    document = json.loads(out)
    assert code == 0 and document["removed"] == ["bifrost:///shot/demo/sq010/sh0200"]
    assert frames_of(studio, "sq010", "sh0100") == FrameRange(1001, 1012, 8, 8)
    assert frames_of(studio, "sq010", "sh0300") == FrameRange(1001, 1060, 8, 8)
    assert shot_folder(studio, "sq010", "sh0200").is_dir()  # never deleted
    assert frames_of(studio, "sq030", "sh0200") == FrameRange(1001, 1024)
    code, out, _ = ctl(capsys, studio, "drift", "--json")  # the catalog has the new ranges without a scan
    assert {f["range"] for f in json.loads(out)["outside_range"]} == {"993-1020"}


def test_a_name_a_key_refuses_is_reported_with_its_rule_and_nothing_changes(studio, capsys):
    before = tree(studio)
    code, _, err = ctl(capsys, studio, "shots", "import", str(EDITS / "refused_name.edl"))
    assert code == 21 and "sq010_shot5" in err and "sh\\\\d{4}" in err
    assert tree(studio) == before  # sh0900 was fine, but nothing is applied
    code, out, _ = ctl(capsys, studio, "shots", "import", str(EDITS / "refused_name.edl"), "--dry-run", "--json")
    assert code == 0 and [r["clip"] for r in json.loads(out)["refused"]] == ["sq010_shot5"]


@pytest.mark.parametrize("name", ["broken.edl", "broken.otio"])
def test_an_edit_that_does_not_parse_exits_23_and_changes_nothing(studio, capsys, name):
    before = tree(studio)
    code, _, err = ctl(capsys, studio, "shots", "import", str(EDITS / name))
    assert code == 23 and err.startswith("Error: cannot read the edit") and tree(studio) == before


def test_ntsc_with_markers_and_a_sequence(studio, capsys):
    code, out, _ = ctl(capsys, studio, "shots", "import", str(EDITS / "ntsc_shots.edl"), "--rate", "29.97",
                       "--sequence", "sq040", "--json")
    assert code == 0 and json.loads(out)["created"][0] == "bifrost:///sequence/demo/sq040"
    assert frames_of(studio, "sq040", "sh0100") == FrameRange(1001, 1075)
    assert frames_of(studio, "sq040", "sh0200") == FrameRange(1001, 1059)


def test_an_otio_with_a_name_pattern_and_a_start_frame(studio, capsys):
    otio = str(EDITS / "sq020_cut_v003.otio")
    code, out, _ = ctl(capsys, studio, "shots", "import", otio, "--dry-run", "--json")
    assert code == 0 and len(json.loads(out)["refused"]) == 3  # sq020-sh0100_plate_v003: not the default form
    pattern = r"(?P<sequence>sq\d{3})-(?P<shot>sh\d{4})"
    code, _, err = ctl(capsys, studio, "shots", "import", otio, "--name-pattern", pattern, "--start", "101")
    assert code == 21 and "sq020/sh0100" in err  # its frames from 1001 would all be outside 101-150
    code, out, _ = ctl(capsys, studio, "shots", "import", otio, "--name-pattern", pattern, "--start", "101",
                       "--force", "--json")
    assert code == 0 and json.loads(out)["counts"]["stranding"] >= 1
    assert frames_of(studio, "sq020", "sh0100") == FrameRange(101, 150)
    assert frames_of(studio, "sq020", "sh0300") == FrameRange(101, 140)


def test_the_python_api_returns_the_plan_then_the_result(studio):
    from bifrostd import Studio

    with Studio.open(studio) as s:
        planned = s.import_edit(EDITS / "sq010_cut_v001.edl", dry_run=True)
        assert planned.dry_run and len(planned.plan.changes) == 4 and planned.created is None
        done = s.import_edit(EDITS / "sq010_cut_v001.edl", project="demo", handles="4,6")
    assert not done.dry_run and done.updated[0] == "bifrost:///shot/demo/sq010/sh0100"
    assert frames_of(studio, "sq010", "sh0100") == FrameRange(1001, 1024, 4, 6)
    assert os.path.isdir(shot_folder(studio, "sq030", "sh0100"))


def test_the_worked_example_writes_the_fixtures_these_tests_import():
    """docs/cli.md's worked example pastes these EDLs; the tests above prove what it says they do."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    example = text[text.index("### Worked example: an edit"):]
    written = dict(re.findall(r"cat > (\S+) <<'EOF'\n(.*?)^EOF$", example, re.S | re.M))
    assert set(written) == {"sq010_cut_v001.edl", "sq010_cut_v002.edl"}
    for name, content in written.items():
        assert content == (EDITS / name).read_text(), name


# -- frame sequences held to their shot's range ----------------------------------------------
@pytest.mark.parametrize(("items", "outside", "short"), [
    ([(1001, 900), (1002, 950), (1003, 1000)], (), ()),
    ([(990, 900), (1001, 950), (1025, 1000)], (990, 1025), ()),  # range with handles: 993-1024
    ([(1001, 900_000), (1002, 0), (1003, 950_000)], (), (1002,)),  # zero bytes
    ([(1001, 9_000_000), (1002, 4096), (1003, 9_500_000), (1004, 8_800_000)], (), (1002,)),  # killed mid-write
    ([(1001, 1900), (1002, 73), (1003, 1500)], (), ()),  # a small frame among small ones: not truncated
])
def test_check_frames(items, outside, short):
    from bifrostd.production.ranges import check_frames

    found = {f.kind: f.frames for f in check_frames("s", FrameRange(1001, 1016, 8, 8), {"a.####.exr": items})}
    assert found.get("outside_range", ()) == outside and found.get("short", ()) == short


def test_drift_and_show_list_frames_outside_a_shots_range_and_truncated_ones(studio, capsys):
    assert ctl(capsys, studio, "drift", "--json")[0] == 1  # the demo has other drift
    code, out, _ = ctl(capsys, studio, "drift", "--json")
    assert json.loads(out)["counts"]["outside_range"] == 0 and json.loads(out)["counts"]["short_frames"] == 0
    assert ctl(capsys, studio, "shots", "import", str(EDITS / "sq010_cut_v002.edl"), "--handles", "0",
               "--force")[0] == 0
    comp = shot_folder(studio, "sq010", "sh0100") / "comp/output/v002"
    (comp / "sh0100_comp_v002.1005.exr").write_bytes(b"")
    assert ctl(capsys, studio, "scan")[0] == 0
    code, out, _ = ctl(capsys, studio, "drift", "--json")
    document = json.loads(out)
    pattern = "projects:demo/sequences/sq010/sh0100/comp/output/v002/sh0100_comp_v002.####.exr"
    outside = {f["sequence"]: f for f in document["outside_range"]}
    assert code == 1 and outside[pattern]["frames"] == "1013-1024" and outside[pattern]["range"] == "1001-1012"
    assert [(f["sequence"], f["frames"]) for f in document["short_frames"]] == [(pattern, "1005")]
    code, out, _ = ctl(capsys, studio, "show", "bifrost:///shot/demo/sq010/sh0100")
    assert code == 0 and f"outside the range: {pattern} frames 1013-1024" in out
    code, out, _ = ctl(capsys, studio, "show", "--json", "bifrost:///shot/demo/sq010/sh0100")
    assert {f["kind"] for f in json.loads(out)["frame_drift"]} == {"outside_range", "short"}


# -- the config's edit section -------------------------------------------------------------
def test_the_edit_section_is_checked_with_line_and_key(tmp_path):
    from bifrostd.config import load_config
    from bifrostd.errors import ConfigError

    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\nedit:\n  name_patern: x\n  rate: 0\n  start_frame: soon\n"
                      "  name_pattern: '(?P<sequence>sq\\d+)'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:3:3: edit.name_patern: unknown option (did you mean 'name_pattern'?)" in text
    assert "edit.rate: must be frames per second" in text and "edit.start_frame: must be a whole number" in text
    assert "edit.name_pattern: needs the named group (?P<shot>...)" in text
    config.write_text("schema: bifrost.config.1\nedit:\n  rate: 30000/1001\n  start_frame: 101\n")
    assert load_config(config).edit.rate == "30000/1001" and load_config(config).edit.start_frame == 101


def test_the_config_gives_the_defaults_and_options_override_them(studio, capsys):
    with studio.open("a") as config:
        config.write("edit:\n  name_pattern: '(?P<sequence>sq\\d{3})-(?P<shot>sh\\d{4})'\n  start_frame: 1\n"
                     "  rate: 50\n")
    otio = str(EDITS / "sq020_cut_v003.otio")
    code, out, _ = ctl(capsys, studio, "shots", "import", otio, "--dry-run", "--json")
    frames = [s["frames"]["cut_out"] for s in json.loads(out)["shots"]]
    assert code == 0 and frames == [100, 60, 80]  # from frame 1, counted at 50 fps
    code, out, _ = ctl(capsys, studio, "shots", "import", otio, "--dry-run", "--json", "--start", "1001",
                       "--rate", "25")
    assert [s["frames"]["cut_out"] for s in json.loads(out)["shots"]] == [1050, 1030, 1040]


def test_a_broken_sidecar_stops_the_import_before_anything_is_written(studio, capsys):
    sidecar = shot_folder(studio, "sq010", "sh0300") / ".bifrost-entity.yaml"
    sidecar.write_text("schema: bifrost.entity.1\nframes: [1001]\n")
    before = tree(studio)
    code, _, err = ctl(capsys, studio, "shots", "import", str(EDITS / "sq010_cut_v001.edl"))
    assert code == 18 and str(sidecar) in err
    assert tree(studio) == before and read_sidecar(shot_folder(studio, "sq010", "sh0100")).data.frames is None
