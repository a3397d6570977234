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
