"""One layer's dependencies, read at the Sdf level without composing a stage.

A walk of the layer's specs (variants' contents included; ordered by path) gives each
asset path with its arc kind and prim path, which
``UsdUtils.ExtractExternalReferences`` cannot (it folds a path used twice
into one bucket). Clip templates (``templateAssetPath``) are expanded from
the files on disk, as frame tokens are, not from the template's time range. The layer is opened anonymously, so a file changed on disk
is read anew rather than served from Sdf's registry. A layer that cannot be
read is an error *value* in the result, never an exception: a scan over
thousands of layers reports it and goes on.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Callable, Iterator

from .loader import pxr
from .model import Arc, Dependency, LayerDependencies
from .tokens import anchor, expand, is_entity, is_pattern

__all__ = ["EntityResolver", "Locator", "dependencies", "open_layer", "read_dependencies"]

#: Maps a ``bifrost:`` URI to a concrete path, or None when it names nothing (the template set, asked).
EntityResolver = Callable[[str], "str | None"]
#: Maps an anchored path, perhaps written for another OS (``P:\proj\...`` read on Linux), to where that file
#: lies on this machine (the studio's roots, asked); the identity when not given.
Locator = Callable[[str], str]
_TF_PREFIX = re.compile(r" : '(.*)'\s*$", re.S)
_ARC_INFO = {"references", "payload", "clips", "subLayers", "variantSelection", "variantSetNames", "specifier"}


def open_layer(path: str) -> tuple[Any, str | None]:
    """The layer at ``path`` (an Sdf.Layer) and None, or None and why it can't be read."""
    sdf, tf = pxr("Sdf"), pxr("Tf")
    try:
        layer = sdf.Layer.OpenAsAnonymous(os.path.abspath(path))
    except tf.ErrorException as error:
        return None, _message(str(error))
    if layer is None:
        return None, "no such file" if not os.path.exists(path) else "not a layer USD can read"
    return layer, None


def _message(text: str) -> str:
    """The parser's own words (``file:line:col: Expected } ...``), without Tf's C++ location prefix."""
    found = _TF_PREFIX.search(text)
    return " ".join((found[1] if found else text).split())


def read_dependencies(path: str, *, resolve: EntityResolver | None = None,
                      locate: Locator | None = None) -> LayerDependencies:
    """The dependencies of the layer at ``path``; ``error`` set (and none listed) when it can't be read."""
    layer, error = open_layer(path)
    if layer is None:
        return LayerDependencies(os.path.abspath(path), error=error)
    return dependencies(layer, os.path.abspath(path), resolve=resolve, locate=locate)


def dependencies(layer: Any, path: str, *, resolve: EntityResolver | None = None,
                 locate: Locator | None = None) -> LayerDependencies:
    """The dependencies of an open Sdf layer read from ``path`` (which anchors its relative paths)."""
    folder = posixpath.dirname(path.replace("\\", "/"))
    variables = dict(layer.expressionVariables)
    edges = (_edge(folder, raw, resolve, locate or _here, variables) for raw in _authored(layer))
    return LayerDependencies(path, tuple(edges))


def _here(path: str) -> str:
    return path


def _edge(folder: str, raw: tuple[Arc, str, str, str, float | None], resolve: EntityResolver | None,
          locate: Locator, variables: dict[str, Any]) -> Dependency:
    kind, prim, field, authored, time = raw
    evaluated = _evaluated(authored, variables)
    path = authored if evaluated is None else evaluated
    entity = path if is_entity(path) else None
    target = (resolve(path) if resolve else None) if entity else anchor(folder, path)
    files = expand(locate(target)) if target else ()
    return Dependency(kind, prim, authored, target, files, entity, field, time,
                      target is not None and is_pattern(target), evaluated)


def _evaluated(authored: str, variables: dict[str, Any]) -> str | None:
    """An expression path (`` `"./rig/${RIG_VERSION}/rig.usda"` ``) evaluated with the layer's
    ``expressionVariables``; "" when it can't be; None for a plain path."""
    expression = pxr("Sdf").VariableExpression
    if not expression.IsExpression(authored):
        return None
    result = expression(authored).Evaluate(variables)
    return result.value if isinstance(result.value, str) and not result.errors and "${" not in result.value else ""


def _authored(layer: Any) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    """(kind, prim, field, authored path, time) for every asset path the layer authors, in layer order."""
    for sub in layer.subLayerPaths:
        yield Arc.SUBLAYER, "/", "", sub, None
    yield from _metadata("/", layer.customLayerData, "customLayerData")
    paths: list[Any] = []
    layer.Traverse(pxr("Sdf").Path.absoluteRootPath, paths.append)  # in C++: iterating spec proxies is 100x dearer
    for path in sorted(paths, key=str):  # by path: a prim, its properties, its children, then its variants
        yield from _spec(layer, path)


def _spec(layer: Any, path: Any) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    if path.IsPrimPath() or path.IsPrimVariantSelectionPath():
        prim = layer.GetPrimAtPath(path)
        if prim is not None:
            yield from _prim(prim, str(path))
    elif path.IsPrimPropertyPath():
        spec = layer.GetAttributeAtPath(path)
        if spec is not None and spec.typeName in _asset_types():
            yield from _attribute(layer, spec)


def _asset_types() -> tuple[Any, ...]:
    names = pxr("Sdf").ValueTypeNames
    return names.Asset, names.AssetArray


def _prim(spec: Any, where: str) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    for item in spec.referenceList.GetAddedOrExplicitItems():
        if item.assetPath:  # an empty asset path is an internal reference
            yield Arc.REFERENCE, where, "", item.assetPath, None
    for item in spec.payloadList.GetAddedOrExplicitItems():
        if item.assetPath:
            yield Arc.PAYLOAD, where, "", item.assetPath, None
    if spec.HasInfo("clips"):
        for clip_set, clip in dict(spec.GetInfo("clips")).items():
            yield from _clip(where, clip_set, dict(clip))
    for key in spec.ListInfoKeys():
        if key not in _ARC_INFO:
            yield from _metadata(where, spec.GetInfo(key), key)


def _clip(where: str, clip_set: str, clip: dict[str, Any]) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    for key in ("assetPaths", "manifestAssetPath", "templateAssetPath"):
        for value in _values(clip.get(key)):
            yield Arc.CLIP, where, f"{clip_set}.{key}", value, None


def _metadata(where: str, value: Any, key: str) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    """Asset values anywhere in a metadata value, dictionaries (assetInfo, customData) searched through."""
    if isinstance(value, dict) or hasattr(value, "items") and not isinstance(value, str):
        for name, inner in dict(value).items():
            yield from _metadata(where, inner, f"{key}.{name}")
        return
    for asset in _assets(value):
        yield Arc.METADATA, where, key, asset, None


def _attribute(layer: Any, spec: Any) -> Iterator[tuple[Arc, str, str, str, float | None]]:
    path = spec.path
    where, field = str(path.GetPrimPath()), spec.name
    if spec.HasDefaultValue():
        for asset in _assets(spec.default):
            yield Arc.ATTRIBUTE, where, field, asset, None
    for time in layer.ListTimeSamplesForPath(path):
        for asset in _assets(layer.QueryTimeSample(path, time)):
            yield Arc.ATTRIBUTE, where, field, asset, float(time)


def _assets(value: Any) -> list[str]:
    """The asset paths in an attribute or metadata value (an Sdf.AssetPath or an array of them)."""
    asset_path = pxr("Sdf").AssetPath
    if isinstance(value, asset_path):
        return [value.path] if value.path else []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "AssetPathArray":
        return [a.path for a in value if isinstance(a, asset_path) and a.path]
    return []


def _values(value: Any) -> list[str]:
    """Clip asset paths: a single path, an array, or a template string."""
    if isinstance(value, str):
        return [value] if value else []
    return _assets(value)
