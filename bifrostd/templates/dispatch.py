"""Dispatching a path to the few templates that could match it, without trying them all.

Templates of one root are bucketed by (number of segments, extension). Inside
a bucket a small decision tree looks at whole static segments: at the segment
index that best splits the bucket (``render`` vs ``work`` vs ``publish``), a
dict lookup picks the branch. A template whose segment there is not static
(it holds a key) goes down every branch. A leaf holds the templates that are
still possible; only they are tried, and all of them are, so ties between
templates are still seen.

Correctness does not depend on the tree's choices: a template is left out of
a branch only when its static segment differs from the path's, in which case
it cannot match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .compiled import CompiledTemplate
from .pattern import Text, Token
from .shape import Shape, _variants

#: Buckets at or below this size are tried directly.
LEAF_SIZE = 1


@dataclass(slots=True)
class Node:
    """A decision on segment ``index`` (a branch per static text), or a leaf (index -1) of templates to try."""

    index: int = -1
    branches: dict[str, "Node"] = field(default_factory=dict)
    default: "Node | None" = None
    templates: tuple[CompiledTemplate, ...] = ()
    #: A leaf's templates followed by the root's templates of any shape (set by build_root_index).
    candidates: tuple[CompiledTemplate, ...] = ()


def static_segments(tokens: tuple[Token, ...], count: int) -> list[str | None] | None:
    """Per segment index, its static text if every variant with ``count`` segments agrees, else None."""
    result: list[str | None] | None = None
    for flat in _variants(tokens):
        segments = _flat_segments(flat)
        if len(segments) != count:
            continue
        if result is None:
            result = segments
        else:
            result = [a if a == b else None for a, b in zip(result, segments)]
    return result


def _flat_segments(flat: tuple[Token, ...]) -> list[str | None]:
    segments: list[str | None] = []
    current: str | None = ""
    for token in flat:
        if isinstance(token, Text):
            pieces = token.text.split("/")
            for piece in pieces[:-1]:
                segments.append(None if current is None else current + piece)
                current = ""
            current = None if current is None else current + pieces[-1]
        else:
            current = None
    segments.append(current)
    return segments


def _by_priority(items: Iterable[CompiledTemplate]) -> tuple[CompiledTemplate, ...]:
    return tuple(sorted(items, key=lambda t: -t.priority))


def build_tree(entries: list[tuple[CompiledTemplate, list[str | None]]], used: frozenset[int] = frozenset()) -> Node:
    """A decision tree over ``entries`` (template, static segments of the bucket's length)."""
    if len(entries) <= LEAF_SIZE:
        return Node(templates=_by_priority(t for t, _ in entries))
    index = _best_index(entries, used)
    if index < 0:
        return Node(templates=_by_priority(t for t, _ in entries))
    wild = [e for e in entries if e[1][index] is None]
    values: dict[str, list[tuple[CompiledTemplate, list[str | None]]]] = {}
    for entry in entries:
        segment = entry[1][index]
        if segment is not None:
            values.setdefault(segment, []).append(entry)
    used = used | {index}
    branches = {value: build_tree(items + wild, used) for value, items in values.items()}
    default = build_tree(wild, used) if wild else Node()
    return Node(index=index, branches=branches, default=default)


def _best_index(entries: list[tuple[CompiledTemplate, list[str | None]]], used: frozenset[int]) -> int:
    best, best_score = -1, (0, 0)
    for index in range(len(entries[0][1])):
        if index in used:
            continue
        statics = [segs[index] for _, segs in entries if segs[index] is not None]
        distinct = len(set(statics))
        wild = len(entries) - len(statics)
        largest = max((statics.count(v) for v in set(statics)), default=0)
        if distinct < 2 and wild == 0:
            continue
        if distinct == 0:
            continue
        # prefer splits whose largest branch (plus templates sent everywhere) is smallest
        score = (-(largest + wild), distinct)
        if best < 0 or score > best_score:
            best, best_score = index, score
    if best >= 0 and -best_score[0] >= len(entries):
        return -1  # no split makes any branch smaller
    return best


@dataclass(slots=True)
class RootIndex:
    """Templates of one root: bucket by (segment count, extension), then a decision tree."""

    exact: dict[tuple[int, str], Node] = field(default_factory=dict)
    wild: dict[int, Node] = field(default_factory=dict)
    anywhere: tuple[CompiledTemplate, ...] = ()

    def candidates(self, relative: str) -> tuple[CompiledTemplate, ...]:
        count = relative.count("/") + 1
        dot = relative.rfind(".")
        node = self.exact.get((count, relative[dot + 1:] if dot > relative.rfind("/") else ""))
        if node is None:
            node = self.wild.get(count)
            if node is None:
                return self.anywhere
        if node.index < 0:
            return node.candidates
        segments = relative.split("/")  # only a decision needs the segments
        while node.index >= 0:
            branch = node.branches.get(segments[node.index], node.default)
            assert branch is not None  # build_tree gives every decision node a default
            node = branch
        return node.candidates


def build_root_index(templates: Iterable[CompiledTemplate], shapes: dict[str, Shape]) -> RootIndex:
    exact: dict[tuple[int, str], list[CompiledTemplate]] = {}
    wild: dict[int, list[CompiledTemplate]] = {}
    anywhere: list[CompiledTemplate] = []
    for template in templates:
        shape = shapes[template.name]
        if shape.counts is None:
            anywhere.append(template)
            continue
        for count in shape.counts:
            if shape.extensions is None:
                wild.setdefault(count, []).append(template)
            else:
                for ext in shape.extensions:
                    exact.setdefault((count, ext), []).append(template)
    index = RootIndex(anywhere=_by_priority(anywhere))
    for (count, ext), items in exact.items():
        index.exact[(count, ext)] = _tree(items + wild.get(count, []), count)
    for count, items in wild.items():
        index.wild[count] = _tree(items, count)
    for tree in [*index.exact.values(), *index.wild.values()]:
        for leaf in _leaves(tree):
            leaf.candidates = leaf.templates + index.anywhere
    return index


def _leaves(node: Node) -> Iterator[Node]:
    if node.index < 0:
        yield node
        return
    for branch in [*node.branches.values(), node.default]:
        if branch is not None:
            yield from _leaves(branch)


def _tree(templates: list[CompiledTemplate], count: int) -> Node:
    entries = [(t, static_segments(t.tokens, count) or [None] * count) for t in templates]
    return build_tree(entries)
