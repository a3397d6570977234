"""Every reading of one path under one template, and the rule that picks one when there are several.

``{name}_{channel}[_{layer}].tif`` with a ``channel`` key allowing ``_``
reads ``n_ch_la.tif`` as channel ``ch_la`` without a layer, and as channel
``ch`` with layer ``la``. ``templates check`` proves which templates can do
this (:mod:`.ambiguity`); this module answers it for one path, without
automata, so that matching can refuse such a path rather than silently
take the regex engine's first split:

* :func:`one_reading_by_separators` proves, cheaply and at compile time,
  that most templates never read a path two ways (each key is followed by
  static text whose first character it can't hold). Those templates parse
  with their regex alone.
* :func:`readings` enumerates the distinct readings of a path under a
  template that is not so proven, in the order a :class:`ReadingRule`
  prefers: matching under ``refuse`` (the default) reports two readings as
  an ambiguous path; a set or template that declares ``longest-first`` or
  ``shortest-first`` takes the first reading in that order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Iterator

from .keys import Key, KeyType
from .pattern import KeyRef, Optional, Text, Token, key_refs

__all__ = ["Piece", "ReadingRule", "all_text", "TwoWays", "differing_text", "may_hold", "one_reading_by_separators",
           "one_reading_proven", "piece_proven", "pieces", "readings", "segments"]


class ReadingRule(str, Enum):
    """What a template does with a path it can read two ways."""

    #: Refuse it: matching reports the path as ambiguous, with its readings; formatting refuses to write it.
    REFUSE = "refuse"
    #: Earlier keys take the longest values they can (an optional part is taken when it can be).
    LONGEST_FIRST = "longest-first"
    #: Earlier keys take the shortest values they can (an optional part is left out when it can be).
    SHORTEST_FIRST = "shortest-first"


class TwoWays(dict[str, Any]):
    """The fields of a path that reads two ways: the first reading, with every reading in ``readings``.

    A parser of a template under :attr:`ReadingRule.REFUSE` returns one of
    these instead of a plain dict; matching turns it into an ambiguous match.
    """

    __slots__ = ("readings",)

    def __init__(self, readings: list[dict[str, Any]]) -> None:
        super().__init__(readings[0])
        self.readings = tuple(readings)


# -- the cheap proof ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a template proven on its own: a path segment, or the whole template.

    No key value holds '/' (keys.unsafe_reason), so two readings of a path
    split it into the same segments, and each segment can be proven alone:
    smaller automata, shared by the templates that share a folder.
    """

    index: int  # the segment's index, or -1 for the whole template
    tokens: tuple[Token, ...]
    fields: tuple[str, ...]  # the field of each key occurrence, in order
    #: Fields an earlier segment always holds (outside optional parts): their values are known once
    #: that segment is read, as a repeated key must repeat its value.
    pinned: frozenset[str] = frozenset()


def pieces(tokens: tuple[Token, ...], keys: dict[str, Key]) -> list[Piece]:
    """The pieces worth proving: segments holding a key, or the whole template if an optional part spans a '/'."""
    split = segments(tokens)
    if split is None:
        return [Piece(-1, tokens, _fields(tokens, keys))]
    out = []
    pinned: frozenset[str] = frozenset()
    for index, segment in enumerate(split):
        out.append(_piece(index, list(segment), keys, pinned))
        pinned |= {keys[t.name].field for t in segment if isinstance(t, KeyRef)}
    return [p for p in out if p.fields and (len(p.fields) > 1 or any(isinstance(t, Optional) for t in p.tokens))]


def segments(tokens: tuple[Token, ...]) -> list[tuple[Token, ...]] | None:
    """The tokens of each '/'-separated segment of a template, or None if an optional part spans a '/'
    (the number of segments then varies)."""
    if any(isinstance(t, Optional) and "/" in all_text(t.parts) for t in tokens):
        return None
    out: list[tuple[Token, ...]] = []
    current: list[Token] = []
    for token in tokens:
        if isinstance(token, Text) and "/" in token.text:
            head, *middle, tail = token.text.split("/")
            out.append((*current, Text(head, token.offset)))
            out += [(Text(text, token.offset),) for text in middle]
            current = [Text(tail, token.offset)]
        else:
            current.append(token)
    out.append(tuple(current))
    return out


def _piece(index: int, tokens: list[Token], keys: dict[str, Key], pinned: frozenset[str]) -> Piece:
    kept = tuple(t for t in tokens if not (isinstance(t, Text) and not t.text))
    return Piece(index, kept, _fields(kept, keys), pinned)


def _fields(tokens: tuple[Token, ...], keys: dict[str, Key]) -> tuple[str, ...]:
    return tuple(keys[ref.name].field for ref in key_refs(tokens))


def all_text(tokens: tuple[Token, ...]) -> str:
    return "".join(t.text if isinstance(t, Text) else all_text(t.parts) if isinstance(t, Optional) else ""
                   for t in tokens)


def one_reading_proven(tokens: tuple[Token, ...], keys: dict[str, Key]) -> bool:
    """True if it is proven, without automata, that no path of the template ``tokens`` reads two ways.

    Each piece is proven on its own: every way of taking or leaving out its
    optional parts must pass :func:`one_reading_by_separators`, and any two
    of those ways must differ in how many times their static text holds a
    character that no key of the piece can hold (``_`` in
    ``{asset}_{task}[_{name}]_v{version}``: two against three), so that no
    path is read both with and without an optional part. False means "not
    proven", never "ambiguous".
    """
    return all(piece_proven(piece, keys) for piece in pieces(tokens, keys))


_MAX_ALTERNATIVES = 64


def piece_proven(piece: Piece, keys: dict[str, Key]) -> bool:
    """True if it is proven that no text of ``piece`` reads two ways (see :func:`one_reading_proven`).

    A piece without optional parts in which at most one field is not pinned
    by an earlier segment reads one way: the pinned values are known, so
    only one value is left to read (``{shot}/.../{shot}_{element}.exr``).
    """
    tokens = piece.tokens
    if not any(isinstance(t, Optional) for t in tokens) and len(_free_fields(piece, keys)) <= 1:
        return True
    known = {keys[r.name].field for r in key_refs(tokens)} - _free_fields(piece, keys)
    ways = _alternatives(tokens)
    if len(ways) > _MAX_ALTERNATIVES or not all(one_reading_by_separators(way, keys, known) for way in ways):
        return False
    if len(ways) == 1:
        return True
    regexes = {keys[ref.name].regex(ref.padding, proof=True) for ref in key_refs(tokens)}
    text = all_text(tokens)
    counted = [c for c in sorted(set(text)) if not any(may_hold(regex, c) for regex in regexes)]
    counts = [tuple(all_text(way).count(c) for c in counted) for way in ways]
    return len(set(counts)) == len(counts)


def _free_fields(piece: Piece, keys: dict[str, Key]) -> set[str]:
    """The fields of ``piece`` whose text is not known from an earlier segment. Only a string's text is
    its value: a number pinned as 3 may read as ``3`` or ``003`` where its padding is loose."""
    return {keys[ref.name].field for ref in key_refs(piece.tokens)
            if keys[ref.name].field not in piece.pinned or keys[ref.name].type is not KeyType.STR}


def _alternatives(tokens: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    """Every way of taking or leaving out the optional parts, adjacent static text joined."""
    ways: list[list[Token]] = [[]]
    for token in tokens:
        if isinstance(token, Optional):
            inner = _alternatives(token.parts)
            if len(ways) * (len(inner) + 1) > _MAX_ALTERNATIVES:
                return [tokens] * (_MAX_ALTERNATIVES + 1)  # too many to prove this way
            ways = [way + list(part) for way in ways for part in ((), *inner)]
        else:
            ways = [way + [token] for way in ways]
    return [_joined(way) for way in ways]


def _joined(tokens: list[Token]) -> tuple[Token, ...]:
    out: list[Token] = []
    for token in tokens:
        if isinstance(token, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + token.text, out[-1].offset)
        elif not (isinstance(token, Text) and not token.text):
            out.append(token)
    return tuple(out)


def one_reading_by_separators(tokens: tuple[Token, ...], keys: dict[str, Key],
                              known: frozenset[str] | set[str] = frozenset()) -> bool:
    """True if the keys of ``tokens`` split a path one way only because of the static text around them.

    A key followed by static text whose first character it can't hold ends
    at the first such character after its start: read from the left, its
    value is fixed. A key preceded by static text whose last character it
    can't hold starts just after the last such character before its end:
    read from the right, its value is fixed. If the keys before some key are
    all fixed from the left and the keys after it all fixed from the right,
    that key takes what is left between them, and the path splits one way:
    ``{shot}_{task}_v{version}.{frame}.exr`` (every key fixed from the left),
    or ``{asset}_{name}_{output}_v{version}`` with an asset name that may hold
    ``_`` but a name and output that can't (fixed from the right). An
    optional part makes this False (see :func:`one_reading_proven`). A key whose field is ``known``
    (its text read from an earlier segment) is fixed from both sides.

    False means "not proven", never "ambiguous".
    """
    if not all(isinstance(t, (KeyRef, Text)) for t in tokens):
        return False
    refs = [index for index, token in enumerate(tokens) if isinstance(token, KeyRef)]
    if not refs:
        return True
    pinned = [keys[tokens[index].name].field in known for index in refs]  # type: ignore[union-attr]
    from_left = [p or _fixed(tokens, keys, index, +1) for p, index in zip(pinned, refs)]
    from_right = [p or _fixed(tokens, keys, index, -1) for p, index in zip(pinned, refs)]
    return any(all(from_left[:middle]) and all(from_right[middle + 1:]) for middle in range(len(refs)))


def _fixed(tokens: tuple[Token, ...], keys: dict[str, Key], index: int, step: int) -> bool:
    """Whether the key at ``index`` is bounded on the ``step`` side (+1: after it) by static text
    whose nearest character it can't hold."""
    neighbour = tokens[index + step] if 0 <= index + step < len(tokens) else None
    if not (isinstance(neighbour, Text) and neighbour.text):
        return False
    char = neighbour.text[0] if step > 0 else neighbour.text[-1]
    token = tokens[index]
    assert isinstance(token, KeyRef)
    return char == "/" or not may_hold(keys[token.name].regex(token.padding, proof=True), char)


@lru_cache(maxsize=4096)
def may_hold(regex: str, char: str) -> bool:
    """True unless it is certain that no text ``regex`` matches contains ``char``.

    Read from the regex's syntax tree: a character any single-character atom
    of the regex accepts may appear in a match. Syntax this does not read
    (look-arounds, back-references) counts as holding anything.
    """
    import re._parser as parser  # type: ignore[import-not-found]  # the standard library's own regex parser

    try:
        tree = parser.parse(regex, re.ASCII)
    except re.error:
        return True
    return _holds(tree, char, bool(tree.state.flags & re.IGNORECASE))


def _holds(items: Any, char: str, ignore_case: bool) -> bool:
    from re._constants import (ANY, AT, BRANCH, IN, LITERAL, MAX_REPEAT, MIN_REPEAT,  # type: ignore[import-not-found]
                               NOT_LITERAL,
                               SUBPATTERN)

    code = ord(char)
    codes = {code, ord(char.lower()), ord(char.upper())} if ignore_case else {code}
    for op, arg in items:
        if op is LITERAL and arg in codes:
            return True
        if op is NOT_LITERAL and codes - {arg}:
            return True
        if op is ANY and char != "\n":
            return True
        if op is IN and any(_in_class(arg, c) for c in codes):
            return True
        if op in (MAX_REPEAT, MIN_REPEAT) and _holds(arg[2], char, ignore_case):
            return True
        if op is SUBPATTERN and _holds(arg[3], char, ignore_case):
            return True
        if op is BRANCH and any(_holds(branch, char, ignore_case) for branch in arg[1]):
            return True
        if op not in (LITERAL, NOT_LITERAL, ANY, IN, MAX_REPEAT, MIN_REPEAT, SUBPATTERN, BRANCH, AT):
            return True  # look-arounds, back-references, conditionals: not read, so anything
    return False


def _in_class(items: Any, code: int) -> bool:
    """Whether a character class (``IN``'s items) accepts the character ``code`` (ASCII classes)."""
    from re._constants import CATEGORY, LITERAL, NEGATE, RANGE

    negate = False
    found = False
    for op, arg in items:
        if op is NEGATE:
            negate = True
        elif op is LITERAL:
            found = found or arg == code
        elif op is RANGE:
            found = found or arg[0] <= code <= arg[1]
        elif op is CATEGORY:
            found = found or _in_category(str(arg), code)
        else:
            return True  # not read: anything
    return found != negate


_CATEGORIES: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": lambda c: c in "0123456789",
    "CATEGORY_NOT_DIGIT": lambda c: c not in "0123456789",
    "CATEGORY_WORD": lambda c: c.isascii() and (c.isalnum() or c == "_"),
    "CATEGORY_NOT_WORD": lambda c: not (c.isascii() and (c.isalnum() or c == "_")),
    "CATEGORY_SPACE": lambda c: c in " \t\n\r\f\v",
    "CATEGORY_NOT_SPACE": lambda c: c not in " \t\n\r\f\v",
}


def _in_category(name: str, code: int) -> bool:
    test = _CATEGORIES.get(name)
    return True if test is None else test(chr(code))


# -- every reading of one path ------------------------------------------------------------
@lru_cache(maxsize=1024)
def _key_regex(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.ASCII)  # as template regexes read them (compiled.PATTERN_FLAGS)


def readings(tokens: tuple[Token, ...], keys: dict[str, Key], relative: str,
             converter: Callable[[Key], Callable[[str], Any]], *, limit: int = 2,
             rule: ReadingRule = ReadingRule.LONGEST_FIRST) -> list[dict[str, Any]]:
    """The distinct readings (typed fields) of ``relative`` under a template's ``tokens``, at most
    ``limit``, in the order ``rule`` prefers (REFUSE enumerates as LONGEST_FIRST).

    Values are converted by ``converter(key)``, which checks them as parsing
    does (a key's type, range, case and safety), and a repeated field must
    read the same value everywhere. :meth:`.CompiledTemplate.readings` calls this.
    """
    shortest = rule is ReadingRule.SHORTEST_FIRST
    found: list[dict[str, Any]] = []
    for end, values in _sequence(tokens, 0, 0, relative, keys, shortest):
        if end != len(relative):
            continue
        fields: dict[str, Any] | None = {}
        for key, text in values:
            fields = _add(fields, key, text, converter)
            if fields is None:
                break
        if fields is not None and fields not in found:
            found.append(fields)
            if len(found) >= limit:
                break
    return found


def _add(fields: dict[str, Any] | None, key: Key, text: str,
         converter: Callable[[Key], Callable[[str], Any]]) -> dict[str, Any] | None:
    if fields is None:
        return None
    try:
        value = converter(key)(text)
    except ValueError:
        return None
    if key.field in fields:
        return fields if fields[key.field] == value else None
    fields[key.field] = value
    return fields


Values = tuple[tuple[Key, str], ...]


def _sequence(tokens: tuple[Token, ...], index: int, pos: int, path: str, keys: dict[str, Key],
              shortest: bool) -> Iterator[tuple[int, Values]]:
    """Each (end, values) reading ``tokens[index:]`` from ``pos`` can give, in the preferred order."""
    if index == len(tokens):
        yield pos, ()
        return
    token = tokens[index]
    if isinstance(token, Text):
        if path.startswith(token.text, pos):
            yield from _sequence(tokens, index + 1, pos + len(token.text), path, keys, shortest)
    elif isinstance(token, KeyRef):
        key = keys[token.name]
        matcher = _key_regex(key.regex(token.padding))
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        for end in _ends(path, pos, following, shortest):
            if matcher.fullmatch(path, pos, end):
                for last, rest in _sequence(tokens, index + 1, end, path, keys, shortest):
                    yield last, ((key, path[pos:end]), *rest)
    elif isinstance(token, Optional):
        for present in ((False, True) if shortest else (True, False)):
            if present:
                for middle, inner in _sequence(token.parts, 0, pos, path, keys, shortest):
                    for last, rest in _sequence(tokens, index + 1, middle, path, keys, shortest):
                        yield last, (*inner, *rest)
            else:
                yield from _sequence(tokens, index + 1, pos, path, keys, shortest)


def _ends(path: str, pos: int, following: Token | None, shortest: bool) -> list[int]:
    """Where a value starting at ``pos`` may end: never past a '/', and just before the static text
    that follows it when there is some."""
    slash = path.find("/", pos)
    limit = len(path) if slash < 0 else slash
    if isinstance(following, Text) and following.text:
        head = following.text.split("/", 1)[0] if not following.text.startswith("/") else "/"
        ends = []
        at = path.find(head, pos + 1, limit + len(head))
        while 0 <= at <= limit:
            ends.append(at)
            at = path.find(head, at + 1, limit + len(head))
    else:
        ends = list(range(pos + 1, limit + 1))
    return ends if shortest else ends[::-1]


def differing_text(first: dict[str, Any], second: dict[str, Any]) -> str:
    """``channel='ch_la', no layer, or channel='ch', layer='la'``: the fields on which two readings differ."""
    names = [n for n in (*first, *(k for k in second if k not in first)) if first.get(n) != second.get(n)]

    def show(reading: dict[str, Any]) -> str:
        return ", ".join(f"{n}={reading[n]!r}" if n in reading else f"no {n}" for n in names)

    return f"{show(first)}, or {show(second)}"
