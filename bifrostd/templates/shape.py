"""The shape of a template: how many path segments and which extensions its paths can have.

Shapes index templates for matching (only templates of a path's shape are
tried) and prune the overlap check (templates of disjoint shapes can't
overlap). Keys never match a '/', so the segment count of a path is fixed by
the static text, per choice of optional parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Iterator

from .compiled import CompiledTemplate
from .keys import KeyType
from .pattern import KeyRef, Optional, Text, Token

#: Above this many optional parts (2**6 variants), shapes are not enumerated
#: and the template is tried for every path of its root.
MAX_OPTIONALS = 6


@dataclass(frozen=True, slots=True)
class Shape:
    counts: frozenset[int] | None  # None: any number of segments
    extensions: frozenset[str] | None  # None: any extension


def _variants(tokens: tuple[Token, ...]) -> Iterator[tuple[Token, ...]]:
    """Every flat token sequence obtained by including or leaving out each optional part."""
    choices: list[list[tuple[Token, ...]]] = []
    for token in tokens:
        if isinstance(token, Optional):
            choices.append([(), *_variants(token.parts)])
        else:
            choices.append([(token,)])
    for combo in product(*choices):
        yield tuple(t for part in combo for t in part)


def _count_optionals(tokens: tuple[Token, ...]) -> int:
    return sum(1 + _count_optionals(t.parts) for t in tokens if isinstance(t, Optional))


def _extension(template: CompiledTemplate, flat: tuple[Token, ...]) -> frozenset[str] | None:
    """The possible extensions of paths with these tokens (None: unknown)."""
    last_segment: list[Token] = []
    for token in reversed(flat):
        if isinstance(token, Text) and "/" in token.text:
            last_segment.append(Text(token.text.rsplit("/", 1)[1], 0))
            break
        last_segment.append(token)
    last_segment.reverse()
    if not last_segment:
        return frozenset({""})
    tail = last_segment[-1]
    if isinstance(tail, Text):
        if "." in tail.text:
            return frozenset({tail.text.rsplit(".", 1)[1]})
        if all(isinstance(t, Text) for t in last_segment):
            return frozenset({""})
        return None
    before = last_segment[-2] if len(last_segment) > 1 else None
    key = template.keys[tail.name] if isinstance(tail, KeyRef) else None
    if key is not None and key.type is KeyType.STR and key.choices and isinstance(before, Text) and before.text.endswith("."):
        if all("." not in c for c in key.choices):
            return frozenset(key.choices)
    return None


def template_shape(template: CompiledTemplate) -> Shape:
    if _count_optionals(template.tokens) > MAX_OPTIONALS:
        return Shape(None, None)
    counts: set[int] = set()
    extensions: set[str] | None = set()
    for flat in _variants(template.tokens):
        counts.add(1 + sum(t.text.count("/") for t in flat if isinstance(t, Text)))
        ext = _extension(template, flat)
        if ext is None or extensions is None:
            extensions = None
        else:
            extensions |= ext
    return Shape(frozenset(counts), frozenset(extensions) if extensions is not None else None)
