"""The template path language: tokenising ``{key}``, ``{key:03}``, ``{@ref}`` and ``[optional]`` parts.

A pattern is static text with placeholders::

    {@shot_root}/{task}/work/{shot}_{task}[_{name}]_v{version:03}.{ext}

Tokens carry their offset in the pattern so that problems can point at them.
References are expanded by :func:`expand`, which detects cycles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Union

#: The widest padding a key or a placeholder may ask for (``padding:`` has the same bound).
MAX_PADDING = 16

_PLACEHOLDER = re.compile(r"\{(@?)([A-Za-z_][A-Za-z0-9_]*)(?::(\d+))?\}")


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class KeyRef:
    name: str
    padding: int | None
    offset: int


@dataclass(frozen=True, slots=True)
class TemplateRef:
    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class Optional:
    parts: tuple["Token", ...]
    offset: int


Token = Union[Text, KeyRef, TemplateRef, Optional]


class PatternSyntaxError(ValueError):
    """A malformed pattern; ``offset`` is where in the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def tokenize(pattern: str) -> tuple[Token, ...]:
    """Split a pattern into tokens; raises PatternSyntaxError on bad syntax."""
    tokens, end = _tokenize(pattern, 0, nested=False)
    return tokens


def _tokenize(pattern: str, pos: int, *, nested: bool) -> tuple[tuple[Token, ...], int]:
    out: list[Token] = []
    text_start = pos
    while pos < len(pattern):
        char = pattern[pos]
        if char in "{[]}":
            if pos > text_start:
                out.append(Text(pattern[text_start:pos], text_start))
            if char == "{":
                found = _PLACEHOLDER.match(pattern, pos)
                if not found:
                    raise PatternSyntaxError("malformed placeholder; expected {key}, {key:03} or {@template}", pos)
                at, name, pad = found.groups()
                out.append(TemplateRef(name, pos) if at else KeyRef(name, int(pad) if pad else None, pos))
                if at and pad:
                    raise PatternSyntaxError("a template reference takes no padding", pos)
                if pad and int(pad) > MAX_PADDING:
                    raise PatternSyntaxError(f"padding {int(pad)} is above {MAX_PADDING}", pos)
                pos = found.end()
            elif char == "[":
                parts, pos = _tokenize(pattern, pos + 1, nested=True)
                if not parts:
                    raise PatternSyntaxError("empty optional part []", pos - 1)
                out.append(Optional(parts, pos))
            elif char == "]":
                if not nested:
                    raise PatternSyntaxError("']' without '['", pos)
                return tuple(out), pos + 1
            else:
                raise PatternSyntaxError("'}' without '{'", pos)
            text_start = pos
            continue
        pos += 1
    if pos > text_start:
        out.append(Text(pattern[text_start:pos], text_start))
    if nested:
        raise PatternSyntaxError("'[' without ']'", len(pattern))
    return tuple(out), pos


def walk_tokens(tokens: tuple[Token, ...]) -> Iterator[Token]:
    """Every token, depth first, with optional parts' contents included."""
    for token in tokens:
        yield token
        if isinstance(token, Optional):
            yield from walk_tokens(token.parts)


def key_refs(tokens: tuple[Token, ...]) -> Iterator[KeyRef]:
    """Every key reference of ``tokens``, optional parts included, in order."""
    for token in tokens:
        if isinstance(token, KeyRef):
            yield token
        elif isinstance(token, Optional):
            yield from key_refs(token.parts)


class ReferenceCycle(ValueError):
    """A reference cycle; ``chain`` lists the templates in it."""

    def __init__(self, chain: list[str]) -> None:
        super().__init__(" -> ".join(chain))
        self.chain = chain


def expand(
    name: str,
    lookup: Callable[[str], tuple[Token, ...] | None],
    _stack: tuple[str, ...] = (),
) -> tuple[Token, ...]:
    """The tokens of template ``name`` with every ``{@ref}`` replaced by its tokens.

    ``lookup`` returns a template's own tokens or None if it is undefined
    (undefined references are reported by the loader, and left out here).
    """
    if name in _stack:
        raise ReferenceCycle([*_stack[_stack.index(name):], name])
    tokens = lookup(name)
    if tokens is None:
        return ()
    return _expand_tokens(tokens, lookup, (*_stack, name))


def _expand_tokens(
    tokens: tuple[Token, ...], lookup: Callable[[str], tuple[Token, ...] | None], stack: tuple[str, ...],
) -> tuple[Token, ...]:
    out: list[Token] = []
    for token in tokens:
        if isinstance(token, TemplateRef):
            out.extend(expand(token.name, lookup, stack))
        elif isinstance(token, Optional):
            out.append(Optional(_expand_tokens(token.parts, lookup, stack), token.offset))
        else:
            out.append(token)
    return tuple(out)
