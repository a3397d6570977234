"""Building small studio trees and configs for the catalog tests (real files in tmp_path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "templates"

RENDER = "{p}/sequences/{q}/{s}/comp/render/v{v:03d}/{s}_comp_v{v:03d}.{f:04d}.exr"
WORK = "{p}/sequences/{q}/{s}/anim/work/{s}_anim_v{v:03d}.ma"


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_tree(root: Path, *, shots: int = 2, versions: int = 2, frames: int = 5, junk: bool = True,
              gap: int | None = None) -> list[str]:
    """A small project: renders (frame sequences) and work files per shot, plus some junk."""
    made = []
    for n in range(shots):
        values = {"p": "demo", "q": "sq010", "s": f"sh{(n + 1) * 10:04d}"}
        for v in range(1, versions + 1):
            made.append(WORK.format(v=v, **values))
            for f in range(1001, 1001 + frames):
                if f != gap:
                    made.append(RENDER.format(v=v, f=f, **values))
    if junk:
        made += ["demo/.DS_Store", "demo/sequences/sq010/notes.txt"]
    for number, relative in enumerate(made):
        write(root / relative, f"{relative}:{number}".encode())
    return made


def write_config(base: Path, tree: Path, *, templates: Path | None = None) -> Path:
    """A studio config using the catalog test templates (copied, so a test may edit them)."""
    target = base / "templates"
    if not target.exists():
        shutil.copytree(templates or DATA / "catalog", target)
    config = base / "bifrost.yaml"
    config.write_text(f"schema: bifrost.config.1\ntemplates: templates\nstate: state\n"
                      f"roots:\n  projects: {tree}\n")
    return config


def load(config: Path):
    from bifrostd.config import load_config

    loaded = load_config(config)
    return loaded, loaded.load_templates()


def scan(config: Path, **options):
    """One scan through the library, as ``bifrostctl scan`` does it."""
    from bifrostd.catalog import Catalog
    from bifrostd.reconcile.scan import ScanOptions
    from bifrostd.reconcile.scan import scan as run_scan

    loaded, template_set = load(config)
    hasher = options.pop("hasher", None)
    with Catalog.open(loaded.catalog_path, write=True) as catalog:
        return run_scan(catalog, template_set, ScanOptions(**options), hasher=hasher)


def age(path: Path, seconds: int = 3600) -> None:
    """Move a file's and its folders' mtimes into the past, so walks treat them as settled."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def age_tree(root: Path, seconds: int = 3600) -> None:
    """Settle a whole tree: every folder's mtime an hour back (files keep theirs)."""
    for folder, _, _ in os.walk(root):
        age(Path(folder), seconds)


def ctl(bifrostctl_bin: str, config: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    """Run the installed bifrostctl on ``config`` and check its exit code."""
    done = subprocess.run([bifrostctl_bin, "--config", str(config), *args], capture_output=True, text=True,
                          errors="surrogateescape", timeout=120)
    assert done.returncode == code, done.stderr + done.stdout
    return done


def ctl_json(bifrostctl_bin: str, config: Path, *args: str, code: int = 0):
    """The JSON document of ``bifrostctl ... --json``."""
    return json.loads(ctl(bifrostctl_bin, config, *args, "--json", code=code).stdout)
