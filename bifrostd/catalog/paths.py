"""Storing relative paths losslessly in SQLite TEXT, which must be valid UTF-8.

Walkers hand us ``os.fsdecode`` strings: a byte that is not valid UTF-8 is a
lone surrogate (``\\udcff``), which SQLite can't store as TEXT. Such a path is
stored as a readable escaped text (``name\\xff.exr``) plus its exact bytes in
``raw``; an ordinary path has ``raw`` empty. The pair (path, raw) is unique,
so an escaped name never collides with a real name spelt with a backslash.
"""

from __future__ import annotations

import os


def to_columns(relative: str) -> tuple[str, bytes]:
    """(text, raw) columns for a relative path; raw is b'' for valid UTF-8."""
    if relative.isascii():  # nearly every path: no encoding needed to know it is valid
        return relative, b""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(relative)
        return raw.decode("utf-8", "backslashreplace"), raw
    return relative, b""


def from_columns(text: str, raw: bytes | None) -> str:
    """The walker's string form back from the stored columns."""
    if raw:
        return os.fsdecode(bytes(raw))
    return text


def display(relative: str) -> str:
    """A printable text for any path (the escaped form for undecodable names)."""
    return to_columns(relative)[0]


def below(text: str) -> tuple[str, str]:
    """The half-open range ``[low, high)`` of stored path texts strictly below the folder ``text``.

    ``text + "/" <= path < text + "0"``: '0' is the character after '/', so an
    indexed range scan finds the folder's contents and not its siblings
    (``shot10`` beside ``shot1``).
    """
    return text + "/", text + "0"
