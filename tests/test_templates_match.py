"""Matching and formatting paths with a compiled template set."""

from __future__ import annotations

import pytest

from bifrostd.errors import FieldValueError, ResolveError
from bifrostd.templates import load_template_set

SHOT = "/mnt/projects/demo/sequences/sq010/sh0100"


@pytest.mark.parametrize(
    ("path", "template", "fields"),
    [
        (f"{SHOT}/anim/work/maya/sh0100_anim_v003.ma", "shot_work_maya",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": 3, "ext": "ma"}),
        (f"{SHOT}/anim/work/maya/sh0100_anim_alt_v012.mb", "shot_work_maya",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "name": "alt", "version": 12, "ext": "mb"}),
        (f"{SHOT}/comp/render/v003/sh0100_comp_v003.1001.exr", "shot_render",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 3, "frame": 1001}),
        (f"{SHOT}/comp/render/v003/sh0100_comp_v003.####.exr", "shot_render",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 3, "frame": "####"}),
        (f"{SHOT}/comp/render/v003/sh0100_comp_v003.%04d.exr", "shot_render",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 3, "frame": "%04d"}),
        (f"{SHOT}/comp/render/v1000/sh0100_comp_v1000.$F4.exr", "shot_render",
         {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 1000, "frame": "$F4"}),
        (SHOT, "shot_root", {"project": "demo", "sequence": "sq010", "shot": "sh0100"}),
        ("/mnt/projects/demo/assets/prop/chair/model/publish/v002/tex/chair_wood.1001.exr", "asset_texture",
         {"project": "demo", "asset_type": "prop", "asset": "chair", "task": "model", "version": 2, "name": "wood", "udim": 1001}),
        ("/mnt/projects/demo/assets/prop/chair/model/publish/v002/tex/chair_wood.<UDIM>.exr", "asset_texture",
         {"project": "demo", "asset_type": "prop", "asset": "chair", "task": "model", "version": 2, "name": "wood", "udim": "<UDIM>"}),
    ],
)
def test_paths_resolve_to_template_and_typed_fields(small_set, path, template, fields):
    found = small_set.match(path)
    assert found is not None and not found.ambiguous
    assert found.template.name == template
    assert found.fields == fields
    assert small_set.format(template, fields) == path


@pytest.mark.parametrize(
    "path",
    [
        f"{SHOT}/anim/work/maya/sh0100_anim_v03.ma",  # padding too short (strict)
        f"{SHOT}/anim/work/maya/sh0100_anim_v0003.ma",  # padding too long (strict)
        f"{SHOT}/anim/work/maya/sh0100_anim_v003.txt",  # extension not a choice
        f"{SHOT}/comp/render/v003/sh0100_comp_v004.1001.exr",  # repeated {version} disagrees
        f"{SHOT}/comp/render/v003/sh0200_comp_v003.1001.exr",  # repeated {shot} disagrees
        f"{SHOT}/comp/render/v003/sh0100_comp_v003.###.exr",  # frame placeholder of the wrong width
        f"{SHOT}/fx/work/maya/sh0100_fx_v003.ma",  # task not a choice
        "/mnt/projects/demo/assets/prop/chair/model/publish/v002/tex/chair_wood.0999.exr",  # not a UDIM
        "/mnt/projects/demo/.DS_Store",
        "/elsewhere/demo/sequences/sq010/sh0100",  # under no root
        "/mnt/projects",
    ],
)
def test_paths_that_do_not_fit_match_nothing(small_set, path):
    assert small_set.match(path) is None


def test_strict_padding_accepts_wider_numbers_without_leading_zero(small_set):
    found = small_set.match(f"{SHOT}/anim/work/maya/sh0100_anim_v1234.ma")
    assert found.fields["version"] == 1234
    assert small_set.match(f"{SHOT}/anim/work/maya/sh0100_anim_v01234.ma") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#", "####"), ("%d", "%04d"), ("$F", "$F4"), ("@", "@@@@"), ("####", "####"), (7, "0007"), (-12, "-0012")],
)
def test_frame_values_and_placeholders_are_normalised_to_the_key_padding(small_set, value, expected):
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "comp", "version": 3, "frame": value}
    path = small_set.format("shot_render", fields)
    assert path.endswith(f"sh0100_comp_v003.{expected}.exr")


def test_optional_part_is_written_only_with_its_value(small_set):
    base = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": 7, "ext": "ma"}
    assert small_set.format("shot_work_maya", base).endswith("/sh0100_anim_v007.ma")
    assert small_set.format("shot_work_maya", {**base, "name": "alt"}).endswith("/sh0100_anim_alt_v007.ma")


def test_inline_padding_overrides_the_key(small_set):
    fields = {"project": "demo", "asset_type": "prop", "asset": "chair", "task": "model", "version": 2, "name": "wood", "udim": 1001}
    assert "/publish/v002/" in small_set.format("asset_texture", fields)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("project", "../etc", "'..'"),
        ("project", "de/mo", "separator"),
        ("project", "de\\mo", "separator"),
        ("project", "de\x00mo", "control character"),
        ("project", "de\nmo", "control character"),
        ("project", "", "empty"),
        ("name", ".", "'.'"),
        ("name", "x/../../etc", "separator"),
        ("task", "fx", "one of"),
        ("version", "seven", "integer"),
        ("version", -1, "negative"),
    ],
)
def test_format_rejects_values_that_could_escape_the_root_or_are_invalid(small_set, name, value, message):
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": 3, "ext": "ma", "name": "main"}
    fields[name] = value
    with pytest.raises(FieldValueError, match=message):
        small_set.format("shot_work_maya", fields)


def test_format_names_missing_fields(small_set):
    with pytest.raises(FieldValueError, match="needs a value for sequence, shot"):
        small_set.format("shot_root", {"project": "demo"})


def test_unknown_template_suggests_a_name(small_set):
    with pytest.raises(ResolveError, match="did you mean 'shot_root'"):
        small_set.format("shot_roots", {})


def test_format_per_os(small_set):
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100"}
    assert small_set.format("shot_root", fields, os_name="windows") == r"P:\projects\demo\sequences\sq010\sh0100"
    assert small_set.format("shot_root", fields, os_name="mac") == "/Volumes/projects/demo/sequences/sq010/sh0100"


def test_a_path_matched_by_two_templates_of_equal_priority_is_ambiguous_not_first(small_set_dir):
    text = (small_set_dir / "studio.yaml").read_text()
    text += "  shot_review_comp: {path: '{@shot_task}/review/{shot}_comp_v{version}.mov', entity: version}\n"
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    found = template_set.match(f"{SHOT}/comp/review/sh0100_comp_v001.mov")
    assert found.ambiguous and found.template is None
    assert set(found.candidates) == {"shot_review", "shot_review_comp"}
    # the other tasks are not ambiguous
    assert template_set.match(f"{SHOT}/anim/review/sh0100_anim_v001.mov").template.name == "shot_review"


def test_priority_resolves_an_overlap_explicitly(small_set_dir):
    text = (small_set_dir / "studio.yaml").read_text()
    text += "  shot_review_comp: {path: '{@shot_task}/review/{shot}_comp_v{version}.mov', entity: version, priority: 10}\n"
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    assert template_set.match(f"{SHOT}/comp/review/sh0100_comp_v001.mov").template.name == "shot_review_comp"


def test_custom_pattern_values_with_dot_dot_never_parse(small_set_dir):
    text = (small_set_dir / "studio.yaml").read_text().replace("name: {type: str, default: main}", "name: {type: str, pattern: '[a-z.]+', default: main}")
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    base = "/mnt/projects/demo/assets/prop/chair/model/publish/v002/tex/chair_"
    assert template_set.match(base + "a.b.1001.exr").fields["name"] == "a.b"
    assert template_set.match(base + "a..b.1001.exr") is None


def test_fields_shared_by_aliased_keys_are_typed_by_any_key_that_accepts_them(small_set_dir):
    text = (small_set_dir / "studio.yaml").read_text().replace(
        "  maya_ext: {type: str, choices: [ma, mb], alias: ext}",
        "  maya_ext: {type: str, choices: [ma, mb], alias: ext}\n  nuke_ext: {type: str, choices: [nk], alias: ext}")
    text += "  shot_work_nuke: {path: '{@shot_task}/work/nuke/{shot}_{task}_v{version}.{nuke_ext}', entity: version}\n"
    (small_set_dir / "studio.yaml").write_text(text)
    template_set = load_template_set(small_set_dir)
    assert template_set.convert_fields({"ext": "ma", "version": "7"}) == {"ext": "ma", "version": 7}
    assert template_set.convert_fields({"ext": "nk"}) == {"ext": "nk"}
    with pytest.raises(FieldValueError, match="must be one of nk"):
        template_set.convert_fields({"ext": "ma"}, template_set.template("shot_work_nuke"))


def test_windows_paths_match_with_either_separator_and_any_root_case(small_set):
    from dataclasses import replace

    windows = replace(small_set, os_name="windows")
    for path in (r"P:\projects\demo\sequences\sq010\sh0100", "p:/Projects/demo/sequences/sq010/sh0100"):
        found = windows.match(path)
        assert found.template.name == "shot_root" and found.relative == "demo/sequences/sq010/sh0100"
    assert windows.match(r"Q:\projects\demo\sequences\sq010\sh0100") is None


@pytest.mark.parametrize("digits", ["٠٠٣", "００３", "߀߀߃"])
def test_only_ascii_digits_are_numbers_in_either_direction(small_set, digits):
    assert small_set.match(f"{SHOT}/anim/work/maya/sh0100_anim_v{digits}.ma") is None
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": digits, "ext": "ma"}
    with pytest.raises(FieldValueError, match="must be an integer"):
        small_set.format("shot_work_maya", fields)
    with pytest.raises(FieldValueError):
        small_set.format("shot_render", {**fields, "version": 3, "frame": digits})
