"""Reading a ShotGrid Toolkit configuration: ``templates.yml`` with its includes, and ``roots.yml``.

Files are read with the template engine's own located YAML (:mod:`bifrostd.templates.source`), so
every construct keeps its file and line for the import report. A file that cannot be read or parsed,
or an include that names no file, raises :class:`~bifrostd.errors.ImportSourceInvalid`; the sections
of the main file and its includes are merged in reading order, a name defined twice keeping the
later definition as tk-core does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImportSourceInvalid
from ..templates.source import Located, SourceProblem, Where, read_yaml

__all__ = ["TkSource", "read_source", "locate"]

SECTIONS = ("keys", "paths", "strings")
Entry = tuple[Where, Located]


@dataclass(slots=True)
class TkSource:
    """The merged sections of a TK template configuration, each entry with its position."""

    templates_file: Path
    keys: dict[str, Entry] = field(default_factory=dict)
    paths: dict[str, Entry] = field(default_factory=dict)
    strings: dict[str, Entry] = field(default_factory=dict)
    roots: dict[str, Entry] = field(default_factory=dict)
    roots_file: Path | None = None
    #: YAML problems that did not stop the reading (a duplicate key, a tab), and unknown sections.
    problems: list[SourceProblem] = field(default_factory=list)


def locate(source: Path, roots: Path | None) -> tuple[Path, Path | None]:
    """The templates file and roots file of ``source``: a config folder, its ``core`` folder, or a file."""
    if source.is_dir():
        core = source if (source / "templates.yml").is_file() else source / "core"  # a config folder, or its core
        templates = core / "templates.yml"
        found_roots = core / "roots.yml"
        return templates, roots or (found_roots if found_roots.is_file() else None)
    return source, roots


def read_source(source: Path, roots: Path | None = None) -> TkSource:
    """Read a TK configuration folder or ``templates.yml`` (and ``roots``, given or found beside it)."""
    templates_file, roots_file = locate(source, roots)
    if not templates_file.is_file():
        raise ImportSourceInvalid(str(source), [f"{templates_file}: no such file (a TK config folder holds "
                                                "core/templates.yml)"])
    out = TkSource(templates_file.resolve(), roots_file=roots_file)
    _read_templates(templates_file.resolve(), out, set())
    if roots_file is not None:
        out.roots = _mapping(_tree(roots_file.resolve(), out), str(roots_file))
    return out


def _tree(path: Path, out: TkSource) -> Located:
    tree, problems = read_yaml(path)
    if tree is None:
        raise ImportSourceInvalid(str(path), problems)
    out.problems.extend(p for p in problems if p.code != "tab")  # tabs inside quoted text are harmless to PyYAML
    return tree


def _mapping(tree: Located, file: str) -> dict[str, Entry]:
    if tree.value is None:
        return {}
    if not isinstance(tree.value, dict):
        raise ImportSourceInvalid(file, [SourceProblem(tree.where, "", "expected a mapping")])
    return dict(tree.value)


def _read_templates(path: Path, out: TkSource, seen: set[Path]) -> None:
    if path in seen:
        return
    seen.add(path)
    sections = _mapping(_tree(path, out), str(path))
    for name in ("include", "includes"):
        if name in sections:
            _includes(path, sections[name][1], out, seen)
    for name, (where, node) in sections.items():
        if name in SECTIONS:
            getattr(out, name).update(_mapping(node, f"{where}"))
        elif name not in ("include", "includes"):
            out.problems.append(SourceProblem(where, name, "a section tk-core does not read; left out",
                                              code="unknown-section"))


def _includes(path: Path, node: Located, out: TkSource, seen: set[Path]) -> None:
    """tk-core reads includes before the including file's own sections, which win over them."""
    items = node.value if isinstance(node.value, list) else [node]
    for item in items:
        target = path.parent / str(item.value)
        if not isinstance(item.value, str) or not target.is_file():
            raise ImportSourceInvalid(str(path), [SourceProblem(item.where, "include",
                                                                f"included file {item.value!r} not found")])
        _read_templates(target.resolve(), out, seen)
