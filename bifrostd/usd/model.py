"""The values USD reading answers: pure, frozen, with ``to_json``; no pxr here."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Arc", "Change", "Dependency", "LayerDependencies", "LayerOutline", "PrimArcs", "Rewrite", "VariantSet"]


class Arc(enum.Enum):
    """How a layer names another file."""

    SUBLAYER = "sublayer"
    REFERENCE = "reference"
    PAYLOAD = "payload"
    ATTRIBUTE = "attribute"  # an asset-valued attribute: default or time sample
    METADATA = "metadata"  # an asset value in prim or layer metadata (assetInfo, customData, customLayerData)
    CLIP = "clip"  # value clips: assetPaths, manifestAssetPath, templateAssetPath


@dataclass(frozen=True, slots=True)
class Dependency:
    """One asset path authored in a layer: an edge from the layer to a file (or file set) or an entity.

    ``anchored`` is the authored path made absolute against the layer's
    folder (None for a ``bifrost:`` URI not resolved). ``files`` are the files
    on disk it stands for: itself when it exists, the tiles or frames of a
    ``<UDIM>`` or frame-token pattern; empty when nothing exists (a missing
    dependency). ``entity`` is the ``bifrost:`` URI as authored, if it is one.
    """

    kind: Arc
    prim: str  # the prim path ("/" for the layer itself), variant selections included: /hero{look=red}geo
    authored: str
    anchored: str | None
    files: tuple[str, ...] = ()
    entity: str | None = None
    field: str = ""  # the attribute, metadata key or clip set that holds it; "" for arcs
    time: float | None = None  # the time sample, for an attribute's time-sampled value
    pattern: bool = False  # a <UDIM> or frame-token pattern, expanded to ``files``
    #: For an expression path (`` `"./${VAR}/a.usda"` ``), its value with the layer's expressionVariables, which
    #: ``anchored`` is made from; "" when it can't be evaluated (then nothing is anchored); None for a plain path.
    evaluated: str | None = None

    @property
    def missing(self) -> bool:
        """A path (authored, or an entity's resolved) that names nothing on disk; an entity reference not
        resolved, or another URI (``https:``), is never missing here."""
        return self.anchored is not None and not self.files

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "prim": self.prim, "field": self.field, "time": self.time,
                "authored": self.authored, "anchored": self.anchored, "entity": self.entity,
                "evaluated": self.evaluated, "pattern": self.pattern, "files": list(self.files),
                "missing": self.missing}


@dataclass(frozen=True, slots=True)
class LayerDependencies:
    """What one layer depends on, or why it could not be read (``error``; then no dependencies)."""

    layer: str
    dependencies: tuple[Dependency, ...] = ()
    error: str | None = None

    @property
    def missing(self) -> tuple[Dependency, ...]:
        return tuple(d for d in self.dependencies if d.missing)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "bifrost.usd.dependencies.1", "layer": self.layer, "error": self.error,
                "dependencies": [d.to_json() for d in self.dependencies]}


@dataclass(frozen=True, slots=True)
class VariantSet:
    """A variant set authored on a prim: its variants and the selection this layer authors ("" for none)."""

    name: str
    variants: tuple[str, ...]
    selection: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "variants": list(self.variants), "selection": self.selection}


@dataclass(frozen=True, slots=True)
class PrimArcs:
    """One prim's composition arcs and variant sets, as this layer authors them."""

    path: str
    references: tuple[str, ...] = ()
    payloads: tuple[str, ...] = ()
    variant_sets: tuple[VariantSet, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "references": list(self.references), "payloads": list(self.payloads),
                "variant_sets": [v.to_json() for v in self.variant_sets]}


@dataclass(frozen=True, slots=True)
class LayerOutline:
    """``bifrostctl usd inspect``: a layer, its layer stack (sublayers, depth first), its prims' arcs and
    variant sets, and all its dependencies. Sublayers are read at the Sdf level; nothing is composed."""

    layer: str
    default_prim: str
    stack: tuple[tuple[int, str, str | None], ...]  # (depth, layer path, error or None); the layer itself at 0
    prims: tuple[PrimArcs, ...]
    dependencies: LayerDependencies

    def to_json(self) -> dict[str, Any]:
        return {"schema": "bifrost.usd.inspect.1", "layer": self.layer, "default_prim": self.default_prim,
                "stack": [{"depth": d, "layer": p, "error": e} for d, p, e in self.stack],
                "prims": [p.to_json() for p in self.prims],
                "dependencies": self.dependencies.to_json()["dependencies"], "error": self.dependencies.error}


@dataclass(frozen=True, slots=True)
class Change:
    """One asset path a rewrite replaced (``to``), or left alone and why (``to`` None, ``reason``)."""

    authored: str
    to: str | None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"from": self.authored, "to": self.to, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A rewrite of ``source`` into ``target``: what changed and what was left; ``written`` False on a dry run."""

    action: str
    source: str
    target: str
    changes: tuple[Change, ...]
    written: bool

    @property
    def changed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.to is not None)

    def to_json(self) -> dict[str, Any]:
        return {"schema": f"bifrost.usd.{self.action}.1", "source": self.source, "target": self.target,
                "written": self.written, "changes": [c.to_json() for c in self.changes]}
