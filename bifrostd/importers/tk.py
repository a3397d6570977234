"""ShotGrid Toolkit ``templates.yml`` and ``roots.yml`` as a Bifrost template set.

:func:`import_tk` reads a TK configuration (:mod:`.tk_source`), translates its keys
(:mod:`.tk_keys`), its ``paths:`` templates (``@references`` become ``{@references}``, ``[optional]``
parts stay as they are, ``root_name`` becomes ``root``), its storage roots, and derives the entity
kinds from the well-known keys (``Sequence``, ``Shot``, ``Asset``, ``sg_asset_type``, ``Step``,
``version``). Every construct not carried exactly gets a note with its file and line; the ``strings:``
templates, which format text that is not a path under a root, are reported and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImportSourceInvalid
from ..templates.source import Located, SourceProblem, Where
from ..templates.spec import SCHEMA_ID
from .report import ImportResult, Note
from .tk_keys import translate_key
from .tk_names import Renamer, bifrost_name, unique_names
from .tk_source import Entry, TkSource, read_source

__all__ = ["import_tk"]

_OS_PATHS = {"linux": "linux_path", "windows": "windows_path", "mac": "mac_path"}
#: Root paths written where roots.yml leaves them empty (ShotGrid fills them from its local storages).
_PLACEHOLDERS = {"linux": "/mnt/{}", "windows": "X:\\{}", "mac": "/Volumes/{}"}
_ROOT_OPTIONS = ("linux_path", "windows_path", "mac_path", "default", "description", "shotgun_storage_id")


def import_tk(source: Path, roots: Path | None = None, *, project: str | None = None) -> ImportResult:
    """Translate the TK configuration at ``source`` (a config folder or a ``templates.yml``).

    ``project``: the project's folder below each storage root, where tk-core's templates start.
    """
    tk = read_source(source, roots)
    return _Translator(tk, project).result(str(source))


@dataclass(slots=True)
class _Translator:
    tk: TkSource
    project: str | None
    notes: list[Note] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    used_keys: set[str] = field(default_factory=set)

    def result(self, source: str) -> ImportResult:
        self.notes += [_yaml_note(p) for p in self.tk.problems]
        names = Renamer([*self.tk.keys, *_aliases(self.tk.keys)])
        roots, default_root = self._roots()
        templates = self._templates(roots, default_root, names)
        if self.problems:
            raise ImportSourceInvalid(source, self.problems)
        keys = self._keys(names)
        document: dict[str, Any] = {"schema": SCHEMA_ID, "roots": roots, "keys": keys}
        entities = _entities({k.get("alias", name) for name, k in keys.items()})
        if entities:
            document["entities"] = entities
        document["templates"] = templates
        skipped = self._strings()
        header = (f"Imported from the ShotGrid Toolkit configuration {self.tk.templates_file}\n"
                  "by 'bifrostctl templates import tk'; see docs/coming-from-shotgrid.md.")
        notes = tuple(sorted(self.notes, key=lambda n: (n.file, n.line)))
        return ImportResult("tk", source, document, notes, names.renamed(), header, skipped)

    # -- roots ------------------------------------------------------------------------------------------
    def _roots(self) -> tuple[dict[str, Any], str]:
        if not self.tk.roots:
            where = Where(str(self.tk.templates_file), 0, 0)
            self.notes.append(_note(where, "roots", "no roots.yml: one root 'primary' with placeholder paths; set "
                                    "its paths in the set or in bifrost.yaml"))
            return {"primary": self._placeholders("primary")}, "primary"
        roots = {bifrost_name(name): self._root(name, where, node) for name, (where, node) in self.tk.roots.items()}
        return roots, bifrost_name(self._default_root())

    def _default_root(self) -> str:
        for name, (_, node) in self.tk.roots.items():
            if isinstance(node.value, dict) and "default" in node.value and node.value["default"][1].value is True:
                return name
        return "primary" if "primary" in self.tk.roots else next(iter(self.tk.roots))

    def _root(self, name: str, where: Where, node: Located) -> dict[str, str]:
        options = node.value if isinstance(node.value, dict) else {}
        for option, (opt_where, _) in options.items():
            if option not in _ROOT_OPTIONS:
                self.notes.append(_note(opt_where, f"root '{name}': {option}", "left out (not a path)"))
        paths = {os_name: str(options[tk][1].value) for os_name, tk in _OS_PATHS.items()
                 if tk in options and options[tk][1].value}
        if len(paths) < len(_OS_PATHS):
            missing = ", ".join(sorted(set(_OS_PATHS) - set(paths)))
            self.notes.append(_note(where, f"root '{name}'", f"no {missing} path in roots.yml (ShotGrid fills "
                                    "them from its local storage): a placeholder; set the real path"))
            paths = {**self._placeholders(bifrost_name(name)), **paths}
        if self.project:
            paths = {os_name: _join(path, self.project, os_name) for os_name, path in paths.items()}
        return {os_name: paths[os_name] for os_name in _OS_PATHS}

    @staticmethod
    def _placeholders(name: str) -> dict[str, str]:
        return {os_name: pattern.format(name) for os_name, pattern in _PLACEHOLDERS.items()}

    # -- keys -------------------------------------------------------------------------------------------
    def _keys(self, names: Renamer) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for name, (where, node) in self.tk.keys.items():
            if name not in self.used_keys:
                self.notes.append(_note(where, f"key '{name}'", "used by no path template; left out",
                                        approximated=False))
                continue
            translation = translate_key(name, where, node, names)
            self.notes += translation.notes
            keys[names(name)] = translation.options
        return keys

    # -- templates --------------------------------------------------------------------------------------
    def _templates(self, roots: dict[str, Any], default_root: str, names: Renamer) -> dict[str, Any]:
        definitions = {name: self._definition(name, where, node) for name, (where, node) in self.tk.paths.items()}
        template_roots = {name: bifrost_name(r) if r else default_root for name, (_, r, _w) in definitions.items()}
        for name, (_, root, where) in definitions.items():
            if root and bifrost_name(root) not in roots:
                self.problems.append(SourceProblem(where, f"paths.{name}.root_name", f"unknown root {root!r}"))
        by_length = sorted(self.tk.paths, key=len, reverse=True)
        template_names = unique_names(self.tk.paths)
        out: dict[str, Any] = {}
        for name, (text, _, where) in definitions.items():
            refs = _References(definitions, template_roots, template_names, by_length, names, self)
            path = refs.translate(name, text, where, template_roots[name], ())
            entry: dict[str, Any] = {"path": path}
            if len(roots) > 1:
                entry["root"] = template_roots[name]
            out[template_names[name]] = entry["path"] if len(entry) == 1 else entry
            if template_names[name] != name:
                self.notes.append(_note(where, f"template '{name}'", f"named '{template_names[name]}' (Bifrost names "
                                        "are letters, digits and '_')", approximated=False))
        return out

    def _definition(self, name: str, where: Where, node: Located) -> tuple[str, str | None, Where]:
        if isinstance(node.value, str):
            return node.value, None, node.where
        options = node.value if isinstance(node.value, dict) else {}
        for option, (opt_where, value) in options.items():
            if option not in ("definition", "root_name"):
                self.notes.append(_note(opt_where, f"template '{name}': {option}: {value.plain()!r}", "left out"))
        if "definition" not in options:
            self.problems.append(SourceProblem(where, f"paths.{name}", "a path template needs a definition"))
            return "", None, where
        definition = options["definition"][1]
        root = options["root_name"][1].value if "root_name" in options else None
        return str(definition.value), (str(root) if root else None), definition.where

    def _strings(self) -> tuple[str, ...]:
        for name, (where, _node) in self.tk.strings.items():
            self.notes.append(_note(where, f"strings template '{name}'", "left out: Bifrost templates are paths "
                                    "under a root, and it has no formatting-only templates"))
        return tuple(self.tk.strings)


@dataclass(slots=True)
class _References:
    """Rewrites one TK definition: ``{key}`` with Bifrost key names, ``@name`` as ``{@name}``.

    tk-core reads ``@`` followed by the longest template name that fits, and ``@@`` as a literal ``@``.
    Bifrost references stay under one root, so a reference to a template of another root is replaced
    by that template's path.
    """

    definitions: dict[str, tuple[str, str | None, Where]]
    roots: dict[str, str]
    template_names: dict[str, str]
    by_length: list[str]
    names: Renamer
    owner: _Translator

    def translate(self, name: str, text: str, where: Where, root: str, inlining: tuple[str, ...]) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("@@", i):
                out.append("@")
                i += 2
            elif text[i] == "@":
                i = self._reference(name, text, i, where, root, inlining, out)
            elif text[i] == "{" and "}" in text[i:]:
                end = text.index("}", i)
                out.append(self._key(name, text[i + 1:end], where))
                i = end + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _key(self, template: str, key: str, where: Where) -> str:
        if key not in self.owner.tk.keys:
            self.owner.problems.append(SourceProblem(where, f"paths.{template}", f"undefined key {key!r}",
                                                     "declare it under keys:"))
            return "{" + key + "}"
        self.owner.used_keys.add(key)
        return "{" + self.names(key) + "}"

    def _reference(self, name: str, text: str, i: int, where: Where, root: str, inlining: tuple[str, ...],
                   out: list[str]) -> int:
        target = next((t for t in self.by_length if text.startswith(t, i + 1)), None)
        if target is None or target in inlining:
            why = "refers to itself" if target else "names no path template"
            self.owner.problems.append(SourceProblem(where, f"paths.{name}", f"the reference at {text[i:]!r} {why}"))
            return len(text)
        if self.roots[target] == root:
            out.append("{@" + self.template_names[target] + "}")
        else:
            inner, _, inner_where = self.definitions[target]
            out.append(self.translate(target, inner, inner_where, root, (*inlining, target)))
            if not inlining:  # the outermost reference says it; those inside go with it
                self.owner.notes.append(_note(where, f"template '{name}': @{target}", "written out: it is under "
                                              f"root '{self.roots[target]}', and Bifrost references stay under one "
                                              "root", approximated=False))
        return i + 1 + len(target)


def _aliases(keys: dict[str, Entry]) -> list[str]:
    found = []
    for _, node in keys.values():
        if isinstance(node.value, dict) and "alias" in node.value and isinstance(node.value["alias"][1].value, str):
            found.append(node.value["alias"][1].value)
    return found


def _entities(fields: set[str]) -> dict[str, Any]:
    """Entity kinds over the fields the set has: the default kinds, less those whose fields it lacks."""
    kinds: dict[str, Any] = {}
    if "sequence" in fields:
        kinds["sequence"] = {"keys": ["sequence"]}
    if "shot" in fields:
        kinds["shot"] = {"keys": ["shot"], **({"parent": "sequence"} if "sequence" in kinds else {})}
    if "asset" in fields:
        kinds["asset"] = {"keys": [f for f in ("asset_type", "asset") if f in fields]}
    parents = [k for k in ("shot", "asset") if k in kinds]
    if "task" in fields:
        kinds["task"] = {"keys": ["task"], **({"parents": parents} if parents else {})}
    if "version" in fields and kinds:
        kinds["version"] = {"keys": ["version"], **({"parent": "task"} if "task" in kinds else {})}
    return kinds


def _join(path: str, folder: str, os_name: str) -> str:
    separator = "\\" if os_name == "windows" else "/"
    return path.rstrip("/\\") + separator + folder


def _note(where: Where, construct: str, done: str, *, approximated: bool = True) -> Note:
    return Note(where.file, where.line, construct, done, approximated)


def _yaml_note(problem: SourceProblem) -> Note:
    return Note(problem.where.file, problem.where.line, problem.key or "YAML", problem.message)
