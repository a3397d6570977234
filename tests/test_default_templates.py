"""The default studio templates: clean, round-tripping, schema-valid, and resolving known studio paths."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from bifrostd.demo import default_templates_dir
from bifrostd.templates import load_template_set
from bifrostd.templates.check import check_template_set
from bifrostd.templates.references import resolve_reference

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = default_templates_dir()
P = "/mnt/projects/demo"
R = "/mnt/renders/demo"


@pytest.fixture(scope="module")
def default_set():
    return load_template_set(TEMPLATES)


def test_the_default_templates_are_the_repository_folder():
    assert TEMPLATES == REPO / "templates"
    assert {p.name for p in TEMPLATES.glob("*.yaml")} >= {"core.yaml", "assets.yaml", "shots.yaml", "editorial.yaml"}


def test_the_default_set_has_no_problems_and_at_least_40_templates():
    template_set, problems = check_template_set(TEMPLATES)
    assert [str(p) for p in problems] == []
    assert len(template_set.templates) >= 40


def test_core_yaml_alone_includes_the_whole_set(default_set):
    alone = load_template_set(TEMPLATES / "core.yaml")
    assert set(alone.templates) == set(default_set.templates)


def test_the_default_entity_kinds_are_kept(default_set):
    kinds = {name: (kind.keys, kind.parents) for name, kind in default_set.entities.items()}
    assert kinds["project"] == (("project",), ())
    assert kinds["sequence"] == (("sequence",), ("project",))
    assert kinds["shot"] == (("shot",), ("sequence",))
    assert kinds["asset"] == (("asset_type", "asset"), ("project",))
    assert kinds["task"] == (("task",), ("shot", "asset"))
    assert kinds["version"] == (("version",), ("task",))


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.name)
def test_each_file_validates_against_the_json_schema(path):
    schema = json.loads((REPO / "schemas" / "templates.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("document", [
    {"keys": {"version": {"type": "int", "pading": 3}}},
    {"keys": {"udim": {"type": "udim", "padding": 4}}},
    {"templates": {"shot": {"path": "{shot}", "prority": 1}}},
    {"roots": {"projects": {"linx": "/mnt/projects"}}},
    {"template": {}},
    {"schema": "bifrost.templates.2"},
], ids=["key option", "udim padding", "template option", "root os", "section", "schema id"])
def test_the_schema_rejects_what_the_loader_rejects(document):
    schema = json.loads((REPO / "schemas" / "templates.schema.json").read_text())
    assert not jsonschema.Draft202012Validator(schema).is_valid(document)


# -- round trips -------------------------------------------------------------------------
SAMPLES = (
    {"project": "demo", "sequence": "sq010", "shot": "sh0100", "asset": "hero", "version": 3, "name": "alt",
     "frame": 1001, "udim": 1001, "aov": "beauty", "texture_set": "body", "channel": "BaseColor", "plate": "bg01",
     "cut": "main", "turnover": 1},
    {"project": "abc2", "sequence": "sq999", "shot": "sh0010", "asset": "oakTree", "version": 1000, "name": "v2",
     "frame": "####", "udim": "<UDIM>", "aov": "specularDirect", "texture_set": "eyes2", "channel": "Roughness",
     "plate": "fg02", "cut": "director", "turnover": 1234},
)


def _value(key, sample: dict, index: int):
    if key.choices:
        return key.choices[index % len(key.choices)]
    if key.field == "ext":
        return ("jpg", "pdf")[index]
    return sample[key.field]


def _fields(template, index: int) -> dict:
    return {key.field: _value(key, SAMPLES[index], index) for key in template.keys.values()}


@pytest.mark.parametrize("index", [0, 1])
def test_every_template_round_trips(default_set, index):
    for name, template in default_set.templates.items():
        fields = _fields(template, index)
        relative = template.format(fields)
        match = default_set.match_relative(template.root, relative)
        assert match is not None and match.template is not None, (name, relative)
        assert match.template.name == name, (name, relative, match.template.name)
        assert match.fields == fields, (name, relative)


def test_optional_name_is_left_out_without_a_value(default_set):
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "anim", "version": 3, "ext": "ma"}
    path = default_set.format("shot_work_maya", fields)
    assert path == f"{P}/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v003.ma"
    assert default_set.match(path).fields == fields


def test_formats_per_os(default_set):
    fields = {"project": "demo", "sequence": "sq010", "shot": "sh0100", "task": "lighting", "version": 3,
              "aov": "beauty", "frame": "#"}
    assert default_set.format("shot_render", fields, os_name="windows") == (
        r"R:\renders\demo\sequences\sq010\sh0100\lighting\render\v003\beauty\sh0100_lighting_beauty_v003.####.exr")
    assert default_set.format("shot_render", fields, os_name="mac").startswith("/Volumes/renders/demo/")


# -- known studio paths ------------------------------------------------------------------
SHOT = f"{P}/sequences/sq010/sh0100"
HERO = f"{P}/assets/character/hero"
KNOWN = [
    (P, "project_root", {"project": "demo"}, "bifrost:///project/demo"),
    (f"{P}/sequences/sq010", "sequence_root", {"sequence": "sq010"}, "bifrost:///sequence/demo/sq010"),
    (SHOT, "shot_root", {"shot": "sh0100"}, "bifrost:///shot/demo/sq010/sh0100"),
    (f"{SHOT}/anim", "shot_task_root", {"task": "anim"}, "bifrost:///task/shot/demo/sq010/sh0100/anim"),
    (f"{SHOT}/anim/work/maya/sh0100_anim_v007.ma", "shot_work_maya", {"version": 7, "ext": "ma"},
     "bifrost:///version/shot/demo/sq010/sh0100/anim/7"),
    (f"{SHOT}/anim/work/maya/sh0100_anim_blocking_v1000.mb", "shot_work_maya", {"name": "blocking", "version": 1000},
     "bifrost:///version/shot/demo/sq010/sh0100/anim/1000"),
    (f"{SHOT}/comp/work/nuke/sh0100_comp_v002.nk", "shot_work_nuke", {"task": "comp", "ext": "nk"},
     "bifrost:///version/shot/demo/sq010/sh0100/comp/2"),
    (f"{SHOT}/fx/work/houdini/sh0100_fx_sim_v012.hiplc", "shot_work_houdini", {"name": "sim", "ext": "hiplc"},
     "bifrost:///version/shot/demo/sq010/sh0100/fx/12"),
    (f"{R}/sequences/sq010/sh0100/lighting/render/v003/beauty/sh0100_lighting_beauty_v003.1001.exr", "shot_render",
     {"aov": "beauty", "version": 3, "frame": 1001}, "bifrost:///version/shot/demo/sq010/sh0100/lighting/3"),
    (f"{R}/sequences/sq010/sh0100/lighting/render/v003/beauty/sh0100_lighting_beauty_v003.%04d.exr", "shot_render",
     {"frame": "%04d"}, "bifrost:///version/shot/demo/sq010/sh0100/lighting/3"),
    (f"{R}/sequences/sq020/sh0100/fx/cache/v001/smoke/sh0100_fx_smoke_v001.1010.vdb", "shot_cache_vdb",
     {"name": "smoke", "frame": 1010}, "bifrost:///version/shot/demo/sq020/sh0100/fx/1"),
    (f"{R}/sequences/sq020/sh0100/fx/cache/v001/debris/sh0100_fx_debris_v001.$F4.bgeo.sc", "shot_cache_bgeo",
     {"frame": "$F4"}, "bifrost:///version/shot/demo/sq020/sh0100/fx/1"),
    (f"{SHOT}/plates/bg01/v001/sh0100_bg01_v001.1001.dpx", "shot_plate", {"plate": "bg01", "ext": "dpx"},
     "bifrost:///shot/demo/sq010/sh0100"),
    (f"{SHOT}/anim/publish/v002/sh0100_anim_hero_v002.abc", "shot_publish_abc", {"asset": "hero"},
     "bifrost:///version/shot/demo/sq010/sh0100/anim/2"),
    (f"{SHOT}/anim/review/sh0100_anim_v002.mov", "shot_review", {"ext": "mov"},
     "bifrost:///version/shot/demo/sq010/sh0100/anim/2"),
    (f"{SHOT}/sh0100.usda", "shot_layer", {"shot": "sh0100"}, "bifrost:///shot/demo/sq010/sh0100"),
    (HERO, "asset_root", {"asset_type": "character", "asset": "hero"}, "bifrost:///asset/demo/character/hero"),
    (f"{HERO}/rig", "asset_task_root", {"task": "rig"}, "bifrost:///task/asset/demo/character/hero/rig"),
    (f"{HERO}/surfacing/publish/v002/textures/hero_body_BaseColor.1001.exr", "asset_texture_udim",
     {"texture_set": "body", "channel": "BaseColor", "udim": 1001, "ext": "exr"},
     "bifrost:///version/asset/demo/character/hero/surfacing/2"),
    (f"{HERO}/surfacing/publish/v002/textures/hero_body_BaseColor.<UDIM>.exr", "asset_texture_udim",
     {"udim": "<UDIM>"}, "bifrost:///version/asset/demo/character/hero/surfacing/2"),
    (f"{HERO}/model/publish/v002/hero_model_v002.usdc", "asset_publish_usd", {"ext": "usdc"},
     "bifrost:///version/asset/demo/character/hero/model/2"),
    (f"{HERO}/lookdev/work/substance/hero_lookdev_v004.spp", "asset_work_substance", {"task": "lookdev"},
     "bifrost:///version/asset/demo/character/hero/lookdev/4"),
    (f"{P}/editorial/cuts/main/main_v002.otio", "editorial_cut", {"cut": "main", "ext": "otio"},
     "bifrost:///cut/demo/main"),
    (f"{P}/editorial/cuts/main/main_v002.mov", "editorial_cut_movie", {"ext": "mov"}, "bifrost:///cut/demo/main"),
    (f"{P}/editorial/turnovers/to007/demo_to007.edl", "editorial_turnover", {"turnover": 7},
     "bifrost:///project/demo"),
]


@pytest.mark.parametrize("path, template, fields, uri", KNOWN, ids=[k[1] + ":" + k[0].rsplit("/", 1)[1] for k in KNOWN])
def test_known_paths_resolve(default_set, path, template, fields, uri):
    match = default_set.match(path)
    assert match is not None and match.template is not None
    assert match.template.name == template
    assert {k: match.fields.get(k) for k in fields} == fields
    assert match.entity.uri(default_set.entities) == uri


@pytest.mark.parametrize("path", [
    f"{SHOT}/anim/work/maya/sh0100_anim_v0012.ma",  # padding is strict: v012, or v1000 and up
    f"{SHOT}/anim/work/maya/sh0100_anim_v12.ma",
    f"{SHOT}/anim/work/maya/sh0200_anim_v001.ma",  # the shot in the file name must be the folder's
    f"{SHOT}/anim/work/maya/sh0100_anim_v001.ma~",
    f"{SHOT}/anim/work/maya/.sh0100_anim_v001.ma.swp",
    f"{SHOT}/anim/work/maya/sh0100_anim_v001 copy.ma",
    f"{SHOT}/anim/work/maya/sh0100_anim_final_final_v001.ma",
    f"{SHOT}/dance/work/maya/sh0100_dance_v001.ma",  # not a task
    f"{SHOT}/.DS_Store",
    f"{SHOT}/notes.txt",
    f"{P}/tmp/scratch.ma",
    f"{P}/Thumbs.db",
    f"{HERO}/surfacing/publish/v002/textures/hero_body_BaseColor.1000.exr",  # UDIM tiles start at 1001
    f"{HERO}/surfacing/publish/v002/textures/villain_body_BaseColor.1001.exr",
    f"{P}/assets/creature/hero",  # not an asset type
    f"{R}/sequences/sq010/sh0100/lighting/render/v003/beauty/render.log",
    "/mnt/elsewhere/demo/sequences/sq010/sh0100",
])
def test_junk_and_near_misses_match_nothing(default_set, path):
    assert default_set.match(path) is None


@pytest.mark.parametrize("uri, path", [
    ("bifrost:///shot/demo/sq010/sh0100", SHOT),
    ("bifrost:///version/shot/demo/sq010/sh0100/anim/3", f"{SHOT}/anim/publish/v003"),
    ("bifrost:///version/asset/demo/character/hero/rig/2", f"{HERO}/rig/publish/v002"),
    ("bifrost:///cut/demo/main", f"{P}/editorial/cuts/main"),
    ("bifrost:///version/shot/demo/sq010/sh0100/anim/3?template=shot_work_houdini&ext=hip",
     f"{SHOT}/anim/work/houdini/sh0100_anim_v003.hip"),
])
def test_references_resolve_to_paths(default_set, uri, path):
    assert resolve_reference(default_set, uri, os_name="linux").path == path
