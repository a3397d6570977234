"""The demo studio and the studio config that ``bifrostctl init DIR [--demo]`` writes.

Every file of the demo studio except the deliberate junk is named by the
template set's ``format()``, so the demo always matches the templates it ships
with: if a template changes, the demo follows. The tree is deterministic (a
fixed seed, fixed mtimes), so tests and tutorials can name its files and
sizes, and two demos compare equal.

The demo is small on purpose (a few hundred files of a few bytes to a few KB)
but has what a studio's storage has: work files at several versions,
versioned publishes, USD layers that sublayer and reference each other,
UDIM texture tiles, frame sequences with one deliberately missing frame,
plates, caches, review movies, editorial files, and junk that no template
matches (``.DS_Store``, ``Thumbs.db``, a ``tmp/`` folder, a Blender backup,
a file named with spaces and accents).
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .atomic_write import write_atomic
from .errors import BifrostError, ConfigError
from .observe.safe_paths import RootedPath, UnsafePath, write_file
from .templates.spec import OS_NAMES, Root, current_os
from .templates.templateset import TemplateSet

CONFIG_NAME = "bifrost.yaml"
PROJECT = "demo"
SEED = 2026
#: mtime of the first demo file (2026-01-05 09:00 UTC); each later file is a minute newer.
BASE_MTIME = 1_767_603_600
FRAMES = range(1001, 1025)
#: The frame left out of the beauty render of sq010/sh0100, so the demo has a gap to find.
MISSING_FRAME = 1013


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`create_demo_studio` wrote. Paths are POSIX, relative to ``root``."""

    root: Path
    files: tuple[str, ...]
    junk: tuple[str, ...]
    missing: tuple[str, ...]
    total_bytes: int

    @property
    def templated(self) -> tuple[str, ...]:
        """The files named by a template (every file but the junk)."""
        junk = set(self.junk)
        return tuple(f for f in self.files if f not in junk)

    def __str__(self) -> str:
        return (f"{len(self.files)} files ({len(self.junk)} junk, {self.total_bytes} bytes) under {self.root}; "
                f"left out on purpose: {', '.join(self.missing)}")


@dataclass(frozen=True, slots=True)
class _Item:
    """One file to write: a template and its fields; USD layers also name the layers they use."""

    template: str
    fields: dict[str, Any]
    sublayers: tuple[_Item, ...] = ()
    references: tuple[_Item, ...] = ()
    key: str = field(default="")


# -- the studio config ----------------------------------------------------------------
def default_templates_dir() -> Path:
    """The folder of the default studio templates.

    In a source checkout or an editable install it is ``templates/`` next to
    the ``bifrostd`` package; an installed wheel puts it in
    ``<sys.prefix>/share/bifrost/templates``.
    """
    beside = Path(__file__).resolve().parent.parent / "templates"
    if beside.is_dir() and any(beside.glob("*.yaml")):
        return beside
    return Path(sys.prefix) / "share" / "bifrost" / "templates"


def config_text(*, demo: bool, roots: tuple[str, ...] = ()) -> str:
    """The text of a new ``bifrost.yaml``; a demo config points each root at ``./<root name>`` on this OS."""
    lines = [
        "# Bifrost studio config. Relative paths are relative to this file.",
        "schema: bifrost.config.1",
        "templates: templates",
        "state: .bifrost",
    ]
    if demo:
        this_os = current_os()
        lines += [f"# The demo studio's roots are folders next to this file on {this_os}; on the other",
                  "# systems they stay where the templates put them (bifrostctl path --os windows ...).",
                  "roots:"]
        lines += [f"  {name}: {{{this_os}: ./{name}}}" for name in roots]
    else:
        lines += [
            "# Root paths come from the templates; override them per OS here, e.g.:",
            "# roots:",
            "#   projects: {linux: /mnt/projects, windows: 'P:\\projects', mac: /Volumes/projects}",
        ]
    return "\n".join(lines) + "\n"


def write_studio_config(directory: Path, *, demo: bool) -> Path:
    """Write ``DIRECTORY/bifrost.yaml`` and copy the default templates to ``DIRECTORY/templates/``.

    The config names ``templates`` and ``state: .bifrost``; with ``demo`` it
    also points every root of the default templates at ``./<root name>``
    (``./projects``, ``./renders``), where :func:`create_demo_studio` writes.
    Existing files are overwritten (``bifrostctl init`` asks for ``--force``
    first). Returns the config file's path.
    """
    source = default_templates_dir()
    files = sorted(source.glob("*.yaml")) if source.is_dir() else []
    if not files:
        raise ConfigError(f"the default templates are missing from {source}; reinstall bifrostd")
    target = directory / "templates"
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        write_atomic(target / file.name, file.read_bytes())
    roots = _root_names(files) if demo else ()
    config = directory / CONFIG_NAME
    write_atomic(config, config_text(demo=demo, roots=roots).encode())
    return config


def _root_names(files: list[Path]) -> tuple[str, ...]:
    """The roots the template files declare, in order."""
    import yaml

    names: list[str] = []
    for file in files:
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        names += [name for name in (document.get("roots") or {}) if name not in names]
    return tuple(names)


# -- the demo studio --------------------------------------------------------------------
def create_demo_studio(root: Path, template_set: TemplateSet, *, seed: int = SEED) -> DemoSummary:
    """Fill ``root`` with the demo studio; returns what was written.

    Each root of ``template_set`` (the default templates, or a copy of them
    with other root paths) is placed at ``root/<root name>`` whatever its
    configured path, so the demo never writes outside ``root``; a config from
    ``write_studio_config(root, demo=True)`` points the roots there. Existing
    files of the same names are overwritten. Deterministic for a given ``seed``.
    """
    rooted = demo_template_set(root, template_set)
    rng = random.Random(seed)
    written: list[str] = []
    total = 0
    items = list(_plan())
    paths = {item.key: Path(rooted.format(item.template, item.fields)) for item in items}
    for item in items:
        data = _content(item, paths, rng)
        relative = paths[item.key].relative_to(root).as_posix()
        total += _write(root, relative, data, len(written))
        written.append(relative)
    junk = []
    for relative, data in _junk(rng):
        total += _write(root, relative, data, len(written))
        written.append(relative)
        junk.append(relative)
    missing = _missing_paths(rooted, root)
    return DemoSummary(root, tuple(written), tuple(junk), missing, total)


def demo_template_set(root: Path, template_set: TemplateSet) -> TemplateSet:
    """``template_set`` with every root at ``root/<root name>`` on every OS."""
    roots = {name: Root(name, {os_name: str(root / name) for os_name in OS_NAMES}, declared.where)
             for name, declared in template_set.roots.items()}
    return replace(template_set, roots=roots)


def _write(root: Path, relative: str, data: bytes, index: int) -> int:
    """Write one demo file under ``root``, through no symlink below it (someone else may write there too)."""
    try:
        write_file(RootedPath(root, relative), data, mtime_ns=(BASE_MTIME + 60 * index) * 10**9)
    except UnsafePath as error:
        raise BifrostError(f"the demo studio is not written in {root}: {error}") from None
    return len(data)


def _missing_paths(rooted: TemplateSet, root: Path) -> tuple[str, ...]:
    fields = {**_shot("sq010", "sh0100"), "task": "lighting", "version": 1, "aov": "beauty", "frame": MISSING_FRAME}
    return (Path(rooted.format("shot_render", fields)).relative_to(root).as_posix(),)


# -- what the demo contains -----------------------------------------------------------
ASSETS = (("character", "hero"), ("prop", "chair"), ("environment", "forest"), ("vehicle", "truck"))
SHOTS = (("sq010", "sh0100"), ("sq010", "sh0200"), ("sq010", "sh0300"), ("sq020", "sh0100"), ("sq020", "sh0200"))


def _asset(asset_type: str, asset: str, **more: Any) -> dict[str, Any]:
    return {"project": PROJECT, "asset_type": asset_type, "asset": asset, **more}


def _shot(sequence: str, shot: str, **more: Any) -> dict[str, Any]:
    return {"project": PROJECT, "sequence": sequence, "shot": shot, **more}


def _item(template: str, fields: dict[str, Any], **links: tuple[_Item, ...]) -> _Item:
    key = template + "|" + "|".join(f"{k}={fields[k]}" for k in sorted(fields))
    return _Item(template, fields, key=key, **links)


def _plan() -> Iterator[_Item]:
    """Every templated file of the demo, in the order written (older versions first)."""
    layers: dict[str, _Item] = {}
    yield from _hero(layers)
    yield from _other_assets(layers)
    lib = _item("sequence_layer", {"project": PROJECT, "sequence": "sq010", "name": "keyLight", "version": 1, "ext": "usda"})
    yield lib
    for sequence, shot in SHOTS:
        yield from _shot_files(sequence, shot, layers, lib if sequence == "sq010" else None)
    yield from _hero_shot(*SHOTS[0])
    yield from _fx_shot(*SHOTS[3])
    yield from _editorial()


def _work(template: str, fields: dict[str, Any], versions: range, ext: str) -> Iterator[_Item]:
    for version in versions:
        yield _item(template, {**fields, "version": version, "ext": ext})


def _hero(layers: dict[str, _Item]) -> Iterator[_Item]:
    hero = _asset("character", "hero")
    yield from _work("asset_work_maya", {**hero, "task": "model"}, range(1, 4), "ma")
    yield _item("asset_work_maya", {**hero, "task": "model", "name": "sculpt", "version": 1, "ext": "mb"})
    model = _item("asset_publish_usd", {**hero, "task": "model", "version": 2, "ext": "usda"})
    yield model
    yield _item("asset_publish_geometry", {**hero, "task": "model", "version": 2, "ext": "abc"})
    yield _item("asset_review", {**hero, "task": "model", "version": 2, "ext": "mov"})
    for frame in range(1001, 1013):
        yield _item("asset_turntable", {**hero, "task": "model", "version": 2, "frame": frame})
    yield _item("asset_reference", {**hero, "name": "frontView", "ext": "jpg"})
    yield from _work("asset_work_maya", {**hero, "task": "rig"}, range(1, 3), "ma")
    yield _item("asset_publish_maya", {**hero, "task": "rig", "version": 1, "ext": "mb"})
    yield from _work("asset_work_substance", {**hero, "task": "surfacing"}, range(1, 3), "spp")
    yield from _hero_textures(hero)
    surfacing = _item("asset_publish_usd", {**hero, "task": "surfacing", "version": 1, "ext": "usda"})
    yield surfacing
    yield from _work("asset_work_houdini", {**hero, "task": "groom"}, range(1, 2), "hip")
    layers["hero"] = _item("asset_layer", hero, sublayers=(surfacing, model))
    yield layers["hero"]


def _hero_textures(hero: dict[str, Any]) -> Iterator[_Item]:
    published = {**hero, "task": "surfacing", "version": 1}
    for channel in ("BaseColor", "Roughness", "Normal"):
        for udim in range(1001, 1005):
            fields = {**published, "texture_set": "body", "channel": channel, "udim": udim, "ext": "exr"}
            yield _item("asset_texture_udim", fields)
    yield _item("asset_texture", {**published, "texture_set": "eyes", "channel": "BaseColor", "ext": "png"})


def _other_assets(layers: dict[str, _Item]) -> Iterator[_Item]:
    chair = _asset("prop", "chair")
    yield from _work("asset_work_blender", {**chair, "task": "model"}, range(1, 3), "blend")
    chair_model = _item("asset_publish_usd", {**chair, "task": "model", "version": 2, "ext": "usd"})
    yield chair_model
    layers["chair"] = _item("asset_layer", chair, sublayers=(chair_model,))
    yield layers["chair"]
    forest = _asset("environment", "forest")
    yield from _work("asset_work_houdini", {**forest, "task": "model"}, range(1, 2), "hiplc")
    forest_model = _item("asset_publish_usd", {**forest, "task": "model", "version": 1, "ext": "usda"})
    yield forest_model
    layers["forest"] = _item("asset_layer", forest, sublayers=(forest_model,))
    yield layers["forest"]
    truck = _asset("vehicle", "truck")
    yield from _work("asset_work_maya", {**truck, "task": "model"}, range(1, 2), "mb")
    yield _item("asset_review", {**truck, "task": "model", "version": 1, "ext": "mp4"})


def _shot_files(sequence: str, shot: str, layers: dict[str, _Item], lib: _Item | None) -> Iterator[_Item]:
    base = _shot(sequence, shot)
    yield from _work("shot_work_maya", {**base, "task": "layout"}, range(1, 2), "ma")
    props = (layers["hero"], layers["forest"]) if sequence == "sq010" else (layers["hero"], layers["chair"])
    layout = _item("shot_publish_usd", {**base, "task": "layout", "version": 1, "ext": "usda"}, references=props)
    yield layout
    yield _item("shot_camera", {**base, "task": "layout", "version": 1, "ext": "abc"})
    yield from _work("shot_work_maya", {**base, "task": "anim"}, range(1, 3), "ma")
    yield _item("shot_work_maya", {**base, "task": "anim", "name": "blocking", "version": 1, "ext": "ma"})
    anim = _item("shot_publish_usd", {**base, "task": "anim", "version": 2, "ext": "usda"}, sublayers=(layout,))
    yield anim
    yield _item("shot_publish_abc", {**base, "task": "anim", "asset": "hero", "version": 2})
    yield _item("shot_playblast", {**base, "task": "anim", "version": 2, "ext": "mov"})
    yield _item("shot_color", {**base, "ext": "cdl"})
    yield _item("shot_edit_reference", {**base, "version": 1, "ext": "mov"})
    frames = FRAMES if shot == "sh0100" else range(1001, 1013)
    if sequence == "sq010":
        for frame in frames:
            yield _item("shot_plate", {**base, "plate": "bg01", "version": 1, "frame": frame, "ext": "exr"})
    yield _item("shot_layer", base, sublayers=(anim, layout, *((lib,) if lib else ())))


def _hero_shot(sequence: str, shot: str) -> Iterator[_Item]:
    """Lighting and comp of the hero shot: renders (one frame missing), precomps, output."""
    base = _shot(sequence, shot)
    yield from _work("shot_work_houdini", {**base, "task": "lighting"}, range(1, 3), "hip")
    for aov in ("beauty", "specular"):
        for frame in FRAMES:
            if aov == "beauty" and frame == MISSING_FRAME:
                continue
            yield _item("shot_render", {**base, "task": "lighting", "version": 1, "aov": aov, "frame": frame})
    yield from _work("shot_work_nuke", {**base, "task": "comp"}, range(1, 3), "nk")
    for frame in range(1001, 1013):
        yield _item("shot_precomp", {**base, "task": "comp", "version": 1, "name": "despill", "frame": frame})
    for frame in FRAMES:
        yield _item("shot_output", {**base, "task": "comp", "version": 2, "frame": frame, "ext": "exr"})
    yield _item("shot_review", {**base, "task": "comp", "version": 2, "ext": "mov"})


def _fx_shot(sequence: str, shot: str) -> Iterator[_Item]:
    base = {**_shot(sequence, shot), "task": "fx"}
    yield from _work("shot_work_houdini", base, range(1, 3), "hipnc")
    for frame in range(1001, 1013):
        yield _item("shot_cache_vdb", {**base, "version": 1, "name": "smoke", "frame": frame})
        yield _item("shot_cache_bgeo", {**base, "version": 1, "name": "debris", "frame": frame})
    yield _item("shot_review", {**base, "version": 1, "ext": "mp4"})


def _editorial() -> Iterator[_Item]:
    cut = {"project": PROJECT, "cut": "main"}
    yield _item("editorial_cut", {**cut, "version": 1, "ext": "edl"})
    yield _item("editorial_cut", {**cut, "version": 1, "ext": "otio"})
    yield _item("editorial_cut", {**cut, "version": 2, "ext": "otio"})
    yield _item("editorial_cut_movie", {**cut, "version": 2, "ext": "mov"})
    yield _item("editorial_cut_audio", {**cut, "version": 2})
    yield _item("editorial_turnover", {"project": PROJECT, "turnover": 1, "ext": "xml"})
    yield _item("editorial_turnover_movie", {"project": PROJECT, "turnover": 1, "ext": "mov"})


def _junk(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Files no template matches, as found on every studio share."""
    hero = f"projects/{PROJECT}/assets/character/hero"
    shot = f"projects/{PROJECT}/sequences/sq010/sh0100"
    names = (
        "projects/.DS_Store",
        f"{hero}/.DS_Store",
        f"{hero}/surfacing/publish/v001/textures/Thumbs.db",
        f"{shot}/notes.txt",
        f"projects/{PROJECT}/tmp/scratch.ma",
        f"projects/{PROJECT}/tmp/export (1).abc",
        f"{shot}/anim/work/maya/tmp/sh0100_anim_v002.ma",
        f"projects/{PROJECT}/assets/prop/chair/model/work/blender/chair_model_v002.blend1",
        f"{hero}/model/work/maya/héro modèle final (copie) v2.ma",
        f"renders/{PROJECT}/sequences/sq010/sh0100/lighting/render/v001/beauty/render.log",
    )
    for name in names:
        yield name, _filler(f"junk {name}\n", rng)


# -- file contents --------------------------------------------------------------------
#: Leading bytes of binary formats, so that tools sniffing a file see the right kind.
MAGIC = {
    "exr": b"v/1\x01", "abc": b"Ogawa", "vdb": b" BDV", "sc": b"\x00\x00\x00\x00", "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff\xe0", "mov": b"\x00\x00\x00\x14ftypqt  ", "mp4": b"\x00\x00\x00\x18ftypisom",
    "mb": b"FOR8", "wav": b"RIFF", "hip": b"HouNC\x1a", "hiplc": b"HouLC\x1a", "hipnc": b"HouNC\x1a",
    "spp": b"SPP\x00", "blend": b"BLENDER-v300",
}


def _content(item: _Item, paths: dict[str, Path], rng: random.Random) -> bytes:
    path = paths[item.key]
    ext = path.name.rsplit(".", 1)[-1]
    if ext in ("usda", "usd"):
        return _usd_layer(item, paths, rng).encode()
    if ext == "ma":
        return _filler(f'//Maya ASCII 2024 scene\n//Name: {path.name}\nrequires maya "2024";\n', rng)
    if ext == "nk":
        return _filler(f"#! nuke\nversion 15.1 v3\n# {path.name}\n", rng)
    if ext == "otio":
        return _otio(path.stem, rng)
    if ext in ("edl", "xml", "cdl"):
        return _filler(_text_header(ext, path.stem), rng)
    return _filler(path.name + "\n", rng, magic=MAGIC.get(ext, b""))


def _filler(header: str, rng: random.Random, *, magic: bytes = b"") -> bytes:
    """``header`` (which makes the content unique) and seeded noise, 32 bytes to 2 KB in all."""
    size = rng.randint(32, 2048)
    noise = bytes(rng.getrandbits(8) for _ in range(size)) if magic else _text_noise(rng, size)
    return magic + header.encode() + noise


def _text_noise(rng: random.Random, size: int) -> bytes:
    lines = [f"// {rng.getrandbits(64):016x}" for _ in range(max(1, size // 20))]
    return ("\n".join(lines) + "\n").encode()


def _text_header(ext: str, stem: str) -> str:
    if ext == "edl":
        return f"TITLE: {stem}\nFCM: NON-DROP FRAME\n\n001  sh0100   V     C        00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:00\n"
    if ext == "cdl":
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ColorDecisionList xmlns="urn:ASC:CDL:v1.01">\n'
                f'  <ColorDecision><ColorCorrection id="{stem}"/></ColorDecision>\n</ColorDecisionList>\n<!--\n')
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<xmeml version="5"><sequence id="{stem}"/></xmeml>\n<!--\n'


def _otio(stem: str, rng: random.Random) -> bytes:
    """A tiny valid OpenTimelineIO timeline with no clips."""
    timeline: dict[str, Any] = {
        "OTIO_SCHEMA": "Timeline.1",
        "metadata": {"bifrost_demo": f"{rng.getrandbits(64):016x}"},
        "name": stem,
        "global_start_time": None,
        "tracks": {"OTIO_SCHEMA": "Stack.1", "metadata": {}, "name": "tracks", "source_range": None,
                   "effects": [], "markers": [], "enabled": True, "children": []},
    }
    return (json.dumps(timeline, indent=4) + "\n").encode()


def _asset_path(source: Path, target: Path) -> str:
    """A USD asset path to ``target`` relative to ``source``'s folder (``./x`` or ``../x``)."""
    relative = PurePosixPath(os.path.relpath(target, source.parent).replace(os.sep, "/"))
    text = relative.as_posix()
    return text if text.startswith("../") else f"./{text}"


def _usd_layer(item: _Item, paths: dict[str, Path], rng: random.Random) -> str:
    """A small valid USD text layer; its sublayers and references use paths relative to it."""
    path = paths[item.key]
    prim = str(item.fields.get("asset") or item.fields.get("shot") or item.fields.get("name") or "root")
    metadata = [f'    defaultPrim = "{prim}"', f'    doc = "Bifrost demo layer {path.name} ({rng.getrandbits(32):08x})"']
    if item.sublayers:
        subs = ", ".join(f"@{_asset_path(path, paths[s.key])}@" for s in item.sublayers)
        metadata.append(f"    subLayers = [{subs}]")
    body = _usd_prim(item, prim, path, paths)
    return "#usda 1.0\n(\n" + "\n".join(metadata) + "\n)\n\n" + body


def _usd_prim(item: _Item, prim: str, path: Path, paths: dict[str, Path]) -> str:
    if item.references:
        children = "".join(
            f'    def Xform "{ref.fields["asset"]}" (\n        references = @{_asset_path(path, paths[ref.key])}@\n    )\n    {{\n    }}\n'
            for ref in item.references
        )
        return f'def Xform "{prim}"\n{{\n{children}}}\n'
    if item.fields.get("task") == "surfacing":
        texture = paths[item.key].parent / "textures" / f"{prim}_body_BaseColor.<UDIM>.exr"
        return (f'def Scope "{prim}"\n{{\n    def Shader "body"\n    {{\n'
                f'        uniform token info:id = "UsdUVTexture"\n'
                f'        asset inputs:file = @{_asset_path(path, texture)}@\n    }}\n}}\n')
    if item.fields.get("task") == "model":
        return (f'def Xform "{prim}"\n{{\n    def Mesh "geo"\n    {{\n'
                f"        int[] faceVertexCounts = [4]\n        int[] faceVertexIndices = [0, 1, 2, 3]\n"
                f"        point3f[] points = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]\n    }}\n}}\n")
    return f'over "{prim}"\n{{\n}}\n'
