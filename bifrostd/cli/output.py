"""Rendering command results: one JSON document with ``--json``, a human table otherwise.

JSON documents carry a ``schema`` id (``bifrost.<name>.<version>``) so scripts
can tell which shape they read; the shapes are documented in docs/cli.md.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")


def _default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """JSON text; surrogate-escaped (non-UTF-8) names are written as escapes, never crash."""
    import json  # here: a command printing a table never needs it

    return json.dumps(document, indent=indent, default=_default, ensure_ascii=True)


def emit_json(schema: str, document: dict[str, Any]) -> None:
    click.echo(dumps({"schema": schema, **document}))


def emit_json_line(document: dict[str, Any]) -> None:
    click.echo(dumps(document, indent=None))


def printable(text: str) -> str:
    """Text safe for a terminal: a byte of a name that is not UTF-8 as ``\\xff`` (as the catalog's escaped
    form shows it), control characters as Python escapes (``\\n``), everything else as it is."""
    if text.isprintable():
        return text
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    rows = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def is_terminal() -> bool:
    return sys.stdout.isatty()
