"""Paths as people give them: from any OS, placed under a root.

An artist pastes a path from a Windows scene (``P:\\projects\\demo\\...``) into a
shell on the Linux farm; a Mac user gives ``/Volumes/projects/demo/...``. Every
command and the Python API read such text one way, here:

1. **Syntax.** A path starting with a drive (``P:\\``, ``p:/``) or ``\\\\`` (a
   UNC share) is a Windows path on any machine; a path starting with ``/`` is
   a POSIX path on any machine; anything else is relative to the current
   folder of this machine.
2. **Lexical normalisation**, in that syntax: ``a//b``, ``a/./b`` and
   ``a/x/../b`` become ``a/b`` (as ``os.path.abspath`` does; the filesystem is
   not asked, so a ``..`` after a symlinked folder is read as text), and a
   Windows path takes either separator.
3. **Placing.** The path is compared with the roots' paths for this machine's
   OS first, then for the other OSes of the same syntax (Linux and macOS for a
   POSIX path), Windows roots without regard to letter case. The longest
   root that holds it wins. The answer is the root and the root-relative POSIX
   path, which every OS shares, so the same file is found from either spelling.

Matching itself (:meth:`.TemplateSet.match`, the hot path of scans) takes the
canonical absolute paths a walk produces, on this machine only, and matches
nothing else: text from a person goes through :func:`place` first.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .spec import OS_NAMES

if TYPE_CHECKING:
    from .templateset import TemplateSet

__all__ = ["Placed", "place", "under_root"]

_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]|[A-Za-z]:\Z|\\\\")


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a path given as text lies.

    ``root`` is None when the path is under no root on any OS; ``relative``
    is then None too. ``os_name`` is the OS whose root path held it (this
    machine's, ``here``, when none did); ``normal`` is the text normalised in its own syntax.
    """

    normal: str
    os_name: str
    here: str
    root: str | None = None
    relative: str | None = None

    @property
    def foreign(self) -> bool:
        """Whether the path was written for another OS than the one reading it."""
        return self.root is not None and self.os_name != self.here


def syntax_of(text: str, here: str) -> str:
    """``windows`` or ``posix``: how ``text`` is written, for a machine running ``here``."""
    if _WINDOWS_ABSOLUTE.match(text):
        return "windows"
    if text.startswith("/"):
        return "posix"
    return "windows" if here == "windows" else "posix"


def normalise(text: str, syntax: str, here: str) -> str:
    """``text`` made absolute (a relative path against this machine's current folder) and normalised."""
    if syntax == "windows":
        return ntpath.normpath(text if _WINDOWS_ABSOLUTE.match(text) else os.path.abspath(text))
    absolute = text if text.startswith("/") else os.path.abspath(text)
    normal = posixpath.normpath(absolute)
    return "/" + normal.lstrip("/") if normal.startswith("//") else normal  # Linux and macOS read '//' as '/'


def place(template_set: TemplateSet, text: str) -> Placed:
    """The root and root-relative path of ``text`` written for any OS (see the module docstring)."""
    here = template_set.os_name
    syntax = syntax_of(text, here)
    normal = normalise(text, syntax, here)
    for os_name in _search_order(syntax, here):
        found = under_root(template_set, normal, os_name)
        if found is not None:
            return Placed(normal, os_name, here, found[0], found[1])
    return Placed(normal, here, here)


def _search_order(syntax: str, here: str) -> list[str]:
    same = ["windows"] if syntax == "windows" else [name for name in OS_NAMES if name != "windows"]
    return sorted(same, key=lambda name: name != here)


def under_root(template_set: TemplateSet, normal: str, os_name: str) -> tuple[str, str] | None:
    """(root, relative) of the longest root of ``os_name`` holding ``normal`` (relative "" for a root
    itself), or None; Windows paths take either separator and compare without regard to case."""
    windows = os_name == "windows"
    path = normal.replace("\\", "/") if windows else normal
    compared = path.lower() if windows else path
    best: tuple[str, str] | None = None
    best_length = -1
    for name, root in template_set.roots.items():
        base = root.paths.get(os_name)
        if not base:
            continue
        base = base.replace("\\", "/") if windows else base
        base = base.rstrip("/") or "/"
        key = base.lower() if windows else base
        if len(key) <= best_length:
            continue
        if compared == key:
            best, best_length = (name, ""), len(key)
        elif compared.startswith(key if key.endswith("/") else key + "/"):
            best, best_length = (name, path[len(key) if key.endswith("/") else len(key) + 1:]), len(key)
    return best
