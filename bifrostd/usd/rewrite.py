"""A copy of a layer with some of its asset paths replaced, written atomically; the original untouched.

What to replace is decided by a *mapper*, a function from one authored path
to a :class:`~.model.Change` (or None to leave it unremarked), so the same
machinery turns ``bifrost:`` URIs into paths (``usd resolve-layer``) and
paths into URIs (``usd relativize``); the mappers that need the studio are
built by :class:`bifrostd.api.Studio`. Every asset path is visited, arcs,
attributes, metadata and clips alike (``UsdUtils.ModifyAssetPaths``). A
relative path is re-anchored when the copy is written to another folder, so
it still names the same file.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..atomic_write import write_atomic
from ..errors import BifrostError, ResolveError
from .extract import open_layer
from .loader import pxr
from .model import Change, Rewrite
from .tokens import anchor, is_entity

__all__ = ["Mapper", "entity_paths", "rebase", "rewrite", "studio_references"]

Mapper = Callable[[str, str], "Change | None"]  # (authored path, the layer's folder) -> a change, or None


def rewrite(action: str, source: str, target: str, mapper: Mapper, *, dry_run: bool = False) -> Rewrite:
    """Plan (and unless ``dry_run`` write) ``target``: ``source`` with each path ``mapper`` changes replaced.

    Raises ResolveError when ``source`` can't be read as a layer, BifrostError (exit 2) when ``target`` is
    ``source``; nothing is written then.
    """
    source, target = os.path.abspath(source), os.path.abspath(target)
    if os.path.realpath(source) == os.path.realpath(target):
        raise BifrostError(f"{target} is the layer being read: write the copy elsewhere (the original is never written)")
    layer, error = open_layer(source)
    if layer is None:
        raise ResolveError(f"{source}: cannot read this USD layer: {error}")
    folder, changes = os.path.dirname(source), []

    def visit(authored: str) -> str:
        change = mapper(authored, folder)
        if change is not None:
            changes.append(change)
            if change.to is not None:
                return change.to
        return rebase(authored, folder, os.path.dirname(target))

    pxr("UsdUtils").ModifyAssetPaths(layer, visit)
    if not dry_run:
        write_atomic(target, _serialised(layer, target))
    return Rewrite(action, source, target, tuple(changes), not dry_run)


def rebase(authored: str, old: str, new: str) -> str:
    """A ``./`` or ``../`` path relative to ``new`` instead of ``old``; any other path as authored."""
    if old == new or not authored.startswith(("./", "../")):
        return authored
    moved = posixpath.relpath(posixpath.join(old, authored), new)
    return moved if moved.startswith("../") else f"./{moved}"


def _serialised(layer: Any, target: str) -> bytes:
    """The layer in the format ``target``'s extension names (.usda text; .usd and .usdc crate)."""
    if target.endswith(".usda"):
        return str(layer.ExportToString()).encode()
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, os.path.basename(target))
        if not layer.Export(out):
            raise ResolveError(f"{target}: USD cannot write a layer in this format")
        return Path(out).read_bytes()


def entity_paths(resolve: Callable[[str], str]) -> Mapper:
    """A mapper replacing each ``bifrost:`` URI by ``resolve(uri)``; one it can't resolve (ResolveError and
    kin) is left as authored, with the reason."""
    def mapper(authored: str, folder: str) -> Change | None:
        if not is_entity(authored):
            return None
        try:
            return Change(authored, resolve(authored))
        except BifrostError as error:
            return Change(authored, None, str(error))
    return mapper


def studio_references(identify: Callable[[str], "tuple[str | None, str]"]) -> Mapper:
    """A mapper replacing each concrete path (anchored to the layer) that ``identify`` turns into a reference.

    ``identify`` answers (reference, "") or (None, why not); a path it says
    nothing about (None, "") is outside the studio and goes unremarked.
    """

    def mapper(authored: str, folder: str) -> Change | None:
        anchored = None if is_entity(authored) else anchor(folder, authored)
        if anchored is None:
            return None
        uri, why = identify(anchored)
        return Change(authored, uri, why) if uri or why else None
    return mapper
