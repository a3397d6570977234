"""A layer's outline for ``bifrostctl usd inspect``: its layer stack, each prim's references, payloads and
variant sets with their authored selections, and its dependencies. Sdf level only: sublayers are opened
(to list the stack) but no stage is composed, so a broken or missing arc never stops the answer."""

from __future__ import annotations

import os
from typing import Any, Iterator

from .extract import EntityResolver, Locator, dependencies, open_layer
from .model import Arc, LayerDependencies, LayerOutline, PrimArcs, VariantSet

__all__ = ["outline"]


def outline(path: str, *, resolve: EntityResolver | None = None, locate: Locator | None = None,
            max_depth: int = 32) -> LayerOutline:
    """The outline of the layer at ``path``; a layer that can't be read gives an outline with its error."""
    path = os.path.abspath(path)
    layer, error = open_layer(path)
    if layer is None:
        return LayerOutline(path, "", ((0, path, error),), (), LayerDependencies(path, error=error))
    deps = dependencies(layer, path, resolve=resolve, locate=locate)
    stack = ((0, path, None), *_stack(deps, 1, max_depth, {path}, resolve, locate))
    prims = tuple(_prims_of(layer))
    return LayerOutline(path, layer.defaultPrim or "", stack, prims, deps)


def _stack(deps: LayerDependencies, depth: int, max_depth: int, seen: set[str], resolve: EntityResolver | None,
           locate: Locator | None) -> Iterator[tuple[int, str, str | None]]:
    """The sublayers of a layer, depth first, each read at the Sdf level (a cycle is listed once)."""
    for dep in deps.dependencies:
        if dep.kind is not Arc.SUBLAYER:
            continue
        target = (dep.files[0] if dep.files else dep.anchored) or dep.authored  # a foreign spelling, located
        if dep.anchored is None or target in seen or depth > max_depth:
            yield depth, target, None if dep.anchored else "a bifrost: reference that was not resolved"
            continue
        sub, error = open_layer(target)
        yield depth, target, error
        if sub is not None:
            yield from _stack(dependencies(sub, target, resolve=resolve, locate=locate), depth + 1, max_depth,
                              seen | {target}, resolve, locate)


def _prims_of(layer: Any) -> Iterator[PrimArcs]:
    """Every prim spec with an arc or a variant set, parents first, variants' contents included."""
    todo = list(reversed(layer.rootPrims))
    while todo:
        spec = todo.pop()
        arcs = _arcs(spec)
        if arcs.references or arcs.payloads or arcs.variant_sets:
            yield arcs
        inner = [v.primSpec for s in spec.variantSets.values() for v in s.variants.values()]
        todo.extend(reversed([*inner, *spec.nameChildren]))


def _arcs(spec: Any) -> PrimArcs:
    selections = dict(spec.variantSelections)
    sets = tuple(VariantSet(name, tuple(vset.variants.keys()), selections.get(name, ""))
                 for name, vset in spec.variantSets.items())
    authored_only = tuple(VariantSet(name, (), choice) for name, choice in selections.items()
                          if name not in spec.variantSets)  # a selection of a set another layer defines
    return PrimArcs(str(spec.path), _items(spec.referenceList), _items(spec.payloadList), sets + authored_only)


def _items(list_op: Any) -> tuple[str, ...]:
    """Each arc as ``@asset@</prim>`` (``</prim>`` alone for an internal one), as usda spells it."""
    return tuple((f"@{i.assetPath}@" if i.assetPath else "") + (f"<{i.primPath}>" if i.primPath else "")
                 for i in list_op.GetAddedOrExplicitItems())


