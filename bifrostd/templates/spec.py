"""The declared parts of a template set, as read from YAML (before compiling)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .keys import Key
from .pattern import Token
from .readings import ReadingRule
from .source import Where

#: Operating systems a root can give a path for, and sys.platform prefixes.
OS_NAMES = ("linux", "windows", "mac")


def current_os() -> str:
    """The operating system name used to pick root paths: linux, windows or mac."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "mac"
    return "linux"


#: The schema id of template set files.
SCHEMA_ID = "bifrost.templates.1"


@dataclass(frozen=True, slots=True)
class Root:
    name: str
    paths: dict[str, str]
    where: Where


@dataclass(frozen=True, slots=True)
class EntityKind:
    """An entity kind: the keys that identify it below its parent, and its possible parents."""

    name: str
    keys: tuple[str, ...]
    parents: tuple[str, ...]
    where: Where | None = None


@dataclass(frozen=True, slots=True)
class TemplateDef:
    name: str
    root: str
    pattern: str
    tokens: tuple[Token, ...]
    where: Where
    entity: str | None = None
    priority: int = 0
    description: str = ""
    #: What to do with a path it reads two ways (None: the set's rule, by default refuse it).
    rule: ReadingRule | None = None
    #: Folder skeleton: whether ``create`` makes its folders, and its own folder's mode and group.
    skeleton: bool = True
    mode: int | None = None
    group: str | None = None


#: Entity kinds used when a template set does not declare its own.
DEFAULT_ENTITIES: dict[str, EntityKind] = {
    kind.name: kind
    for kind in (
        EntityKind("project", ("project",), ()),
        EntityKind("sequence", ("sequence",), ("project",)),
        EntityKind("shot", ("shot",), ("sequence",)),
        EntityKind("asset", ("asset_type", "asset"), ("project",)),
        EntityKind("task", ("task",), ("shot", "asset")),
        EntityKind("version", ("version",), ("task",)),
    )
}


@dataclass(slots=True)
class Declarations:
    """Everything declared across the files of a template set."""

    files: list[str] = field(default_factory=list)
    roots: dict[str, Root] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    entities: dict[str, EntityKind] = field(default_factory=dict)
    templates: dict[str, TemplateDef] = field(default_factory=dict)
    #: The set's ``readings:`` rule, and where it was declared (None: refuse paths with two readings).
    readings: ReadingRule | None = None
    readings_where: Where | None = None
    #: Keys declared with errors (already reported): templates using them are not compiled.
    invalid_keys: set[str] = field(default_factory=set)
    #: Files that could not be read as a mapping of sections (already reported). What they declare is
    #: unknown, so the set is not compiled: every use of it elsewhere would be one more false problem.
    unread: list[str] = field(default_factory=list)
