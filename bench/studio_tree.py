"""A deterministic, studio-like tree for the walk, hash and catalog benchmarks.

The tree mirrors a studio volume: frame sequences dominate (light-layer,
shot and precomp renders, plates, fx caches), with work files, snapshots,
reviews, publishes, textures and a little junk that matches no template.
Directories hold about 14 files on average. Files are 0-4 KiB.

Building it is slow on ext4 (a few thousand files/s), so a finished tree is
reused: a sidecar ``<tree>.json`` written *after* the last file records the
seed and the file count; a tree without it is rebuilt from scratch.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_HOME = Path("/var/tmp/bifrost-bench")
SEED = 20260731
LAYERS = ("key", "fill", "rim", "bg", "spec")
JUNK = (".DS_Store", "Thumbs.db", "._{stem}.exr", "{stem}.nk~", "{stem}.nk.autosave", "{stem} copy 2.bak")


@dataclass(frozen=True, slots=True)
class TreeInfo:
    path: Path
    files: int
    dirs: int


def default_tree_path(files: int) -> Path:
    return BENCH_HOME / f"tree-{files}"


def ensure_tree(path: Path, files: int, *, log=print) -> TreeInfo:
    """Reuse the tree at ``path`` if its sidecar says it is complete with ``files`` files."""
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        info = json.loads(sidecar.read_text())
        if info.get("files") == files and info.get("seed") == SEED and path.is_dir():
            return TreeInfo(path, files, info["dirs"])
    if path.exists():
        shutil.rmtree(path)
    log(f"building a {files}-file tree at {path} (slow, done once)")
    dirs = build_tree(path, files)
    sidecar.write_text(json.dumps({"files": files, "dirs": dirs, "seed": SEED}))
    return TreeInfo(path, files, dirs)


def build_tree(path: Path, files: int) -> int:
    """Write exactly ``files`` files under ``path``; return the number of directories."""
    rng = random.Random(SEED)
    payload = rng.randbytes(4096)
    made: set[str] = set()
    for count, relative in enumerate(_paths(rng), start=1):
        folder = os.path.dirname(relative)
        if folder not in made:
            os.makedirs(path / folder, exist_ok=True)
            made.add(folder)
        _write(path / relative, payload[: rng.randint(0, 4096)])
        if count >= files:
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


def _paths(rng: random.Random) -> Iterator[str]:
    """Endless relative file paths: shots of a growing list of sequences, with assets between."""
    for seq in range(10, 100000, 10):
        sq = f"SQ{seq:03d}"
        for shot in range(10, 310, 10):
            yield from _shot(rng, f"bifrost/sequences/{sq}/{sq}_{shot:04d}", f"{sq}_{shot:04d}")
        yield from _asset(rng, seq)


def _frames(rng: random.Random, folder: str, stem: str, ext: str) -> Iterator[str]:
    start = 1001
    count = rng.randint(20, 48)
    gap = rng.randrange(count * 4)  # now and then a missing frame
    for frame in range(start, start + count):
        if frame - start != gap:
            yield f"{folder}/{stem}.{frame:04d}.{ext}"
    if rng.random() < 0.04:
        yield f"{folder}/" + rng.choice(JUNK).format(stem=stem)


def _shot(rng: random.Random, base: str, shot: str) -> Iterator[str]:
    yield from _frames(rng, f"{base}/plate/v001", f"{shot}_plate_v001", "exr")
    for v in range(1, rng.randint(2, 4)):
        yield from _frames(rng, f"{base}/comp/renders/v{v:03d}", f"{shot}_comp_v{v:03d}", "exr")
    for v in range(1, rng.randint(2, 3)):
        for layer in LAYERS[: rng.randint(2, 5)]:
            folder = f"{base}/light/renders/v{v:03d}/{layer}"
            yield from _frames(rng, folder, f"{shot}_light_{layer}_v{v:03d}", "exr")
    for v in range(1, rng.randint(2, 3)):
        yield from _frames(rng, f"{base}/precomp/renders/v{v:03d}", f"{shot}_precomp_v{v:03d}", "exr")
    if rng.random() < 0.5:
        yield from _frames(rng, f"{base}/fx/cache/v001", f"{shot}_fx_v001", "bgeo.sc")
    yield from _work(rng, base, shot)


def _work(rng: random.Random, base: str, shot: str) -> Iterator[str]:
    for task, ext in (("comp", "nk"), ("light", "hip")):
        for v in range(1, rng.randint(2, 7)):
            yield f"{base}/{task}/work/{shot}_{task}_v{v:03d}.{ext}"
        if rng.random() < 0.4:
            yield f"{base}/{task}/work/snapshots/{shot}_{task}_snap{rng.randint(1, 99):02d}.{ext}"
    if rng.random() < 0.3:
        yield f"{base}/review/{shot}_comp_v001.mov"
    if rng.random() < 0.15:
        yield f"{base}/camera/publish/v001/{shot}_camera_v001.abc"
    if rng.random() < 0.05:
        yield f"{base}/tmp/scratch_{rng.randint(0, 999)}.tmp"


def _asset(rng: random.Random, n: int) -> Iterator[str]:
    kind = ("char", "prop", "env")[n % 3]
    name = f"{kind}Asset{n:04d}"
    base = f"bifrost/assets/{kind}/{name}"
    for step, ext in (("model", "usd"), ("lookdev", "usd"), ("rig", "ma")):
        for v in range(1, rng.randint(2, 4)):
            yield f"{base}/{step}/work/{name}_{step}_v{v:03d}.{ext}"
            yield f"{base}/{step}/publish/v{v:03d}/{name}_{step}_v{v:03d}.{ext}"
    for udim in range(1001, 1001 + rng.randint(4, 12)):
        yield f"{base}/lookdev/textures/{name}_diffuse.{udim}.tx"
