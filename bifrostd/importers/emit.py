"""Writing an imported template set: one YAML file, keys in the order the importer chose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..atomic_write import write_atomic

__all__ = ["render_set", "write_set"]

SET_FILE = "templates.yaml"


def render_set(document: dict[str, Any], header: str = "") -> str:
    """The YAML text of ``document``, with ``header`` as a comment block above it."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return comment + body


def write_set(out_dir: Path, document: dict[str, Any], header: str = "") -> Path:
    """Write the set as ``out_dir/templates.yaml`` atomically (the folder is made); the file's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / SET_FILE
    write_atomic(target, render_set(document, header).encode())
    return target
