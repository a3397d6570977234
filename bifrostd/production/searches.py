"""Saved searches, kept in a file of the user's (not the catalog), and the ``--since`` text of a search.

The catalog is an index that ``rm catalog.db && bifrostctl scan`` rebuilds
from the tree; a saved search is no part of the tree, so it must not live
there either. Saved searches are a person's: they live in
``~/.config/bifrost/searches.json`` (``bifrost.searches.1``: one JSON
document, written atomically), which survives a rebuild of the catalog and
follows the user from studio to studio. Reading a file of a newer schema
refuses rather than dropping what it can't read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic_write import write_atomic
from ..errors import SearchError

__all__ = ["SCHEMA_ID", "default_file", "load_saved", "parse_since", "save_search", "saved_query"]

SCHEMA_ID = "bifrost.searches.1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_AGO = re.compile(r"(\d+)([smhdw])")
_NS_MAX = (1 << 63) - 1
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def default_file() -> Path:
    """Where a user's saved searches live (``Path.home()``: the one place this reads the environment)."""
    return Path.home() / ".config" / "bifrost" / "searches.json"


def load_saved(file: Path) -> dict[str, dict[str, Any]]:
    """Name → the saved query (``text``, and ``kind``, ``project``, ``task``, ``user``, ``tags``, ``since``,
    ``limit`` when given); empty when there is no file yet."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SearchError(f"cannot read the saved searches {file}: {error}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID or not isinstance(doc.get("searches"), dict):
        raise SearchError(f"{file} is not a {SCHEMA_ID} document (newer, or edited into something else); "
                          "nothing was changed")
    return dict(doc["searches"])


def save_search(file: Path, name: str, query: dict[str, Any]) -> None:
    """Add or replace the saved search ``name`` (a word: letters, digits, ``_.-``)."""
    if not _NAME.fullmatch(name):
        raise SearchError(f"a saved search's name is a word of letters, digits, '_', '.' or '-', not {name!r}")
    searches = load_saved(file)
    searches[name] = query
    file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"schema": SCHEMA_ID, "searches": dict(sorted(searches.items()))}, indent=2)
    write_atomic(file, (text + "\n").encode("utf-8"))


def saved_query(file: Path, name: str) -> dict[str, Any]:
    """The saved search ``name``; SearchError naming the saved ones when there is none."""
    searches = load_saved(file)
    if name not in searches:
        known = ", ".join(sorted(searches)) or "none yet; save one with search --save NAME"
        raise SearchError(f"no saved search {name!r} in {file} (saved: {known})")
    return searches[name]


def parse_since(text: str, now_ns: int) -> int:
    """``--since``: an age (``30m``, ``12h``, ``7d``, ``2w``) or an ISO date or time (UTC unless it says),
    as nanoseconds since the epoch."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return max(-_NS_MAX, now_ns - int(ago.group(1)) * _UNIT_S[ago.group(2)] * 1_000_000_000)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SearchError(f"--since takes an age such as 7d or 12h, or an ISO date such as 2026-12-01, "
                          f"not {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(-_NS_MAX, min(_NS_MAX, int(when.timestamp() * 1_000_000_000)))  # SQLite integers are 64-bit
