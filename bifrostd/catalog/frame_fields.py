"""A frame file's fields kept once in its sequence: the JSON around the frame number.

The frames of one sequence differ only by the frame, so their fields' JSON
is the same text before and after it. A sequence stores that text
(``sequences.fields_head`` and ``fields_tail``) and a frame file whose fields
are exactly ``head + frame + tail`` stores NULL in ``files.fields``: about a
hundred bytes less per frame. Readers put it back with
:data:`FIELDS_COLUMN`. A sequence's head and tail are written when it is
created and never changed, so a NULL read later gives back what was written;
a frame whose fields differ (a template set that changed) keeps its own.
"""

from __future__ import annotations

import re

#: ``files.fields`` as written, for a query joining ``files f`` and ``sequences s`` (SQLite prints an
#: integer in decimal as Python's ``str`` does).
FIELDS_COLUMN = "coalesce(f.fields, s.fields_head || f.frame || s.fields_tail)"


def fields_around(fields_json: str, frame: int | None) -> tuple[str | None, str | None]:
    """(head, tail) with ``head + str(frame) + tail == fields_json``, or (None, None) when the frame's
    value is not found exactly once as a JSON value (``:1001,`` or ``:1001}``)."""
    if frame is None:
        return None, None
    found = [m.start() + 1 for m in re.finditer(f":{frame}(?=[,}}])", fields_json)]
    if len(found) != 1:
        return None, None
    start = found[0]
    return fields_json[:start], fields_json[start + len(str(frame)):]


def stored_fields(fields_json: str, frame: int | None, head: str | None, tail: str | None) -> str | None:
    """What ``files.fields`` holds: None when the sequence's head and tail give ``fields_json`` back."""
    if frame is None or head is None or f"{head}{frame}{tail}" != fields_json:
        return fields_json
    return None
