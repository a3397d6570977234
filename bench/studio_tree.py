"""A deterministic studio tree for the benchmarks, named by the default templates.

Every file except the junk is a path made by ``format()`` of a template in
``templates/`` (the default studio set), so the real default template set
matches them: the benchmark measures matching, entities and sequences as a
studio would see them. The mix follows a studio volume, where frame
sequences dominate: shot renders on the ``renders`` root (several AOVs,
versions), precomps, plates, output frames and fx caches; then work files,
publishes, reviews, asset work and UDIM textures; and about 1.5 % junk that
no template matches (``.DS_Store``, ``Thumbs.db``, ``._*``, ``*.nk~``,
autosaves, ``tmp/``). Files are 0-4 KiB.

The tree has one folder per root (``<tree>/projects``, ``<tree>/renders``);
:func:`bench_template_set` points the default set's roots there.

Building it is slow on ext4 (a few thousand files/s), so a finished tree is
reused: a sidecar ``<tree>.json`` written *after* the last file records the
seed, layout and file count; a tree without a matching one is rebuilt.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

BENCH_HOME = Path("/var/tmp/bifrost-bench")
SEED = 20260731
LAYOUT = "default-templates.2"  # .2: past one project the tree goes on in the next (.1 ran dry near 700,000 files)
PROJECT = "bench"
AOVS = ("beauty", "diffuse", "specular", "emission", "depth", "crypto")
TASKS_3D = ("layout", "anim", "fx", "lighting")
ASSET_TYPES = ("character", "prop", "environment", "vehicle")
JUNK = (".DS_Store", "Thumbs.db", "._{stem}.exr", "{stem}.nk~", "{stem}.nk.autosave", "{stem} copy 2.bak")


@dataclass(frozen=True, slots=True)
class TreeInfo:
    path: Path
    files: int
    dirs: int


def default_tree_path(files: int) -> Path:
    return BENCH_HOME / f"studio-{files}"


def load_default_templates() -> Any:
    from bifrostd.demo import default_templates_dir
    from bifrostd.templates import load_template_set

    return load_template_set(default_templates_dir())


def bench_template_set(tree: Path, template_set: Any | None = None) -> Any:
    """The default template set (or ``template_set``) with each root at ``<tree>/<root name>``."""
    from bifrostd.templates.spec import OS_NAMES, Root

    template_set = template_set or load_default_templates()
    roots = {name: Root(name, {os_name: str(tree / name) for os_name in OS_NAMES}, declared.where)
             for name, declared in template_set.roots.items()}
    return replace(template_set, roots=roots)


def ensure_tree(path: Path, files: int, *, log=print) -> TreeInfo:
    """Reuse the tree at ``path`` if its sidecar says it is complete with ``files`` files."""
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        info = json.loads(sidecar.read_text())
        wanted = {"files": files, "seed": SEED, "layout": LAYOUT}
        if all(info.get(k) == v for k, v in wanted.items()) and path.is_dir():
            return TreeInfo(path, files, info["dirs"])
    if path.exists():
        shutil.rmtree(path)
    log(f"building a {files:,}-file tree at {path} (slow, done once)")
    dirs = build_tree(path, files)
    sidecar.write_text(json.dumps({"files": files, "dirs": dirs, "seed": SEED, "layout": LAYOUT}))
    return TreeInfo(path, files, dirs)


def build_tree(path: Path, files: int) -> int:
    """Write exactly ``files`` distinct files under ``path``; return the number of directories.

    A path the generator yields twice (junk beside frames may repeat) is written once and counted once.
    """
    rng = random.Random(SEED)
    payload = rng.randbytes(4096)
    made: set[str] = set()
    written: set[str] = set()
    for relative in tree_paths(load_default_templates(), rng):
        size = rng.randint(0, 4096)
        if relative in written:
            continue
        folder = os.path.dirname(relative)
        if folder not in made:
            os.makedirs(path / folder, exist_ok=True)
            made.add(folder)
        _write(path / relative, payload[:size])
        written.add(relative)
        if len(written) >= files:
            break
    return len({p for f in made for p in _ancestors(f)})


def _ancestors(folder: str) -> Iterator[str]:
    parts = folder.split("/")
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


def _write(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def tree_paths(template_set: Any, rng: random.Random) -> Iterator[str]:
    """Endless tree-relative paths (``<root name>/<relative>``): shots of growing sequences, assets between."""
    out = _Paths(template_set)
    for project in _projects():  # one project holds about 800,000 files: more trees go on in the next
        for seq in range(10, 1000, 10):
            sequence = f"sq{seq:03d}"
            for shot in range(10, 210, 10):
                yield from _shot(out, rng, {"project": project, "sequence": sequence, "shot": f"sh{shot:04d}"})
            for n in range(3):
                yield from _asset(out, rng, ASSET_TYPES[(seq + n) % 4], f"asset{seq:03d}x{n}", project)


def _projects() -> Iterator[str]:
    yield PROJECT
    for n in itertools.count(2):
        yield f"{PROJECT}{n}"


class _Paths:
    """``format()`` of a template as a tree-relative path (root name first)."""

    def __init__(self, template_set: Any) -> None:
        self.templates = template_set.templates

    def __call__(self, name: str, fields: dict[str, Any]) -> str:
        template = self.templates[name]
        return f"{template.root}/{template.format(fields)}"


def _frames(out: _Paths, rng: random.Random, name: str, fields: dict[str, Any]) -> Iterator[str]:
    count = rng.randint(20, 48)
    gap = rng.randrange(count * 4)  # now and then a missing frame
    last = ""
    for n in range(count):
        if n != gap:
            last = out(name, {**fields, "frame": 1001 + n})
            yield last
    if rng.random() < 0.45:  # junk beside the frames, as on every share
        folder, _, stem = last.rpartition("/")
        yield f"{folder}/" + rng.choice(JUNK).format(stem=stem.partition(".")[0])


def _shot(out: _Paths, rng: random.Random, base: dict[str, Any]) -> Iterator[str]:
    yield from _frames(out, rng, "shot_plate", {**base, "plate": "bg01", "version": 1, "ext": "exr"})
    for version in range(1, rng.randint(2, 4)):
        for aov in AOVS[: rng.randint(1, 5)]:
            fields = {**base, "task": "lighting", "version": version, "aov": aov}
            yield from _frames(out, rng, "shot_render", fields)
    for version in range(1, rng.randint(2, 3)):
        for name in ("despill", "grade")[: rng.randint(1, 2)]:
            yield from _frames(out, rng, "shot_precomp", {**base, "task": "comp", "version": version, "name": name})
    if rng.random() < 0.5:
        yield from _frames(out, rng, "shot_output", {**base, "task": "comp", "version": 1, "ext": "exr"})
    if rng.random() < 0.3:
        yield from _frames(out, rng, "shot_cache_bgeo", {**base, "task": "fx", "version": 1, "name": "debris"})
    yield from _shot_work(out, rng, base)


def _shot_work(out: _Paths, rng: random.Random, base: dict[str, Any]) -> Iterator[str]:
    for task, template, ext in (("comp", "shot_work_nuke", "nk"), ("lighting", "shot_work_houdini", "hip"),
                                (rng.choice(TASKS_3D), "shot_work_maya", "ma")):
        for version in range(1, rng.randint(3, 12)):
            yield out(template, {**base, "task": task, "version": version, "ext": ext})
        if rng.random() < 0.2:
            yield out(template, {**base, "task": task, "version": 1, "ext": ext}).rpartition("/")[0] + "/.DS_Store"
    anim = {**base, "task": "anim", "version": 1}
    yield out("shot_publish_usd", {**anim, "ext": "usdc"})
    if rng.random() < 0.4:
        yield out("shot_camera", {**base, "task": "layout", "version": 1, "ext": "abc"})
        yield out("shot_publish_abc", {**anim, "asset": "hero"})
    if rng.random() < 0.3:
        yield out("shot_review", {**base, "task": "comp", "version": 1, "ext": "mov"})
    if rng.random() < 0.05:
        yield f"projects/{base['project']}/sequences/{base['sequence']}/{base['shot']}/tmp/scratch_{rng.randint(0, 999)}.tmp"


def _asset(out: _Paths, rng: random.Random, asset_type: str, asset: str, project: str) -> Iterator[str]:
    base = {"project": project, "asset_type": asset_type, "asset": asset}
    for task, ext in (("model", "usd"), ("lookdev", "usd"), ("rig", "ma")):
        for version in range(1, rng.randint(2, 4)):
            yield out("asset_work_maya", {**base, "task": task, "version": version, "ext": "ma"})
            template = "asset_publish_maya" if ext == "ma" else "asset_publish_usd"
            yield out(template, {**base, "task": task, "version": version, "ext": ext})
    for udim in range(1001, 1001 + rng.randint(4, 12)):
        fields = {**base, "task": "surfacing", "version": 1, "texture_set": "body", "channel": "BaseColor",
                  "udim": udim, "ext": "tx"}
        yield out("asset_texture_udim", fields)
