"""USD layers (usd-core, imported on first use): inspecting them and rewriting their asset paths."""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING

from ..errors import (BifrostError)

if TYPE_CHECKING:
    from ..usd.model import LayerOutline, Rewrite

from .base import StudioBase
from .values import Unresolved


class Layers(StudioBase):
    """USD layers (usd-core, imported on first use) (mixed into :class:`~bifrostd.api.Studio`)."""

    def usd_inspect(self, target: str | _os.PathLike[str]) -> LayerOutline:
        """The outline of a USD layer (a path, or a reference to its file): layer stack, variant sets,
        references and payloads per prim, dependencies; ``bifrost:`` URIs in it resolved on this OS."""
        from ..usd.outline import outline

        return outline(self._layer_path(target), resolve=self._entity_path, locate=self._here)

    def usd_resolve_layer(self, source: str | _os.PathLike[str], target: str | _os.PathLike[str], *,
                          os: str | None = None, dry_run: bool = False) -> Rewrite:
        """Write ``target``: a copy of the layer ``source`` with its ``bifrost:`` URIs replaced by their paths
        on ``os`` (``?version=latest`` answered from the catalog); a URI that does not resolve is kept, with
        the reason. ``source`` is never written; ``target`` is written atomically."""
        from ..usd.rewrite import entity_paths, rewrite

        resolve = entity_paths(lambda uri: self._match_of_reference(uri, os).path)
        return rewrite("resolve-layer", self._layer_path(source), _os.fspath(target), resolve, dry_run=dry_run)

    def usd_relativize(self, source: str | _os.PathLike[str], target: str | _os.PathLike[str], *,
                       dry_run: bool = False) -> Rewrite:
        """Write ``target``: a copy of the layer ``source`` with each concrete path that names an entity's file
        replaced by its ``bifrost:///`` reference (:meth:`reference`); the inverse of :meth:`usd_resolve_layer`."""
        from ..usd.rewrite import rewrite, studio_references

        mapper = studio_references(self._identify)
        return rewrite("relativize", self._layer_path(source), _os.fspath(target), mapper, dry_run=dry_run)

    def _layer_path(self, target: str | _os.PathLike[str]) -> str:
        from ..templates import is_reference

        text = _os.fspath(target)
        return self._match_of_reference(text, None).path if is_reference(text) else text

    def _here(self, path: str) -> str:
        """A path written for another OS (``P:\\projects\\...`` on Linux) as it lies on this machine."""
        from ..templates.placing import place

        placed = place(self._set, path)
        if placed.foreign and placed.root is not None and placed.relative is not None:
            return self._absolute(placed.root, placed.relative, None)
        return path

    def _entity_path(self, uri: str) -> str | None:
        try:
            return self._match_of_reference(uri, None).path
        except BifrostError:
            return None

    def _identify(self, path: str) -> tuple[str | None, str]:
        """(reference, "") for a file of an entity; (None, why) for another path under a root; (None, "")
        for a path outside every root."""
        answer = self.explain(path)
        if isinstance(answer, Unresolved):
            return None, answer.reason if answer.root is not None else ""
        try:
            return self.reference(path), ""
        except BifrostError as error:
            return None, str(error)
