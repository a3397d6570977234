"""An entity's folder skeleton: the folders its templates fix once the entity's fields are known.

The rule, for an entity of kind K with fields F (its own keys and its
parents'), over every template of the set that does not say ``skeleton: false``:

1. Render the template's path segment by segment with F, stopping at the
   first segment that needs a field F does not give (an optional part is
   written when all its fields are given and left out otherwise, as
   formatting does). A template whose every segment renders names a file
   when its last segment holds a ``.`` in its static text
   (``{shot}_{task}_v{version}.{ext}``): that segment is not a folder.
2. Of the folders rendered, those at or below the segment by which all of
   K's own keys have been used (``shot`` for a shot; ``asset_type`` and
   ``asset`` for an asset, so ``assets/character`` is a parent of
   ``assets/character/hero``) belong to the entity; the folders above are
   its parents, made when missing (as ``mkdir -p`` does) but not the entity's.

So ``create shot`` makes the shot's folder, and ``plates/``, ``editorial/``
and the shot's folder in the renders root, but no task folder (it needs
``task``); ``create task`` under that shot makes the task's folder and its
``work/maya``, ``publish`` and ``review`` folders. A template may give the
folder it ends in (its own folder, or a file template's folder) a ``mode``
(``'2775'``: setgid, so that files made below keep the folder's group) and
a ``group``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .compiled import CompiledTemplate
from .keys import Key
from .pattern import KeyRef, Optional, Text, Token, key_refs
from .readings import segments

__all__ = ["SkeletonFolder", "skeleton_folders"]


@dataclass(frozen=True, slots=True)
class SkeletonFolder:
    """One folder of an entity's skeleton (or a parent it needs), root-relative."""

    root: str
    relative: str
    #: True for the entity's own folders; False for parents above them.
    own: bool
    #: The templates this folder is the last folder of, in set order (they give its mode and group).
    templates: tuple[str, ...] = ()
    mode: int | None = None
    group: str | None = None


def skeleton_folders(templates: dict[str, CompiledTemplate], own_keys: frozenset[str],
                     fields: dict[str, Any]) -> list[SkeletonFolder]:
    """Every folder of the skeleton of an entity whose own key fields are ``own_keys``, parents first
    (see the module docstring); ``fields`` are typed values."""
    found: dict[tuple[str, str], SkeletonFolder] = {}
    texts: dict[tuple[str, int | None, Any], str] = {}  # each value rendered once per key and padding
    for template in templates.values():
        if not template.skeleton:
            continue
        folders, complete = _folders(template, own_keys, fields, texts)
        for index, (relative, own) in enumerate(folders):
            _add(found, template, relative, own, complete and index == len(folders) - 1)
    return sorted(found.values(), key=lambda f: (f.root, f.relative.count("/"), f.relative))


def _add(found: dict[tuple[str, str], SkeletonFolder], template: CompiledTemplate, relative: str, own: bool,
         its_folder: bool) -> None:
    """Record ``relative``; ``its_folder``: it is the template's own (deepest) folder, which takes its mode and group."""
    key = (template.root, relative)
    earlier = found.get(key)
    if earlier is None:
        earlier = SkeletonFolder(template.root, relative, own)
    if own and not earlier.own:
        earlier = SkeletonFolder(earlier.root, earlier.relative, True, earlier.templates, earlier.mode, earlier.group)
    if its_folder:
        earlier = SkeletonFolder(earlier.root, earlier.relative, earlier.own, (*earlier.templates, template.name),
                                 earlier.mode if earlier.mode is not None else template.mode,
                                 earlier.group if earlier.group is not None else template.group)
    found[key] = earlier


@lru_cache(maxsize=4096)
def _segments(tokens: tuple[Token, ...]) -> tuple[tuple[tuple[Token, ...], frozenset[str]], ...] | None:
    """A template's segments, each with the names of the keys it uses (computed once per template)."""
    split = segments(tokens)
    if split is None:
        return None
    return tuple((segment, frozenset(ref.name for ref in key_refs(segment))) for segment in split)


def _folders(template: CompiledTemplate, own_keys: frozenset[str], fields: dict[str, Any],
             texts: dict[tuple[str, int | None, Any], str]) -> tuple[list[tuple[str, bool]], bool]:
    """(folder, owned) for each folder of ``template`` that ``fields`` fix, outermost first, and whether
    they reach the template's own folder (every folder segment rendered)."""
    split = _segments(template.tokens)
    if split is None:
        return [], False
    rendered: list[str] = []
    owned_from: int | None = None
    seen: set[str] = set()
    for index, (segment, names) in enumerate(split):
        text = _render(segment, template.keys, fields, texts)
        if text is None:
            break
        rendered.append(text)
        seen |= {template.keys[name].field for name in names}
        if owned_from is None and own_keys <= seen:
            owned_from = index
    folder_segments = len(split) - 1 if _names_a_file(split[-1][0]) else len(split)
    del rendered[folder_segments:]
    if owned_from is None or owned_from >= len(rendered):
        return [], False
    folders = [("/".join(rendered[: index + 1]), index >= owned_from) for index in range(len(rendered))]
    return folders, len(rendered) == folder_segments


def _names_a_file(segment: tuple[Token, ...]) -> bool:
    return any(isinstance(t, Text) and "." in t.text for t in segment)


def _render(tokens: tuple[Token, ...], keys: dict[str, Key], fields: dict[str, Any],
            texts: dict[tuple[str, int | None, Any], str]) -> str | None:
    """The segment's text from ``fields``, or None when a key outside optional parts has no value."""
    out: list[str] = []
    for token in tokens:
        if isinstance(token, Text):
            out.append(token.text)
        elif isinstance(token, KeyRef):
            key = keys[token.name]
            value = fields.get(key.field)
            if value is None:
                return None
            cached = (key.name, token.padding, value)
            text = texts.get(cached)
            if text is None:
                text = texts[cached] = key.render(value, token.padding)
            out.append(text)
        elif isinstance(token, Optional):
            inner = _render(token.parts, keys, fields, texts)
            if inner is not None and all(fields.get(keys[r.name].field) is not None for r in key_refs(token.parts)):
                out.append(inner)
    return "".join(out)
