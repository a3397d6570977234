"""Proving that every path of a template has one reading: one way to split it into fields.

``{name}_{channel}[_{layer}].tif`` with ``channel`` allowing ``_`` reads
``n_ch_la.tif`` both as channel ``ch_la`` and as channel ``ch``, layer ``la``.
To decide this, each key occurrence of the template is wrapped in two marker
characters that no path holds (``\\ue000`` before occurrence 0, ``\\ue001``
after it, and so on); a *tagged* path then records one reading. The template
is ambiguous exactly when two different tagged paths erase to the same path.
That is searched on the tagged automaton (interegular, as for the overlap
proof) paired with itself: both runs read the same path characters, and
between two characters each reads its own word of markers; a pair of runs
that reads different marker words somewhere and ends in accepting states is
a witness. Breadth first, so the example is a shortest one.

Like the overlap proof, the automaton ignores that a repeated key must repeat
its value, so a reported pair of readings is confirmed against the real
template before it is called certain.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

from .keys import Key
from .pattern import KeyRef, Optional, Text, Token
from .readings import Piece

_MARK = 0xE000


@dataclass(frozen=True, slots=True)
class TwoReadings:
    """A path of a template that splits into fields two ways."""

    example: str
    first: dict[str, str]
    second: dict[str, str]
    confirmed: bool


def _tagged_parts(tokens: tuple[Token, ...], keys: dict[str, Key], counter: list[int]) -> Iterator[str]:
    for token in tokens:
        if isinstance(token, Text):
            yield re.escape(token.text)
        elif isinstance(token, KeyRef):
            index = counter[0]
            counter[0] += 1
            yield f"{chr(_MARK + 2 * index)}{keys[token.name].regex(token.padding, proof=True)}{chr(_MARK + 2 * index + 1)}"
        elif isinstance(token, Optional):
            yield "(?:"
            yield from _tagged_parts(token.parts, keys, counter)
            yield ")?"


def tagged_regex(piece: Piece, keys: dict[str, Key]) -> str:
    """The regex of ``piece`` with each key occurrence between its two marker characters."""
    return "".join(_tagged_parts(piece.tokens, keys, [0]))


def _is_marker(char: Any) -> bool:
    return isinstance(char, str) and len(char) == 1 and ord(char) >= _MARK and ord(char) < _MARK + 0x1000


def _closure(fsm: Any, state: Any, markers: dict[Any, str], longest: int) -> list[tuple[str, Any]]:
    """Every (marker word, state) reachable from ``state`` reading markers only (the empty word first).

    Words are at most ``longest`` markers: a key pattern such as ``.+`` also
    matches marker characters, which would otherwise loop; a reading with a
    marker inside a value is then refused by :func:`_fields`.
    """
    out = [("", state)]
    seen = set(out)
    stack = [("", state)]
    while stack:
        word, current = stack.pop()
        if len(word) >= longest:
            continue
        for symbol, target in fsm.map.get(current, {}).items():
            item = (word + markers[symbol], target) if symbol in markers else None
            if item is not None and item not in seen:
                seen.add(item)
                out.append(item)
                stack.append(item)
    return out


def find_two_readings(fields: tuple[str, ...], fsm: Any, chars: dict[Any, str]) -> TwoReadings | None:
    """A shortest text with two readings under ``fsm`` (the automaton of a tagged regex), or None.

    ``fields`` names the field of each key occurrence of the tagged regex, in
    order; ``chars`` gives a character for each transition symbol, to write the example.
    """
    markers = {fsm.alphabet[c]: c for c in fsm.alphabet if _is_marker(c)}
    real = {symbol: char for symbol, char in chars.items() if symbol not in markers}
    start = (fsm.initial, fsm.initial, False)
    previous: dict[Any, Any] = {start: None}
    queue = deque([start])
    closures: dict[Any, list[tuple[str, Any]]] = {}
    while queue:
        state = queue.popleft()
        p, q, differ = state
        if p not in closures:
            closures[p] = _closure(fsm, p, markers, 2 * len(fields))
        if q not in closures:
            closures[q] = _closure(fsm, q, markers, 2 * len(fields))
        cp, cq = closures[p], closures[q]
        for u, p2 in cp:
            for v, q2 in cq:
                now = differ or u != v
                if now and p2 in fsm.finals and q2 in fsm.finals:
                    return _readings(fields, previous, state, u, v)
                moves_p, moves_q = fsm.map.get(p2, {}), fsm.map.get(q2, {})
                for symbol, char in real.items():
                    if symbol in moves_p and symbol in moves_q:
                        nxt = (moves_p[symbol], moves_q[symbol], now)
                        if nxt not in previous:
                            previous[nxt] = (state, u, v, char)
                            queue.append(nxt)
    return None


def _readings(fields: tuple[str, ...], previous: dict[Any, Any], state: Any, u: str, v: str) -> TwoReadings:
    first, second = [u], [v]
    step = previous[state]
    while step is not None:
        state, su, sv, char = step
        first.append(su + char)
        second.append(sv + char)
        step = previous[state]
    tagged_a, tagged_b = "".join(reversed(first)), "".join(reversed(second))
    example = "".join(c for c in tagged_a if not _is_marker(c))
    reading_a, reading_b = _fields(fields, tagged_a), _fields(fields, tagged_b)
    confirmed = reading_a is not None and reading_b is not None and reading_a != reading_b
    return TwoReadings(example, reading_a or {}, reading_b or {}, confirmed)


def _fields(occurrences: tuple[str, ...], tagged: str) -> dict[str, str] | None:
    """The field texts of one tagged reading, or None if a repeated field disagrees."""
    fields: dict[str, str] = {}
    for index, field in enumerate(occurrences):
        found = re.search(f"{chr(_MARK + 2 * index)}(.*?){chr(_MARK + 2 * index + 1)}", tagged, re.DOTALL)
        if found is None:
            continue
        text = found.group(1)
        if any(_is_marker(c) for c in text) or fields.setdefault(field, text) != text:
            return None
    return fields
