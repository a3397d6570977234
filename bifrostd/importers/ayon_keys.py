"""The keys and entity kinds of an imported AYON anatomy, from how its templates use each field.

AYON's fields are untyped text and numbers; Bifrost keys have types and patterns. Numbers are exact
(``version`` and ``frame`` with AYON's paddings, ``udim``); names get a pattern, and types and short names
of tasks and folders get the anatomy's own lists as choices when it has them. A name alone in its
folder or file name takes any text (``chars: any``); one that shares a path segment with another field
loses ``_`` and ``.`` (AYON's separators), so every path has one reading, and that narrowing is a note.

Entities: AYON's folders are typed in its database, not in paths, so an anatomy says no more than
"a folder below the project": the import declares ``project``, ``folder`` (by its parents' names and its
own, since AYON keeps names unique among siblings only), ``task`` and ``product`` below a folder, and
``version`` below a product or a task (a work file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ayon_fields import AYON_NAME_RULE, EXT_PATTERN, Case, Kind, name_pattern

__all__ = ["KeyUse", "entity_kinds", "entity_of", "key_spec"]


@dataclass(slots=True)
class KeyUse:
    """How the imported templates use one key: what it is, and whether it shares a segment."""

    key: str
    kind: Kind
    case: Case
    where: tuple[str, int]  # (file, line) of its first use, for its note
    joined: bool = False
    required: bool = False  # written outside optional parts somewhere
    sources: set[str] = field(default_factory=set)  # the AYON spellings that map to it


@dataclass(frozen=True, slots=True)
class Lists:
    """The anatomy's own lists: choices for the type and short-name fields."""

    folder_types: tuple[str, ...]
    task_types: tuple[str, ...]
    task_shorts: tuple[str, ...]
    version_padding: int
    frame_padding: int


def key_spec(use: KeyUse, lists: Lists) -> tuple[dict[str, Any], str | None, bool]:
    """The key's YAML options, and a note on how it differs from AYON (None: exact) and whether that approximates."""
    if use.kind is Kind.VERSION:
        return {"type": "int", "padding": lists.version_padding}, None, False
    if use.kind is Kind.FRAME:
        return ({"type": "frame", "padding": lists.frame_padding},
                "also reads '####', '%04d', '$F4' and ranges, which stand for a whole sequence", False)
    if use.kind is Kind.UDIM:
        return {"type": "udim"}, "also reads '<UDIM>' and '$UDIM', which stand for every tile", False
    if use.kind is Kind.EXT:
        return {"type": "str", "pattern": EXT_PATTERN}, f"AYON takes any extension; here {EXT_PATTERN}", True
    choices = _choices(use, lists)
    if choices:
        return {"type": "str", "choices": choices}, "choices: the anatomy's own list", False
    if not use.joined and use.case is Case.AS_IS:
        return {"type": "str", "chars": "any"}, ANY_NOTE, False
    pattern = name_pattern(joined=use.joined, case=use.case, word=not use.required)
    return {"type": "str", "pattern": pattern}, _name_note(use, pattern), True


#: A name alone in its folder or file name reads as AYON writes it: Bifrost's 'any' is every single path
#: component but those it refuses in every set ('..', Windows device names), which no sane name is.
ANY_NOTE = "any name, as AYON writes it (chars: any; Bifrost refuses '..' and Windows device names in every value)"


def _choices(use: KeyUse, lists: Lists) -> list[str]:
    values = {Kind.FOLDER_TYPE: lists.folder_types, Kind.TASK_TYPE: lists.task_types,
              Kind.TASK_SHORT: lists.task_shorts}.get(use.kind, ())
    cased = [_cased(v, use.case) for v in values if v]
    return list(dict.fromkeys(cased))


def _cased(value: str, case: Case) -> str:
    if case is Case.UPPER:
        return value.upper()
    if case is Case.CAPITALIZED:
        return value[:1].upper() + value[1:]
    return value


def _name_note(use: KeyUse, pattern: str) -> str:
    why = ("it shares a file or folder name with other fields, so it may not hold '_' or '.'" if use.joined
           else "'..' is refused in any Bifrost value")
    if use.joined and not use.required:
        why += ", and being optional it starts with a letter (else a frame or UDIM number could read as it)"
    case = {Case.UPPER: "; upper case only (AYON writes the value upper-cased; Bifrost keys do not change case)",
            Case.CAPITALIZED: "; starts upper case (AYON capitalises the value; Bifrost keys do not change case)",
            Case.AS_IS: ""}[use.case]
    return f"AYON names follow {AYON_NAME_RULE}; here {pattern}: {why}{case}"


def entity_kinds(keys: set[str], folders: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The ``entities:`` section: the kinds whose key the templates use, parents limited to those declared.

    A folder is identified by its parent folders' names and its own, as AYON keeps folder names unique
    among siblings only: ``folders`` maps each folder kind to those keys (one kind per depth imported,
    shallowest first). A task or product tries the deepest folder kind first.
    """
    declared: dict[str, dict[str, Any]] = {}
    if "project" in keys:
        declared["project"] = {"keys": ["project"]}
    if "folder" in keys:
        for kind, folder_keys in folders.items():
            declared[kind] = _with_parents(folder_keys, ["project"], declared)
    deepest_first = [kind for kind in reversed(list(folders)) if kind in declared]
    for kind in ("task", "product"):
        if kind in keys:
            declared[kind] = _with_parents([kind], deepest_first, declared)
    if "version" in keys:
        declared["version"] = _with_parents(["version"], ["product", "task"], declared)
    return declared


def _with_parents(keys: list[str], parents: list[str], declared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    present = [p for p in parents if p in declared]
    spec: dict[str, Any] = {"keys": keys}
    if len(present) == 1:
        spec["parent"] = present[0]
    elif present:
        spec["parents"] = present
    return spec


def entity_of(required: set[str], kinds: dict[str, dict[str, Any]]) -> str | None:
    """The deepest kind whose whole chain of keys the template always has (its required keys)."""
    for kind in reversed(list(kinds)):
        if _chain_present(kind, required, kinds):
            return kind
    return None


def _chain_present(kind: str, required: set[str], kinds: dict[str, dict[str, Any]]) -> bool:
    spec = kinds[kind]
    if not set(spec["keys"]) <= required:
        return False
    parents = [spec["parent"]] if "parent" in spec else spec.get("parents", [])
    return not parents or any(_chain_present(p, required, kinds) for p in parents)
