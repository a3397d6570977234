"""What ``create --from FILE`` reads: one entity per CSV row or JSON object.

A row names its entity with ``ref`` (``bifrost:///shot/demo/sq010/sh0100``)
or with ``kind`` and one column per key of the entity and its parents
(``project``, ``sequence``, ``shot``); it may add ``description``,
``frames`` (``1001-1100``) or ``cut_in`` and ``cut_out``, ``handles``
(``8``, or ``8,12`` for in and out) or ``handle_in`` and ``handle_out``, and
``tags`` (separated by spaces or commas). Empty cells are absent. Every
problem names the file and the row (the line, for CSV), and is raised
before anything is made.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Mapping

from ..authored import FrameRange
from ..errors import FieldValueError
from ..templates import is_reference
from ..templates.entities import derive_entity
from ..templates.templateset import TemplateSet
from .create import Values

__all__ = ["frame_range", "read_rows", "request_of"]

_AUTHORED = ("description", "frames", "cut_in", "cut_out", "handles", "handle_in", "handle_out", "tags")


def read_rows(path: Path) -> list[tuple[str, dict[str, str]]]:
    """(where, row) for each entity of a CSV or JSON file (JSON: a list of objects, or ``{"entities": [...]}``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FieldValueError(f"{path}: cannot read it ({error})") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        return _json_rows(path, text)
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:
            raise FieldValueError(f"{where}: more cells than the header has columns")
        rows.append((where, {k.strip(): (v or "").strip() for k, v in row.items() if k and (v or "").strip()}))
    return rows


def _json_rows(path: Path, text: str) -> list[tuple[str, dict[str, str]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise FieldValueError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    items = document.get("entities") if isinstance(document, dict) else document
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise FieldValueError(f"{path}: a list of objects (one per entity), or {{\"entities\": [...]}}")
    rows = []
    for index, item in enumerate(items):
        where = f"{path}: entity {index + 1}"
        rows.append((where, {str(k): _cell(where, k, v) for k, v in item.items() if v not in (None, "")}))
    return rows


def _cell(where: str, name: Any, value: Any) -> str:
    if isinstance(value, list) and name == "tags":
        return " ".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        raise FieldValueError(f"{where}: {name!r} is a {type(value).__name__}; a text or a number is expected")
    return str(value)


def request_of(template_set: TemplateSet, where: str, row: Mapping[str, str]) -> tuple[str, Values]:
    """The reference and the authored values of one row; FieldValueError naming ``where`` for a bad one."""
    try:
        return _reference(template_set, row), _values(row)
    except FieldValueError as error:
        raise FieldValueError(f"{where}: {error}") from None


def _reference(template_set: TemplateSet, row: Mapping[str, str]) -> str:
    if "ref" in row:
        if not is_reference(row["ref"]):
            raise FieldValueError(f"ref {row['ref']!r} is not a bifrost:/// reference")
        return row["ref"]
    kind = row.get("kind")
    if kind is None:
        raise FieldValueError("name the entity with 'ref', or with 'kind' and its keys")
    if kind not in template_set.entities:
        raise FieldValueError(f"unknown kind {kind!r} (kinds: {', '.join(template_set.entities)})")
    keys = {k: v for k, v in row.items() if k not in ("kind", *_AUTHORED)}
    entity = derive_entity(template_set.entities, kind, template_set.convert_fields(keys))
    if entity is None:
        needed = _chain_keys(template_set, kind)
        missing = [k for k in needed if k not in keys]
        raise FieldValueError(f"a {kind} needs {', '.join(missing or needed)}")
    return entity.uri(template_set.entities)


def _chain_keys(template_set: TemplateSet, kind: str) -> list[str]:
    out: list[str] = []
    current: str | None = kind
    while current:
        spec = template_set.entities[current]
        out = [*spec.keys, *out]
        current = spec.parents[0] if spec.parents else None
    return out


def _values(row: Mapping[str, str]) -> Values:
    frames = None
    if "frames" in row or "cut_in" in row or "cut_out" in row:
        text = row.get("frames") or f"{row.get('cut_in', '')}-{row.get('cut_out', '')}"
        handles = row.get("handles") or f"{row.get('handle_in', '0')},{row.get('handle_out', '0')}"
        frames = frame_range(text, handles)
    tags = tuple(t for t in row.get("tags", "").replace(",", " ").split() if t)
    return Values(row.get("description"), frames, tags)


def frame_range(frames: str, handles: str | None = None) -> FrameRange:
    """``1001-1100`` (with handles ``8`` or ``8,12``) as a FrameRange; FieldValueError saying what is wrong."""
    first, sep, last = frames.strip().partition("-")
    try:
        cut_in, cut_out = int(first), int(last)
    except ValueError:
        raise FieldValueError(f"frames {frames!r}: write the cut range as FIRST-LAST, e.g. 1001-1100") from None
    if not sep or cut_in > cut_out:
        raise FieldValueError(f"frames {frames!r}: the first frame must not come after the last")
    parts = [p.strip() for p in (handles or "0").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise FieldValueError(f"handles {handles!r}: a number of frames, or IN,OUT") from None
    if len(values) not in (1, 2) or any(v < 0 for v in values):
        raise FieldValueError(f"handles {handles!r}: one or two numbers of frames, none negative")
    return FrameRange(cut_in, cut_out, values[0], values[-1])
