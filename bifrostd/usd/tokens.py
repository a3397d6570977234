"""Anchoring an authored asset path to its layer, and expanding ``<UDIM>`` and frame tokens to the files
that exist. Pure but for ``listdir``, which is a parameter (tests pass a fake)."""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from typing import Callable, Iterable

__all__ = ["anchor", "expand", "is_entity", "is_pattern"]

#: <UDIM>, #### (any count), %04d / %d, $F4 / $F: the spellings of a frame or tile key (docs/templates.md).
_TOKEN = re.compile(r"<UDIM>|#+|%0?(\d*)d|\$F(\d*)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def is_entity(authored: str) -> bool:
    """A ``bifrost:`` URI (``bifrost:///...``, or ``bifrost:/...`` as Ar normalises it)."""
    return authored.startswith("bifrost:")


def is_pattern(path: str) -> bool:
    return _TOKEN.search(posixpath.basename(path.replace("\\", "/"))) is not None


def anchor(layer_folder: str, authored: str) -> str | None:
    """``authored`` made absolute against the layer's folder; None for a URI (``bifrost:``, ``http:``).

    An absolute path (POSIX, or a Windows drive or UNC path) is kept as is;
    any other is joined to the folder and normalised, as Ar anchors ``./``
    and ``../`` paths (a bare ``a/b.usda`` is anchored the same way: Ar
    tries the layer's folder first).
    """
    if not authored or (_SCHEME.match(authored) and not ntpath.splitdrive(authored)[0]):
        return None
    if authored.startswith("/") or ntpath.splitdrive(authored)[0] or authored.startswith("\\\\"):
        return authored
    return posixpath.normpath(posixpath.join(layer_folder, authored))


def _regex(name: str) -> re.Pattern[str]:
    parts, last = [], 0
    for token in _TOKEN.finditer(name):
        parts.append(re.escape(name[last:token.start()]))
        text = token.group(0)
        if text == "<UDIM>":
            parts.append(r"\d{4}")
        else:
            width = len(text) if text.startswith("#") else int(token.group(1) or token.group(2) or 1)
            parts.append(rf"-?\d{{{width},}}")
        last = token.end()
    parts.append(re.escape(name[last:]))
    return re.compile("".join(parts))


def expand(path: str, *, listdir: Callable[[str], Iterable[str]] = os.listdir,
           exists: Callable[[str], bool] = os.path.exists) -> tuple[str, ...]:
    """The existing files a pattern path stands for, sorted; a plain path gives itself if it exists.

    Only the file name may hold tokens (a folder named ``####`` is taken literally).
    """
    folder, name = posixpath.split(path)
    if not _TOKEN.search(name):
        return (path,) if exists(path) else ()
    try:
        names = list(listdir(folder or "."))
    except OSError:
        return ()
    regex = _regex(name)
    return tuple(posixpath.join(folder, n) for n in sorted(names) if regex.fullmatch(n))
