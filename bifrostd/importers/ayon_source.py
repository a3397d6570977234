"""Reading an AYON project anatomy (JSON or YAML) into plain values with their source lines.

AYON keeps an anatomy in two shapes, and both are read:

- the *preset* shape of its settings model (an exported anatomy preset): ``roots`` a list of
  ``{name, windows, linux, darwin}``, ``templates`` holding the common values (``version_padding``,
  ``version``, ``frame_padding``, ``frame``) beside categories that are lists of ``{name, ...}`` items;
- the *project* shape kept on a project (``config``): ``roots`` a mapping of name to the three paths,
  ``templates.common`` and categories that are mappings of name to item.

An item is ``{directory, file}`` (``folder`` is the older name of ``directory``; an explicit ``path`` is
used as written), ``{value}`` (``others``), ``{directory}`` alone (``staging``) or, in older anatomies, a
plain string. Every scalar value of an item (``directory`` and ``file`` too, and a ``version_padding`` of
its own) is an inner key for that item's ``{@...}``, over the common ones, as in AYON.

Positions: YAML nodes carry their line; a JSON file is also composed as YAML to find lines (JSON is
YAML's flow style), and where that fails its notes name the JSON pointer only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImportSourceInvalid
from ..templates.source import Located, parse_yaml

__all__ = ["Anatomy", "AyonRoot", "AyonTemplate", "located", "read_anatomy"]

CATEGORIES = ("work", "publish", "hero", "delivery", "staging", "others")


@dataclass(frozen=True, slots=True)
class AyonRoot:
    name: str
    paths: dict[str, str]  # AYON's platform names: windows, linux, darwin
    line: int


@dataclass(frozen=True, slots=True)
class AyonTemplate:
    """One named template of a category, its text as AYON joins it, and the values its ``{@...}`` may use."""

    category: str
    name: str
    path: str  # directory + "/" + file, or the explicit path, value or string
    directory: str | None  # the item's own directory template, when it has one and a file
    values: dict[str, Any]  # common values, overridden by the item's own
    pointer: str  # JSON pointer of the item: /templates/work/default
    line: int


@dataclass(frozen=True, slots=True)
class Anatomy:
    source: str
    roots: tuple[AyonRoot, ...]
    templates: tuple[AyonTemplate, ...]
    common: dict[str, Any]
    folder_types: tuple[str, ...] = ()
    task_types: tuple[tuple[str, str], ...] = ()  # (name, short name)
    problems: tuple[str, ...] = field(default=())  # items that could not be read: make the import fail


class _Positions:
    """Lines of values by their key path, from the composed document (0 where unknown)."""

    def __init__(self, tree: Located | None) -> None:
        self.tree = tree

    def line(self, keys: list[str | int]) -> int:
        node = self.tree
        for key in keys:
            if node is None:
                return 0
            node = _child(node, key)
        return node.where.line if node is not None else 0


def _child(node: Located, key: str | int) -> Located | None:
    if isinstance(node.value, dict) and isinstance(key, str) and key in node.value:
        child: Located = node.value[key][1]
        return child
    if isinstance(node.value, list) and isinstance(key, int) and key < len(node.value):
        item: Located = node.value[key]
        return item
    return None


def located(file: str, line: int) -> str:
    """``file:line``, or the file alone where the line is unknown (0)."""
    return f"{file}:{line}" if line else file


def read_anatomy(path: Path) -> Anatomy:
    """Read an anatomy file; raises :class:`ImportSourceInvalid` when it can't be read."""
    text = _read_text(path)
    document, positions = _parse(text, str(path), json_file=path.suffix.lower() == ".json")
    return _anatomy(str(path), document, positions)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportSourceInvalid(str(path), [f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except OSError as exc:
        raise ImportSourceInvalid(str(path), [f"{path}: cannot read: {exc.strerror}"]) from None


def _parse(text: str, file: str, *, json_file: bool) -> tuple[Any, _Positions]:
    if json_file:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportSourceInvalid(file, [f"{file}:{exc.lineno}:{exc.colno}: JSON syntax error: {exc.msg}"]) from None
        tree, _ = parse_yaml(text, file)
        return document, _Positions(tree)
    tree, problems = parse_yaml(text, file)
    if tree is None:
        raise ImportSourceInvalid(file, problems)
    return tree.plain(), _Positions(tree)


def _anatomy(file: str, document: Any, positions: _Positions) -> Anatomy:
    prefix: list[str | int] = []
    if isinstance(document, dict) and "templates" not in document and isinstance(document.get("config"), dict):
        document, prefix = document["config"], ["config"]  # a whole project entity: its config holds the anatomy
    if not isinstance(document, dict) or not isinstance(document.get("templates"), dict):
        raise ImportSourceInvalid(file, [f"{file}: not an AYON anatomy: no 'templates' mapping"])
    reader = _Reader(file, positions, prefix)
    roots = reader.roots(document.get("roots"))
    if not roots:
        raise ImportSourceInvalid(file, [f"{located(file, reader.line(['roots']))}: not an AYON anatomy: no 'roots'"])
    common = _common(document["templates"])
    templates = [t for category in _categories(document["templates"]) for t in reader.category(category, document, common)]
    return Anatomy(file, tuple(roots), tuple(templates), common,
                   _folder_types(document), _task_types(document), tuple(reader.problems))


def _common(templates: dict[str, Any]) -> dict[str, Any]:
    """The values every template's ``{@...}`` may use: ``common`` and the scalars beside the categories."""
    values = {k: v for k, v in templates.items() if not isinstance(v, (dict, list))}
    common = templates.get("common")
    if isinstance(common, dict):
        values.update({k: v for k, v in common.items() if not isinstance(v, (dict, list))})
    return values


def _categories(templates: dict[str, Any]) -> list[str]:
    return [name for name, value in templates.items() if name != "common" and isinstance(value, (dict, list))]


class _Reader:
    def __init__(self, file: str, positions: _Positions, prefix: list[str | int]) -> None:
        self.file, self.positions, self.prefix = file, positions, prefix
        self.problems: list[str] = []

    def line(self, keys: list[str | int]) -> int:
        return self.positions.line([*self.prefix, *keys])

    def roots(self, roots: Any) -> list[AyonRoot]:
        if isinstance(roots, dict):
            entries = [(name, value, ["roots", name]) for name, value in roots.items()]
        elif isinstance(roots, list):
            entries = [(r.get("name"), r, ["roots", i]) for i, r in enumerate(roots) if isinstance(r, dict)]
        else:
            return []
        return [AyonRoot(str(name), _root_paths(value), self.line(keys)) for name, value, keys in entries]

    def category(self, category: str, document: dict[str, Any], common: dict[str, Any]) -> list[AyonTemplate]:
        items = document["templates"][category]
        if isinstance(items, dict):
            entries: list[tuple[str, Any, list[str | int]]] = [(str(n), v, [n]) for n, v in items.items()]
        else:
            entries = [(str(v.get("name", i)) if isinstance(v, dict) else str(i), v, [i]) for i, v in enumerate(items)]
        out = []
        for name, item, keys in entries:
            where: list[str | int] = ["templates", category, *keys]
            template = self.item(category, name, item, where, common)
            if template is not None:
                out.append(template)
        return out

    def item(self, category: str, name: str, item: Any, where: list[str | int], common: dict[str, Any]) -> AyonTemplate | None:
        pointer = "/" + "/".join(str(k) for k in [*self.prefix, *where])
        if isinstance(item, str):
            return AyonTemplate(category, name, item, None, dict(common), pointer, self.line(where))
        text = _item_path(item) if isinstance(item, dict) else None
        if text is None:
            self.problems.append(f"{located(self.file, self.line(where))}: {pointer}: expected a template string or a "
                                 "mapping with 'directory' and 'file' (or 'value')")
            return None
        assert isinstance(item, dict)
        values = {**common, **{k: v for k, v in item.items() if not isinstance(v, (dict, list))}}
        directory = item.get("directory", item.get("folder"))
        own_dir = directory if isinstance(directory, str) and isinstance(item.get("file"), str) else None
        line = self.line([*where, "file"]) or self.line([*where, "value"]) or self.line(where)
        return AyonTemplate(category, name, text, own_dir, values, pointer, line)


def _item_path(item: dict[str, Any]) -> str | None:
    directory = item.get("directory", item.get("folder"))
    for candidate in (item.get("path"), item.get("value")):
        if isinstance(candidate, str) and candidate:
            return candidate
    if isinstance(directory, str) and isinstance(item.get("file"), str):
        return f"{directory}/{item['file']}"
    if isinstance(directory, str) and directory:
        return directory
    return None


def _root_paths(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"windows": value, "linux": value, "darwin": value}
    if not isinstance(value, dict):
        return {}
    return {os_name: value[os_name] for os_name in ("windows", "linux", "darwin")
            if isinstance(value.get(os_name), str) and value[os_name]}


def _folder_types(document: dict[str, Any]) -> tuple[str, ...]:
    types = document.get("folder_types", document.get("folderTypes"))
    return tuple(str(t["name"]) for t in types or () if isinstance(t, dict) and t.get("name"))


def _task_types(document: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    types = document.get("task_types", document.get("taskTypes"))
    return tuple((str(t["name"]), str(t.get("shortName") or "")) for t in types or ()
                 if isinstance(t, dict) and t.get("name"))
