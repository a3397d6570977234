"""Entity reference URIs: stable, unambiguous, and resolving back to the same entity."""

from __future__ import annotations

import pytest

from bifrostd.errors import ResolveError
from bifrostd.templates import parse_reference
from bifrostd.templates.references import resolve_reference

SHOT = "/mnt/projects/demo/sequences/sq010/sh0100"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        (SHOT, "bifrost:///shot/demo/sq010/sh0100"),
        (f"{SHOT}/anim", "bifrost:///task/shot/demo/sq010/sh0100/anim"),
        (f"{SHOT}/anim/work/maya/sh0100_anim_v003.ma", "bifrost:///version/shot/demo/sq010/sh0100/anim/3"),
        ("/mnt/projects/demo/assets/prop/chair/model", "bifrost:///task/asset/demo/prop/chair/model"),
        ("/mnt/projects/demo/assets/prop/chair", "bifrost:///asset/demo/prop/chair"),
    ],
)
def test_paths_give_entity_uris_that_resolve_back(small_set, path, uri):
    found = small_set.match(path)
    assert found.entity.uri(small_set.entities) == uri
    parsed = parse_reference(uri, small_set.entities)
    assert small_set.convert_fields(parsed.fields) == found.entity.fields


def test_reference_resolves_to_the_entity_folder(small_set):
    resolved = resolve_reference(small_set, "bifrost:///shot/demo/sq010/sh0100")
    assert resolved.path == SHOT and resolved.template.name == "shot_root"
    assert resolve_reference(small_set, "bifrost:///shot/demo/sq010/sh0100", os_name="windows").path == r"P:\projects\demo\sequences\sq010\sh0100"


def test_reference_with_template_and_query_fields(small_set):
    uri = "bifrost:///version/shot/demo/sq010/sh0100/anim/3?template=shot_work_maya&ext=ma&name=alt"
    resolved = resolve_reference(small_set, uri)
    assert resolved.path == f"{SHOT}/anim/work/maya/sh0100_anim_alt_v003.ma"
    assert small_set.match(resolved.path).entity == resolved.entity


def test_reference_picks_the_template_that_uses_the_fields_given(small_set):
    uri = "bifrost:///version/shot/demo/sq010/sh0100/anim/3"
    assert resolve_reference(small_set, uri).template.name == "shot_review"
    assert resolve_reference(small_set, uri + "?ext=ma").template.name == "shot_work_maya"
    assert resolve_reference(small_set, uri + "?frame=%23").path.endswith("/render/v003/sh0100_anim_v003.####.exr")


def test_version_reference_needs_a_template_when_several_fit(small_set_dir):
    from bifrostd.templates import load_template_set

    text = (small_set_dir / "studio.yaml").read_text()
    text += "  shot_review_mp4: {path: '{@shot_task}/review/{shot}_{task}_v{version}.mp4', entity: version}\n"
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    with pytest.raises(ResolveError, match=r"several templates define a version \(shot_review, shot_review_mp4\); add \?template=NAME"):
        resolve_reference(template_set, "bifrost:///version/shot/demo/sq010/sh0100/anim/3")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bifrost:///shots/demo/sq010/sh0100", "unknown entity kind"),
        ("bifrost:///shot/demo/sq010", "has 3 values"),
        ("bifrost:///task/demo/sq010/sh0100/anim", "names its parent kind"),
        ("bifrost:///shot/demo/sq010/..", "invalid value"),
        ("bifrost:///shot/demo/sq010/sh0100%2F..%2F..", "invalid value"),
        ("bifrost://host/shot/demo", "not a reference"),
    ],
)
def test_bad_references_are_clear_errors(small_set, uri, message):
    with pytest.raises(Exception, match=message):
        resolve_reference(small_set, uri)


def test_a_folder_wins_over_a_file_needing_the_same_fields(small_set_dir):
    from bifrostd.templates import load_template_set

    text = (small_set_dir / "studio.yaml").read_text()
    text += "  shot_notes: {path: '{@shot_root}/notes.txt', entity: shot}\n"
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    assert resolve_reference(template_set, "bifrost:///shot/demo/sq010/sh0100").template.name == "shot_root"


#: A set whose key admits what no value may be: ':' and '.', spaces, device names. Format-time checks must hold
#: whatever a pattern lets through.
LOOSE = """\
schema: bifrost.templates.1
roots:
  projects: {linux: /mnt/projects, windows: 'P:\\projects', mac: /Volumes/projects}
keys:
  project: {type: str, pattern: '[A-Za-z0-9:. ]+'}
  num: {type: int}
templates:
  note: {path: '{project}.txt', entity: project}
  port: {path: 'ports/lpt{num}/x.txt'}
"""


@pytest.fixture
def loose_set(tmp_path):
    from bifrostd.templates import load_template_set

    (tmp_path / "loose.yaml").write_text(LOOSE)
    return load_template_set(tmp_path / "loose.yaml")


@pytest.mark.parametrize("value", [
    "C:evil", "D:secrets", "c:", "x:y", "con", "NUL", "Aux", "prn", "com1", "COM9", "lpt1", "lpt9",
    "nul.txt", "con.tar.gz", "com1.", "name.", "name ", "name. ", "...",
])
@pytest.mark.parametrize("os_name", ["windows", "linux", "mac"])
def test_values_never_form_a_drive_a_device_or_a_windows_trailing_dot(loose_set, value, os_name):
    from bifrostd.errors import FieldValueError

    with pytest.raises(FieldValueError, match="invalid value"):
        loose_set.format("note", {"project": value}, os_name=os_name)
    with pytest.raises(FieldValueError, match="invalid value"):
        resolve_reference(loose_set, "bifrost:///project/" + value.replace(" ", "%20"), os_name=os_name)


@pytest.mark.parametrize("value", ["console", "nullify", "com10", "lpt", "auxiliary", "A.B", "v1.2"])
def test_names_that_only_resemble_devices_are_values(loose_set, value):
    assert loose_set.format("note", {"project": value}, os_name="windows") == f"P:\\projects\\{value}.txt"


def test_a_formatted_segment_that_names_a_device_is_refused(loose_set):
    from bifrostd.errors import FieldValueError

    assert loose_set.format("port", {"num": 10}, os_name="windows") == r"P:\projects\ports\lpt10\x.txt"
    with pytest.raises(FieldValueError, match="'lpt1' is a device name on Windows"):
        loose_set.format("port", {"num": 1}, os_name="windows")


@pytest.mark.parametrize("relative", ["C:evil.txt", "a/D:x", "\\\\server\\share\\x", "a/\\\\?\\c:\\x"])
def test_joining_for_windows_never_drops_the_root(relative):
    from bifrostd.errors import FieldValueError
    from bifrostd.templates.templateset import join_root

    with pytest.raises(FieldValueError, match="would not stay inside its root"):
        join_root(r"P:\projects", relative, "windows")


def test_the_reported_escapes_are_refused_by_the_commands(tmp_path, capsys):
    from bifrostd.cli import main

    (tmp_path / "loose.yaml").write_text(LOOSE)
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: loose.yaml\nstate: state\n")
    assert main(["--config", str(config), "path", "--os", "windows", "note", "project=C:evil"]) == 5
    assert "contains ':'" in capsys.readouterr().err
    assert main(["--config", str(config), "resolve", "--os", "windows", "bifrost:///project/D:secrets"]) == 5
    assert "contains ':'" in capsys.readouterr().err


def test_the_scheme_of_a_reference_is_case_insensitive(small_set):
    from bifrostd.templates import is_reference

    for uri in ("BIFROST:///shot/demo/sq010/sh0100", "Bifrost:///shot/demo/sq010/sh0100"):
        assert is_reference(uri)
        resolved = resolve_reference(small_set, uri)
        assert resolved.path == SHOT and resolved.entity.uri(small_set.entities) == "bifrost:///shot/demo/sq010/sh0100"
    assert not is_reference("bifrostx:///shot") and not is_reference("/mnt/bifrost:/x")


@pytest.mark.parametrize("query", ["ext=ma&ext=mb", "ext=ma&name=a&ext=ma", "template=shot_work_maya&template=shot_review"])
def test_a_repeated_query_field_is_refused(small_set, query):
    uri = f"bifrost:///version/shot/demo/sq010/sh0100/anim/3?{query}"
    with pytest.raises(ResolveError, match=r"gives the query field '(ext|template)' 2 times; give it once") as caught:
        resolve_reference(small_set, uri)
    assert caught.value.exit_code == 6


def test_matching_through_a_loose_pattern_refuses_what_formatting_refuses(loose_set):
    assert loose_set.match("/mnt/projects/demo.txt").fields == {"project": "demo"}
    for name in ("nul.txt", "con.txt", "a..txt", "a .txt", "C:x.txt"):
        assert loose_set.match(f"/mnt/projects/{name}") is None
