"""USD layers read at the Sdf level with real usd-core: every arc kind, variants, time samples, UDIM tiles,
frame tokens, clips, missing files, a broken layer; and the pure token expansion with a fake listdir."""

from __future__ import annotations

import posixpath
import re
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.errors import PackageMissing
from bifrostd.usd.model import Arc
from bifrostd.usd.tokens import anchor, expand, is_pattern

pytest.importorskip("pxr")

from bifrostd.usd.extract import read_dependencies  # noqa: E402
from bifrostd.usd.outline import outline  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "usd"
#: The parser's words name the file and line 4: "broken.usda:4:1: Expected }" (usd-core 26), "syntax error at ''
#: in </hero> on line 4 in file .../broken.usda" (24.x)
BROKEN = r"broken\.usda:4:1: Expected \}|line 4 in file .*broken\.usda"


@pytest.fixture(scope="module")
def hero():
    return read_dependencies(str(FIXTURES / "hero.usda"))


def edges(result, kind):
    return [(d.prim, d.field, d.time, d.authored) for d in result.dependencies if d.kind is kind]


def test_sublayers_in_order_with_bifrost_uris_kept_as_entities(hero):
    assert edges(hero, Arc.SUBLAYER) == [("/", "", None, "./look.usda"),
                                         ("/", "", None, "bifrost:///task/asset/demo/character/hero/rig?version=latest")]
    uri = hero.dependencies[1]
    assert uri.entity == uri.authored and uri.anchored is None and not uri.missing


def test_references_and_payloads_inside_variants_carry_the_variant_path(hero):
    assert edges(hero, Arc.REFERENCE) == [("/hero{modelVariant=full}extra", "", None, "./geo.usda")]
    assert edges(hero, Arc.PAYLOAD) == [("/hero", "", None, "./geo.usda"),
                                        ("/hero{modelVariant=proxy}", "", None, "./geo_proxy.usda")]


def test_an_internal_reference_is_no_dependency(hero):
    assert all(d.prim != "/hero/internal" for d in hero.dependencies)


def test_asset_attributes_default_arrays_and_time_samples(hero):
    found = edges(hero, Arc.ATTRIBUTE)
    assert ("/hero", "extraFiles", None, "./missing.png") in found
    assert [e for e in found if e[1] == "cachePath"] == [("/hero", "cachePath", 1.0, "./cache/hero.0001.abc"),
                                                         ("/hero", "cachePath", 2.0, "./cache/hero.0002.abc")]


def test_asset_valued_metadata_of_prims_and_of_the_layer(hero):
    assert edges(hero, Arc.METADATA) == [("/", "customLayerData.notes", None, "./notes.txt"),
                                         ("/hero", "assetInfo.identifier", None, "./hero.usda")]


def test_value_clips(hero):
    assert [(f, a) for _, f, _, a in edges(hero, Arc.CLIP)] == [
        ("default.assetPaths", "./cache/clip.0001.usd"), ("default.assetPaths", "./cache/clip.0002.usd"),
        ("default.manifestAssetPath", "./cache/manifest.usda")]


def test_a_clip_template_expands_to_the_clip_files_on_disk():
    found = read_dependencies(str(FIXTURES / "clip_template.usda"))
    template = next(d for d in found.dependencies if d.field == "default.templateAssetPath")
    assert template.pattern and [Path(f).name for f in template.files] == ["anim.001.usd", "anim.002.usd"]


@pytest.mark.parametrize("field, names", [
    ("texture", ["hero_diffuse.1001.exr", "hero_diffuse.1002.exr"]),
    ("frameSeq", ["hero.1001.vdb", "hero.1002.vdb"]),
    ("houdiniSeq", ["hero.1001.vdb", "hero.1002.vdb"]),
])
def test_udim_and_frame_tokens_expand_to_the_files_that_exist(hero, field, names):
    dep = next(d for d in hero.dependencies if d.field == field)
    assert dep.pattern and [Path(f).name for f in dep.files] == names and not dep.missing


def test_paths_are_anchored_to_the_layers_folder_and_missing_files_flagged(hero):
    geo = next(d for d in hero.dependencies if d.kind is Arc.PAYLOAD)
    assert geo.anchored == str(FIXTURES / "geo.usda") and geo.files == (geo.anchored,)
    assert sorted(d.authored for d in hero.missing) == ["./geo_proxy.usda", "./missing.png"]


def test_json_is_plain_data(hero):
    document = hero.to_json()
    assert document["schema"] == "bifrost.usd.dependencies.1" and document["error"] is None
    assert document["dependencies"][0] == {
        "kind": "sublayer", "prim": "/", "field": "", "time": None, "authored": "./look.usda",
        "anchored": str(FIXTURES / "look.usda"), "entity": None, "evaluated": None, "pattern": False,
        "files": [str(FIXTURES / "look.usda")], "missing": False}


def test_a_resolver_asked_turns_entity_uris_into_paths(hero):
    found = read_dependencies(str(FIXTURES / "hero.usda"), resolve=lambda uri: str(FIXTURES / "geo.usda"))
    rig = next(d for d in found.dependencies if d.entity)
    assert rig.anchored == str(FIXTURES / "geo.usda") and rig.files == (rig.anchored,)
    nowhere = read_dependencies(str(FIXTURES / "hero.usda"), resolve=lambda uri: str(FIXTURES / "gone.usda"))
    assert next(d for d in nowhere.dependencies if d.entity).missing  # resolved, but no file there


def test_a_broken_layer_is_an_error_value_naming_file_and_line():
    found = read_dependencies(str(FIXTURES / "broken.usda"))
    assert found.dependencies == () and re.search(BROKEN, found.error)


def test_a_missing_layer_is_an_error_value(tmp_path):
    assert read_dependencies(str(tmp_path / "nope.usda")).error == "no such file"


def test_a_changed_layer_is_read_anew(tmp_path):
    layer = tmp_path / "a.usda"
    layer.write_text('#usda 1.0\n(\n    subLayers = [@./b.usda@]\n)\n')
    assert [d.authored for d in read_dependencies(str(layer)).dependencies] == ["./b.usda"]
    layer.write_text('#usda 1.0\n(\n    subLayers = [@./c.usda@]\n)\n')
    assert [d.authored for d in read_dependencies(str(layer)).dependencies] == ["./c.usda"]


def test_a_crate_layer_reads_as_text_does(tmp_path):
    from pxr import Sdf

    shutil.copytree(FIXTURES, tmp_path / "usd")
    Sdf.Layer.FindOrOpen(str(tmp_path / "usd" / "hero.usda")).Export(str(tmp_path / "usd" / "hero.usdc"))
    text = read_dependencies(str(tmp_path / "usd" / "hero.usda"))
    crate = read_dependencies(str(tmp_path / "usd" / "hero.usdc"))
    assert [d.to_json() for d in crate.dependencies] == [d.to_json() for d in text.dependencies]


def test_the_outline_lists_the_stack_variants_and_arcs_per_prim():
    found = outline(str(FIXTURES / "hero.usda"))
    assert [(d, Path(p).name if e is None else p) for d, p, e in found.stack] == [
        (0, "hero.usda"), (1, "look.usda"), (1, "bifrost:///task/asset/demo/character/hero/rig?version=latest")]
    prims = {p.path: p for p in found.prims}
    assert prims["/hero"].payloads == ("@./geo.usda@</hero>",)
    assert [(v.name, v.variants, v.selection) for v in prims["/hero"].variant_sets] == [
        ("modelVariant", ("full", "proxy"), "full")]
    assert prims["/hero{modelVariant=proxy}"].payloads == ("@./geo_proxy.usda@",)
    assert prims["/hero/internal"].references == ("</hero/clipped>",)


def test_the_outline_of_a_broken_layer_says_why():
    found = outline(str(FIXTURES / "broken.usda"))
    assert found.prims == () and re.search(BROKEN, found.to_json()["error"])


def test_without_usd_core_the_error_says_how_to_install_it(monkeypatch):
    from bifrostd.usd.loader import pxr

    for name in [n for n in sys.modules if n == "pxr" or n.startswith("pxr.")]:
        monkeypatch.setitem(sys.modules, name, None)
    pxr.cache_clear()
    with pytest.raises(PackageMissing, match=r"pip install 'bifrostd\[usd\]'") as caught:
        pxr("Sdf")
    assert caught.value.exit_code == 16


# -- the pure part: anchoring and token expansion ------------------------------------------
@pytest.mark.parametrize("authored, anchored", [
    ("./a.usda", "/show/sh/a.usda"), ("../b/c.usda", "/show/b/c.usda"), ("d.usda", "/show/sh/d.usda"),
    ("/abs/e.usda", "/abs/e.usda"), ("P:\\proj\\f.usda", "P:\\proj\\f.usda"), ("\\\\srv\\s\\g.usda", "\\\\srv\\s\\g.usda"),
    ("bifrost:///asset/x", None), ("https://example.com/x.usda", None), ("", None),
])
def test_anchor(authored, anchored):
    assert anchor("/show/sh", authored) == anchored


NAMES = ["t.1001.exr", "t.1002.exr", "t.1011.exr", "t.101.exr", "c.0001.abc", "c.0002.abc", "c.12345.abc", "x.txt"]


@pytest.mark.parametrize("pattern, expected", [
    ("/f/t.<UDIM>.exr", ["t.1001.exr", "t.1002.exr", "t.1011.exr"]),
    ("/f/c.####.abc", ["c.0001.abc", "c.0002.abc", "c.12345.abc"]),
    ("/f/c.$F4.abc", ["c.0001.abc", "c.0002.abc", "c.12345.abc"]),
    ("/f/c.%04d.abc", ["c.0001.abc", "c.0002.abc", "c.12345.abc"]),
    ("/f/t.###.exr", ["t.1001.exr", "t.1002.exr", "t.101.exr", "t.1011.exr"]),
    ("/f/none.<UDIM>.exr", []),
])
def test_expand_patterns_against_a_listing(pattern, expected):
    found = expand(pattern, listdir=lambda folder: NAMES if folder == "/f" else [])
    assert is_pattern(pattern) and found == tuple(f"/f/{n}" for n in expected)


def test_expand_a_plain_path_asks_only_whether_it_exists():
    assert expand("/f/x.txt", listdir=lambda f: pytest.fail("listed"), exists=lambda p: True) == ("/f/x.txt",)
    assert expand("/f/y.txt", exists=lambda p: False) == ()


def test_expand_in_a_folder_that_is_gone():
    def gone(folder):
        raise FileNotFoundError(folder)
    assert expand("/gone/t.<UDIM>.exr", listdir=gone) == ()


def test_expression_paths_are_evaluated_with_the_layers_variables(tmp_path):
    (tmp_path / "rig" / "v003").mkdir(parents=True)
    (tmp_path / "rig" / "v003" / "rig.usda").touch()
    layer = tmp_path / "shot.usda"
    layer.write_text('#usda 1.0\n(\n    expressionVariables = {\n        string RIG = "v003"\n    }\n'
                     '    subLayers = [@`"./rig/${RIG}/rig.usda"`@, @`"./rig/${NOPE}/rig.usda"`@, @./plain.usda@]\n)\n')
    rig, unknown, plain = read_dependencies(str(layer)).dependencies
    assert rig.authored == '`"./rig/${RIG}/rig.usda"`' and rig.evaluated == "./rig/v003/rig.usda"
    assert rig.files == (str(tmp_path / "rig" / "v003" / "rig.usda"),) and not rig.missing
    assert unknown.evaluated != "./rig/v003/rig.usda" and unknown.missing is (unknown.anchored is not None)
    assert plain.evaluated is None and plain.to_json()["evaluated"] is None


segment = st.sampled_from(["a", "b", "c", ".."])


@given(st.lists(segment, min_size=1, max_size=5), st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
       st.lists(st.sampled_from(["x", "y"]), max_size=3))
def test_a_rebased_path_names_the_same_file_from_the_new_folder(parts, old, new):
    from bifrostd.usd.rewrite import rebase

    authored = "./" + "/".join(parts)
    old_folder, new_folder = "/r/" + "/".join(old), "/r/" + "/".join(new)
    moved = rebase(authored, posixpath.normpath(old_folder), posixpath.normpath(new_folder))
    assert moved.startswith(("./", "../"))
    assert posixpath.normpath(posixpath.join(new_folder, moved)) == posixpath.normpath(posixpath.join(old_folder, authored))
