"""bifrostctl usd inspect / resolve-layer / relativize on the demo studio, with real usd-core."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bifrostd.cli import cli, main

pytest.importorskip("pxr")

from bifrostd import Studio  # noqa: E402
from bifrostd.usd.extract import read_dependencies  # noqa: E402
from test_usd import BROKEN  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "usd"
SHOT = "projects/demo/sequences/sq010/sh0300"
MODEL = "projects/demo/assets/character/hero/model/publish/v002/hero_model_v002.usda"
ANIM = f"{SHOT}/anim/publish/v002/sh0300_anim_v002.usda"
LATEST = "bifrost:///task/asset/demo/character/hero/model?version=latest&template=asset_publish_usd&ext=usda"
NOBODY = "bifrost:///task/asset/demo/character/nobody/model?version=latest&template=asset_publish_usd&ext=usda"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("usd") / "studio"
    for args in (["init", str(folder), "--demo"], ["--config", str(folder), "scan"]):
        assert CliRunner().invoke(cli, args).exit_code == 0
    return folder


def run(demo: Path, *args: str) -> tuple[int, str]:
    """``bifrostctl --config DEMO usd ARGS`` in process, through main's error boundary: (exit code, stdout+stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(demo), "usd", *args])
    return code, out.getvalue() + err.getvalue()


def layer(path: Path, *assets: str, sublayers: tuple[str, ...] = ()) -> Path:
    subs = ", ".join(f"@{s}@" for s in sublayers)
    body = "".join(f"    asset a{i} = @{a}@\n" for i, a in enumerate(assets))
    path.write_text(f'#usda 1.0\n(\n    subLayers = [{subs}]\n)\n\ndef Xform "x"\n{{\n{body}}}\n')
    return path


def authored(path: Path) -> list[str]:
    return [d.authored for d in read_dependencies(str(path)).dependencies]


def test_inspect_the_demo_shot_layer_lists_its_stack(demo):
    code, out = run(demo, "inspect", str(demo / SHOT / "sh0300.usda"), "--json")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "bifrost.usd.inspect.1"
    assert [(s["depth"], Path(s["layer"]).name) for s in document["stack"]] == [
        (0, "sh0300.usda"), (1, "sh0300_anim_v002.usda"), (2, "sh0300_layout_v001.usda"),
        (1, "sh0300_layout_v001.usda"), (1, "sq010_keyLight_v001.usda")]


def test_inspect_takes_a_reference_to_the_layer(demo):
    code, out = run(demo, "inspect", "bifrost:///shot/demo/sq010/sh0300?template=shot_layer")
    assert code == 0 and out.startswith(f"layer {demo / SHOT / 'sh0300.usda'}") and "layer stack:" in out


def test_inspect_a_layer_with_missing_files_or_broken_exits_1(demo):
    code, out = run(demo, "inspect", str(FIXTURES / "hero.usda"))
    assert code == 1 and "./missing.png  [MISSING]" in out and "variant set modelVariant: full, proxy  selected: full" in out
    code, out = run(demo, "inspect", str(FIXTURES / "broken.usda"))
    assert code == 1 and "cannot read:" in out and re.search(BROKEN, out)


def test_relativize_then_resolve_layer_gives_the_original_paths(demo, tmp_path):
    concrete = [str(demo / MODEL), str(demo / ANIM), "/elsewhere/not/ours.txt"]
    source = layer(tmp_path / "in.usda", *concrete[1:], sublayers=(concrete[0],))
    before = source.read_bytes()
    code, out = run(demo, "relativize", str(source), str(tmp_path / "rel.usda"))
    assert code == 0, out
    relative = authored(tmp_path / "rel.usda")
    assert relative[:2] == ["bifrost:///version/asset/demo/character/hero/model/2?template=asset_publish_usd&ext=usda",
                            "bifrost:///version/shot/demo/sq010/sh0300/anim/2?template=shot_publish_usd&ext=usda"]
    assert relative[2] == "/elsewhere/not/ours.txt"
    code, out = run(demo, "resolve-layer", str(tmp_path / "rel.usda"), str(tmp_path / "back.usda"))
    assert code == 0 and authored(tmp_path / "back.usda") == concrete
    assert source.read_bytes() == before  # the original untouched


def test_relativize_takes_windows_spellings_and_paths_relative_to_the_layer(demo, tmp_path):
    windows = Studio.open(demo).path("asset_publish_usd", {"project": "demo", "asset_type": "character", "asset": "hero",
                                                           "task": "model", "version": 2, "ext": "usda"}, os="windows")
    source = layer(demo / SHOT / "rel_test.usda", windows, sublayers=("./anim/publish/v002/sh0300_anim_v002.usda",))
    try:
        code, out = run(demo, "relativize", str(source), str(tmp_path / "out.usda"), "--json")
    finally:
        source.unlink()
    document = json.loads(out)
    assert code == 0 and document["schema"] == "bifrost.usd.relativize.1" and document["written"]
    assert [c["to"] for c in document["changes"]] == [
        "bifrost:///version/shot/demo/sq010/sh0300/anim/2?template=shot_publish_usd&ext=usda",
        "bifrost:///version/asset/demo/character/hero/model/2?template=asset_publish_usd&ext=usda"]


def test_relativize_reports_a_studio_path_that_names_no_entity_file(demo, tmp_path):
    source = layer(tmp_path / "in.usda", str(demo / "projects/demo/nothing_here/x.usda"))
    code, out = run(demo, "relativize", str(source), str(tmp_path / "out.usda"))
    assert code == 1 and "kept " in out and "matches no template" in out


def test_resolve_layer_answers_version_latest_and_writes_for_another_os(demo, tmp_path):
    source = layer(tmp_path / "in.usda", LATEST)
    code, _ = run(demo, "resolve-layer", str(source), str(tmp_path / "out.usda"))
    assert code == 0 and authored(tmp_path / "out.usda") == [str(demo / MODEL)]
    code, _ = run(demo, "resolve-layer", str(source), str(tmp_path / "win.usda"), "--os", "windows")
    assert code == 0 and authored(tmp_path / "win.usda") == [Studio.open(demo).resolve(LATEST, os="windows").path]


def test_resolve_layer_keeps_a_uri_it_cannot_resolve_and_exits_1(demo, tmp_path):
    source = layer(tmp_path / "in.usda", NOBODY, LATEST)
    code, out = run(demo, "resolve-layer", str(source), str(tmp_path / "out.usda"), "--json")
    changes = json.loads(out)["changes"]
    assert code == 1 and changes[0]["to"] is None and changes[0]["reason"] and changes[1]["to"] == str(demo / MODEL)
    assert authored(tmp_path / "out.usda")[0] == NOBODY


def test_dry_run_writes_nothing(demo, tmp_path):
    source = layer(tmp_path / "in.usda", LATEST)
    code, out = run(demo, "resolve-layer", str(source), str(tmp_path / "out.usda"), "--dry-run")
    assert code == 0 and out.startswith("would write") and not (tmp_path / "out.usda").exists()


def test_a_copy_elsewhere_keeps_relative_paths_naming_the_same_files(demo, tmp_path):
    (tmp_path / "a").mkdir()
    source = layer(tmp_path / "a" / "in.usda", "./tex/t.<UDIM>.exr", sublayers=("../b/sub.usda",))
    (tmp_path / "c" / "d").mkdir(parents=True)
    code, _ = run(demo, "resolve-layer", str(source), str(tmp_path / "c" / "d" / "out.usdc"))
    assert code == 0 and authored(tmp_path / "c" / "d" / "out.usdc") == ["../../b/sub.usda", "../../a/tex/t.<UDIM>.exr"]
    assert (tmp_path / "c" / "d" / "out.usdc").read_bytes().startswith(b"PXR-USDC")


def test_a_broken_layer_is_refused_with_its_parse_error(demo, tmp_path):
    code, out = run(demo, "resolve-layer", str(FIXTURES / "broken.usda"), str(tmp_path / "out.usda"))
    assert code == 6 and re.search(BROKEN, out) and not (tmp_path / "out.usda").exists()


def test_without_usd_core_commands_exit_16_with_the_install_hint(demo, monkeypatch):
    from bifrostd.usd.loader import pxr

    for name in [n for n in sys.modules if n == "pxr" or n.startswith("pxr.")]:
        monkeypatch.setitem(sys.modules, name, None)
    pxr.cache_clear()
    code, out = run(demo, "inspect", str(FIXTURES / "hero.usda"))
    assert code == 16 and "pip install 'bifrostd[usd]'" in out


def test_the_commands_in_docs_usd_md_run_as_pasted_on_the_demo(demo, monkeypatch):
    text = (Path(__file__).resolve().parent.parent / "docs" / "usd.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = [shlex.split(line) for block in blocks for line in block.splitlines()
                if line.startswith(("bifrostctl usd", "mkdir"))]
    assert len(commands) >= 5
    monkeypatch.chdir(demo)
    for command in commands:
        if command[0] == "mkdir":
            Path(command[-1]).mkdir(exist_ok=True)
            continue
        code, out = run(demo, *command[2:])
        assert code == 0, (command, out)
    assert (demo / "farm" / "sh0300_windows.usda").exists() and not (demo / "farm" / "sh0300_linux.usda").exists()


def test_loading_the_usd_commands_does_not_import_pxr():
    code = "import sys, bifrostd.cli.usd_cmds; assert 'pxr' not in sys.modules, 'pxr loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_inspect_finds_files_named_in_another_oss_spelling(demo, tmp_path):
    studio = Studio.open(demo)
    windows = studio.path("asset_publish_usd", {"project": "demo", "asset_type": "character", "asset": "hero",
                                                "task": "model", "version": 2, "ext": "usda"}, os="windows")
    found = studio.usd_inspect(layer(tmp_path / "in.usda", windows, sublayers=(windows,)))
    sublayer, attribute = found.dependencies.dependencies
    assert attribute.anchored == windows and attribute.files == (str(demo / MODEL),) and not attribute.missing
    assert [Path(p).name for _, p, _ in found.stack] == ["in.usda", "hero_model_v002.usda"]


def test_the_copy_may_not_overwrite_the_original(demo, tmp_path):
    source = layer(tmp_path / "in.usda", LATEST)
    before = source.read_bytes()
    code, out = run(demo, "resolve-layer", str(source), str(tmp_path / "." / "in.usda"))
    assert code == 2 and "is the layer being read" in out and source.read_bytes() == before
