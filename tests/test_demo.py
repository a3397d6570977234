"""The demo studio: written through the templates, matching them, deterministic, with its deliberate flaws."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from bifrostd.config import load_config
from conftest import can_drop_to_nobody, run_as_nobody
from bifrostd.demo import (
    BASE_MTIME,
    MISSING_FRAME,
    DemoSummary,
    create_demo_studio,
    default_templates_dir,
    write_studio_config,
)

REPO = Path(__file__).resolve().parent.parent


def make_demo(directory: Path) -> tuple[DemoSummary, object]:
    """A demo studio as ``bifrostctl init DIR --demo`` makes it: config first, then files through its templates."""
    directory.mkdir(parents=True, exist_ok=True)
    config = load_config(write_studio_config(directory, demo=True))
    template_set = config.load_templates()
    return create_demo_studio(directory, template_set), template_set


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    summary, template_set = make_demo(root)
    return root, summary, template_set


def studio_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for base in ("projects", "renders") for p in (root / base).rglob("*") if p.is_file()}


def test_the_config_points_the_roots_inside_the_studio(demo):
    root, _, template_set = demo
    config = load_config(root / "bifrost.yaml")
    assert config.templates == (root / "templates").resolve()
    assert config.state_dir == (root / ".bifrost").resolve()
    assert template_set.root_path("projects") == str((root / "projects").resolve())
    assert template_set.root_path("renders") == str((root / "renders").resolve())


def test_on_other_systems_the_demo_roots_are_the_templates_studio_mounts(demo):
    """A path asked for another OS is absolute there (a render farm on Windows reads P:\\...), never relative."""
    _, _, template_set = demo
    windows = template_set.format("shot_root", {"project": "demo", "sequence": "sq010", "shot": "sh0100"},
                                  os_name="windows")
    assert windows == r"P:\projects\demo\sequences\sq010\sh0100"
    assert template_set.root_path("renders", os_name="mac") == "/Volumes/renders"


def test_the_default_templates_are_copied(demo):
    root, _, _ = demo
    for source in default_templates_dir().glob("*.yaml"):
        assert (root / "templates" / source.name).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("demo_flag", [True, False])
def test_written_configs_validate_against_the_config_schema(tmp_path, demo_flag):
    schema = json.loads((REPO / "schemas" / "config.schema.json").read_text())
    document = yaml.safe_load(write_studio_config(tmp_path, demo=demo_flag).read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []
    assert document["schema"] == "bifrost.config.1"
    assert ("roots" in document) is demo_flag


def test_the_summary_lists_every_file_written(demo):
    root, summary, _ = demo
    assert set(summary.files) == studio_files(root)
    assert len(summary.files) == len(set(summary.files))
    assert summary.total_bytes == sum((root / f).stat().st_size for f in summary.files)
    assert str(root) in str(summary)


def test_every_file_but_the_junk_matches_one_template(demo):
    root, summary, template_set = demo
    for relative in summary.templated:
        match = template_set.match(str((root / relative).resolve()))
        assert match is not None and match.template is not None, relative
        assert match.entity is not None, relative


def test_the_junk_matches_nothing(demo):
    root, summary, template_set = demo
    names = {Path(f).name for f in summary.junk}
    assert {".DS_Store", "Thumbs.db", "notes.txt"} <= names
    assert any("/tmp/" in f for f in summary.junk)
    assert any(" " in f and not f.isascii() for f in summary.junk)
    for relative in summary.junk:
        assert template_set.match(str((root / relative).resolve())) is None, relative


def test_the_demo_has_the_expected_studio(demo):
    _, summary, template_set = demo
    matched = [template_set.match(str((demo[0] / f).resolve())) for f in summary.templated]
    assets = {(m.fields["asset_type"], m.fields["asset"]) for m in matched if "asset_type" in m.fields}
    shots = {(m.fields["sequence"], m.fields["shot"]) for m in matched if "shot" in m.fields}
    assert len(assets) >= 3
    assert {s for s, _ in shots} == {"sq010", "sq020"}
    assert len(shots) >= 4
    assert {m.fields["ext"] for m in matched if "ext" in m.fields} >= {"ma", "mb", "hip", "nk", "blend", "spp", "usda", "abc", "mov", "otio"}
    work = [m for m in matched if m.template.name == "shot_work_maya" and m.fields["task"] == "anim"]
    assert {m.fields["version"] for m in work} >= {1, 2}


def test_two_runs_write_the_same_studio(tmp_path):
    first, _ = make_demo(tmp_path / "a")
    second, _ = make_demo(tmp_path / "b")
    assert first.files == second.files

    def state(root: Path, relative: str) -> tuple[bytes, int]:
        return (root / relative).read_bytes(), (root / relative).stat().st_mtime_ns

    assert all(state(tmp_path / "a", f) == state(tmp_path / "b", f) for f in first.files)


def test_files_are_small_and_unique(demo):
    root, summary, _ = demo
    digests = {hashlib.sha256((root / f).read_bytes()).hexdigest() for f in summary.files}
    assert len(digests) == len(summary.files)
    assert all(0 < (root / f).stat().st_size <= 8192 for f in summary.files)


def test_mtimes_are_fixed_and_later_files_are_newer(demo):
    root, summary, _ = demo
    times = [(root / f).stat().st_mtime for f in summary.files]
    assert times[0] == BASE_MTIME
    assert times == sorted(times)


def test_the_beauty_render_misses_one_frame(demo):
    root, summary, template_set = demo
    frames = {}
    for relative in summary.templated:
        match = template_set.match(str((root / relative).resolve()))
        if match.template.name == "shot_render":
            frames.setdefault(match.fields["aov"], set()).add(match.fields["frame"])
    assert frames["specular"] == set(range(1001, 1025))
    assert frames["beauty"] == set(range(1001, 1025)) - {MISSING_FRAME}
    assert len(summary.missing) == 1
    assert summary.missing[0].endswith(f"_beauty_v001.{MISSING_FRAME}.exr")
    assert not (root / summary.missing[0]).exists()


def test_udim_tiles_are_published(demo):
    root, summary, _ = demo
    tiles = [f for f in summary.files if re.search(r"/textures/hero_body_BaseColor\.\d{4}\.exr$", f)]
    assert sorted(int(f.rsplit(".", 2)[1]) for f in tiles) == [1001, 1002, 1003, 1004]


def test_usd_layers_are_text_layers_whose_asset_paths_exist(demo):
    root, summary, _ = demo
    layers = [f for f in summary.files if f.endswith((".usda", ".usd"))]
    linked = 0
    for relative in layers:
        text = (root / relative).read_text(encoding="utf-8")
        assert text.startswith("#usda 1.0\n"), relative
        for asset_path in re.findall(r"@([^@]+)@", text):
            assert asset_path.startswith(("./", "../")), asset_path
            linked += 1
            if "<UDIM>" in asset_path:
                assert list((root / relative).parent.glob(asset_path.replace("<UDIM>", "[0-9][0-9][0-9][0-9]"))), asset_path
            else:
                assert ((root / relative).parent / asset_path).is_file(), (relative, asset_path)
    assert linked >= 10


@pytest.mark.skipif(not can_drop_to_nobody(), reason="needs root to switch to nobody")
def test_init_writes_files_every_user_can_read(bifrostctl_bin):
    """The daemon runs as its own user and artists run bifrostctl: a config only root can read helps nobody."""
    base = Path(tempfile.mkdtemp(prefix="bifrost-init-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        subprocess.run([bifrostctl_bin, "init", str(base / "studio")], check=True, capture_output=True,
                       preexec_fn=lambda: os.umask(0o022))
        written = [base / "studio" / "bifrost.yaml", *sorted((base / "studio" / "templates").glob("*.yaml"))]
        assert {oct(p.stat().st_mode & 0o777) for p in written} == {"0o644"}
        code = ("import sys\nfrom pathlib import Path\nfrom bifrostd.config import load_config\n"
                "print(len(load_config(Path(sys.argv[1])).load_templates().templates))")
        done = run_as_nobody(code, str(written[0]), preload=("bifrostd.config", "bifrostd.templates.templateset", "yaml", "hashlib"))
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) >= 40
    finally:
        shutil.rmtree(base)
