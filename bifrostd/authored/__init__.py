"""What people author about an entity, kept in a sidecar file in the entity's folder.

Paths say what a file is; people decide the rest (description, frame range,
tags, links, free fields). That lives in one small YAML file per entity,
beside what it describes, so the catalog stays an index that a scan can
rebuild. :mod:`.model` is pure (parse, validate, render); :mod:`.sidecar`
reads and writes the file (atomically, read-modify-write under a lock).
"""

from __future__ import annotations

from .model import SCHEMA_ID, Authored, FrameRange, Link, SidecarRead, parse_sidecar, render_sidecar
from .sidecar import LOCK_NAME, SIDECAR_NAME, read_sidecar, update_sidecar
from .versions import Deprecation, Publish, PublishedFile

__all__ = [
    "LOCK_NAME",
    "SCHEMA_ID",
    "SIDECAR_NAME",
    "Authored",
    "Deprecation",
    "FrameRange",
    "Link",
    "Publish",
    "PublishedFile",
    "SidecarRead",
    "parse_sidecar",
    "read_sidecar",
    "render_sidecar",
    "update_sidecar",
]
