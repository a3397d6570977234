"""AYON's field names and the Bifrost keys they become: the mapping ``templates import ayon`` reports.

AYON fills its templates from nested data (``{folder[name]}``, ``{task[short]}``), and its product-name
templates also take capitalised and upper-case variants (``{Task[name]}``, ``{TASK[NAME]}``). Bifrost keys
are flat names, so each field maps to one key: the well-known ones by the table below, any other one by
joining its parts with ``_`` (``{studio[code]}`` → ``studio_code``). A case variant becomes a key of its
own that accepts only that case, since Bifrost keys carry no case transform (a note says so).

Some fields are not one value: ``{root[...]}`` is the template's root, ``{hierarchy}`` the folder's
parents joined by ``/`` (several path segments), ``{parent}`` the last of them. They are :class:`Special`
and handled by the translation.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Case", "FieldName", "Kind", "Special", "field_name", "hierarchy_key", "key_for", "name_pattern"]


class Kind(enum.Enum):
    NAME = "name"  # an AYON entity name or other free text
    VERSION = "version"
    FRAME = "frame"
    UDIM = "udim"
    EXT = "ext"
    FOLDER_TYPE = "folder_type"
    TASK_TYPE = "task_type"
    TASK_SHORT = "task_short"


class Special(enum.Enum):
    ROOT = "root"  # {root[work]}: the template's root
    HIERARCHY = "hierarchy"  # the folder's parents joined by '/'
    PARENT = "parent"  # the folder's last parent
    FOLDER_PATH = "folder_path"  # {folder[path]}: parents and the folder's name
    UNSUPPORTED = "unsupported"  # a list or a relative path ({folder[parents]}, {originalDirname})


class Case(enum.Enum):
    AS_IS = ""
    UPPER = "upper"
    CAPITALIZED = "capitalized"


@dataclass(frozen=True, slots=True)
class FieldName:
    """A field as AYON spells it, read into its parts."""

    written: str  # "TASK[NAME]"
    parts: tuple[str, ...]  # ("task", "name"): lower-cased when the variant is upper-case
    case: Case

    @property
    def canonical(self) -> str:
        """The field as AYON's data holds it: ``task[name]``."""
        return self.parts[0] + "".join(f"[{p}]" for p in self.parts[1:])


_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\[\]]+\])*)$")

#: (AYON field, Bifrost key, kind). Legacy OpenPype names map to the same keys as their AYON successors.
_KNOWN: dict[str, tuple[str, Kind]] = {
    "project[name]": ("project", Kind.NAME), "project[code]": ("project_code", Kind.NAME),
    "folder[name]": ("folder", Kind.NAME), "folder": ("folder", Kind.NAME), "asset": ("folder", Kind.NAME),
    "folder[type]": ("folder_type", Kind.FOLDER_TYPE),
    "task[name]": ("task", Kind.NAME), "task": ("task", Kind.NAME),
    "task[type]": ("task_type", Kind.TASK_TYPE), "task[short]": ("task_short", Kind.TASK_SHORT),
    "product[name]": ("product", Kind.NAME), "subset": ("product", Kind.NAME),
    "product[type]": ("product_type", Kind.NAME), "family": ("product_type", Kind.NAME),
    "version": ("version", Kind.VERSION), "frame": ("frame", Kind.FRAME), "udim": ("udim", Kind.UDIM),
    "ext": ("ext", Kind.EXT), "representation": ("representation", Kind.NAME), "output": ("output", Kind.NAME),
    "comment": ("comment", Kind.NAME), "originalBasename": ("original_basename", Kind.NAME),
    "user[name]": ("user", Kind.NAME), "user": ("user", Kind.NAME),
    "studio[name]": ("studio", Kind.NAME), "studio[code]": ("studio_code", Kind.NAME), "app": ("app", Kind.NAME),
}

#: Legacy OpenPype spellings, carried with the same meaning (noted for the reader).
LEGACY = {"asset": "folder[name]", "subset": "product[name]", "family": "product[type]"}

_SPECIAL = {"hierarchy": Special.HIERARCHY, "parent": Special.PARENT, "folder[path]": Special.FOLDER_PATH,
            "folder[parents]": Special.UNSUPPORTED, "originalDirname": Special.UNSUPPORTED}


def field_name(written: str) -> FieldName | None:
    """Read ``folder[name]``, ``Task[name]`` or ``TASK[NAME]``; None if it is not a plain field."""
    found = _FIELD.fullmatch(written)
    if found is None:
        return None
    head, subs = found.group(1), re.findall(r"\[([^\[\]]+)\]", found.group(2))
    case = _case_of(head)
    if case is Case.UPPER:
        return FieldName(written, (head.lower(), *(s.lower() for s in subs)), case)
    if case is Case.CAPITALIZED:
        head = head[0].lower() + head[1:]
    return FieldName(written, (head, *subs), case)


def _case_of(head: str) -> Case:
    if len(head) > 1 and head.isupper():
        return Case.UPPER
    if head[0].isupper() and not head.isupper():
        return Case.CAPITALIZED
    return Case.AS_IS


def special(name: FieldName) -> Special | None:
    if name.parts[0] == "root":
        return Special.ROOT
    return _SPECIAL.get(name.canonical)


def key_for(name: FieldName) -> tuple[str, Kind]:
    """The Bifrost key and kind of an ordinary field (not :func:`special`)."""
    key, kind = _KNOWN.get(name.canonical) or (_snake("_".join(name.parts)), Kind.NAME)
    if name.case is Case.AS_IS:
        return key, kind
    return f"{key}_{name.case.value}", kind


def hierarchy_key(level: int) -> str:
    """The key of the folder's ``level``-th parent (1 is the top), one path segment of ``{hierarchy}``."""
    return f"hierarchy_{level}"


def _snake(text: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", text).lower()
    text = re.sub(r"[^a-z0-9_]+", "_", text).strip("_")
    return text if text and not text[0].isdigit() else f"f_{text}"


#: AYON's rule for entity names: letters, digits and '_', with '.' and '-' inside.
AYON_NAME_RULE = "[a-zA-Z0-9_]([a-zA-Z0-9_.-]*[a-zA-Z0-9_])?"
#: A name alone in its path segment: AYON's rule without '..' (Bifrost refuses it in any value).
NAME_ALONE = "[a-zA-Z0-9_-]+(?:\\.[a-zA-Z0-9_-]+)*"
#: A name sharing its segment with other fields: without '_' and '.', the separators AYON's templates use,
#: so that ``{a}_{b}`` and ``{a}.{b}`` have one reading.
NAME_JOINED = "[a-zA-Z0-9][a-zA-Z0-9-]*"
EXT_PATTERN = "[a-zA-Z0-9]+"
CAPITALIZED_JOINED = "[A-Z0-9][a-zA-Z0-9-]*"
CAPITALIZED_ALONE = "[A-Z0-9_][a-zA-Z0-9_-]*(?:\\.[a-zA-Z0-9_-]+)*"


def name_pattern(*, joined: bool, case: Case, word: bool = False) -> str:
    """The pattern of a name key; ``word``: it must start with a letter (an optional part's name, which
    would otherwise read as the frame or UDIM number beside it)."""
    if case is Case.CAPITALIZED:
        pattern = CAPITALIZED_JOINED if joined else CAPITALIZED_ALONE
    else:
        pattern = NAME_JOINED if joined else NAME_ALONE
        pattern = pattern.replace("a-zA-Z", "A-Z") if case is Case.UPPER else pattern
    if word and joined:
        return pattern.replace("[A-Z0-9]", "[A-Z]", 1).replace("[a-zA-Z0-9]", "[a-zA-Z]", 1)
    return pattern
