"""AYON's template string language, read into tokens: ``{field[sub]:spec}``, ``<optional>`` and ``{@inner}``.

AYON formats anatomy templates with Python's ``string.Formatter`` plus two additions of its own:

- ``{@name}`` inner keys, replaced as text before formatting by the value of ``name`` in the template's
  item or in the anatomy's ``common`` values (``{@version}`` is ``v{version:0>{@version_padding}}``),
  nested to any depth;
- ``<...>`` optional parts, nestable, dropped when a field inside has no value. A pair holding no field
  (``<abc>``) is kept as the literal text ``<abc>``, and an unmatched ``<`` or ``>`` is literal too.

This module only reads that syntax (the same rules, written afresh); what the tokens mean in Bifrost is
``ayon_fields``' and ``ayon``'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Formatter
from typing import Mapping, Union

__all__ = ["Field", "InnerKeyError", "Literal", "OptionalPart", "Token", "expand_inner", "tokenize"]

_INNER = re.compile(r"\{@([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A formatting field: ``name`` as written (``folder[name]``), its format spec and conversion."""

    name: str
    spec: str = ""
    conversion: str = ""

    @property
    def written(self) -> str:
        spec = f":{self.spec}" if self.spec else ""
        conversion = f"!{self.conversion}" if self.conversion else ""
        return f"{{{self.name}{conversion}{spec}}}"


@dataclass(frozen=True, slots=True)
class OptionalPart:
    parts: tuple["Token", ...]


Token = Union[Literal, Field, OptionalPart]


class InnerKeyError(ValueError):
    """An ``{@name}`` that names no value, or whose value contains itself."""

    def __init__(self, name: str, *, cycle: bool = False) -> None:
        super().__init__(name)
        self.name = name
        self.cycle = cycle


def expand_inner(text: str, values: Mapping[str, object], _stack: tuple[str, ...] = ()) -> str:
    """``text`` with every ``{@name}`` replaced by ``values[name]``, itself expanded (as AYON does first)."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in _stack:
            raise InnerKeyError(name, cycle=True)
        if name not in values or isinstance(values[name], (dict, list)) or values[name] is None:
            raise InnerKeyError(name)
        return expand_inner(str(values[name]), values, (*_stack, name))

    return _INNER.sub(replace, text)


def inner_names(text: str) -> list[str]:
    """The names of the ``{@name}`` inner keys written in ``text``."""
    return _INNER.findall(text)


def tokenize(text: str) -> tuple[Token, ...]:
    """The tokens of an AYON template (inner keys already expanded); raises ValueError on a bad field."""
    flat: list[Union[Token, str]] = []
    for literal, name, spec, conversion in Formatter().parse(text):
        flat.extend(_split_angles(literal))
        if name is not None:
            flat.append(Field(name, spec or "", conversion or ""))
    return _nest(flat)


def _split_angles(literal: str) -> list[Union[Token, str]]:
    """Literal text cut at each ``<`` and ``>``, which stay as bare one-character strings."""
    return [piece if piece in ("<", ">") else Literal(piece) for piece in re.split(r"([<>])", literal) if piece]


def _nest(flat: list[Union[Token, str]]) -> tuple[Token, ...]:
    stack: list[list[Token]] = [[]]
    for item in flat:
        if item == "<":
            stack.append([])
        elif item == ">" and len(stack) > 1:
            parts = stack.pop()
            stack[-1].append(_closed(parts))
        else:
            stack[-1].append(Literal(item) if isinstance(item, str) else item)
    while len(stack) > 1:  # an unclosed '<' is literal text, as in AYON
        parts = stack.pop()
        stack[-1].extend([Literal("<"), *parts])
    return _merge_literals(stack[0])


def _closed(parts: list[Token]) -> Token:
    if any(isinstance(p, (Field, OptionalPart)) for p in parts):
        return OptionalPart(_merge_literals(parts))
    return Literal("<" + "".join(p.text for p in parts if isinstance(p, Literal)) + ">")


def _merge_literals(parts: list[Token]) -> tuple[Token, ...]:
    out: list[Token] = []
    for part in parts:
        if isinstance(part, Literal) and out and isinstance(out[-1], Literal):
            out[-1] = Literal(out[-1].text + part.text)
        else:
            out.append(part)
    return tuple(out)
