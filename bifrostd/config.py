"""The studio config (``bifrost.yaml``): discovery, validation, and one frozen value.

Discovery order: ``--config``, then ``$BIFROST_CONFIG``, then ``./bifrost.yaml``,
then ``/etc/bifrost/bifrost.yaml``. Relative paths in the file are relative
to the file. This is the only module that reads the environment; everything
below it receives values.

This module validates the top sections (``schema``, ``templates``, ``state``,
``roots``, ``scan``) and keeps ``daemon`` and ``mirror`` raw, with their
located nodes, for their owners (``daemon_config``, ``mirror.targets``) to
parse; ``studio_config`` reads all of them at once, so every misspelt option
of every section is reported together, with file, line and key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import ConfigError, ConfigInvalid
from .templates.loader import root_paths
from .templates.source import MAX_BYTES as MAX_CONFIG_BYTES
from .templates.source import Located, SourceProblem, Where, did_you_mean, read_yaml

if TYPE_CHECKING:
    from .templates import TemplateSet

SCHEMA_ID = "bifrost.config.1"
CONFIG_NAME = "bifrost.yaml"
SYSTEM_CONFIG = Path("/etc/bifrost/bifrost.yaml")
SECTIONS = ("schema", "templates", "state", "roots", "scan", "edit", "daemon", "mirror")

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*\Z")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``"30s"``, ``"15m"``, ``"24h"``, ``"7d"``; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(value)
        return float(value)
    found = _DURATION.match(str(value))
    if not found:
        raise ValueError(value)
    return float(found.group(1)) * _UNITS[found.group(2)]


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*(?:/\s*s)?\s*\Z", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """Bytes from ``16777216``, ``"16MiB"``, ``"16 MB"`` or ``"50MB/s"`` (MB = 10**6, MiB = 2**20); raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    found = _SIZE.match(str(value))
    if not found:
        raise ValueError(value)
    number, unit, binary = found.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


DEFAULT_WORKERS = 2


#: The journal of an unfinished tree migration, in the state folder (see docs/migrating-the-tree.md).
MIGRATION_JOURNAL = "tree-migration.journal"


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """The ``scan`` section. ``workers`` hash in parallel, each on its own CPU (all but one in a process
    of its own): it may not exceed this machine's CPUs, and defaults to 2, or 1 on a one-CPU machine."""

    hash: bool = True
    workers: int = DEFAULT_WORKERS
    full_every: float = 86400.0


SCAN_OPTIONS = ("hash", "workers", "full_every")


@dataclass(frozen=True, slots=True)
class EditSettings:
    """The ``edit`` section: the studio's defaults for ``shots import`` (its options override them)."""

    #: A regex with the named group ``shot`` (and optionally ``sequence``); None: the built-in default.
    name_pattern: str | None = None
    start_frame: int = 1001
    #: The edit's frame rate as written (``24``, ``30000/1001``); None: the file's own, or 24 for an EDL.
    rate: str | None = None


EDIT_OPTIONS = ("name_pattern", "start_frame", "rate")
_RATE = re.compile(r"\s*\d+(\.\d+)?(\s*/\s*\d+)?\s*\Z")


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded studio config. ``daemon`` and ``mirror`` are the raw sections, parsed by their owners, who find
    where a problem is written with :meth:`located`."""

    path: Path | None
    templates: Path
    state_dir: Path
    root_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Where each override is written in the config file (for problems naming line and column).
    root_wheres: dict[str, Where] = field(default_factory=dict)
    scan: ScanSettings = field(default_factory=ScanSettings)
    edit: EditSettings = field(default_factory=EditSettings)
    daemon: Mapping[str, Any] = field(default_factory=dict)
    mirror: Mapping[str, Any] = field(default_factory=dict)
    #: The ``daemon`` and ``mirror`` sections as read, with positions (not part of the config's value).
    nodes: Mapping[str, Located] = field(default_factory=dict, compare=False, repr=False)

    @property
    def catalog_path(self) -> Path:
        return self.state_dir / "catalog.db"

    @property
    def migration_journal_path(self) -> Path:
        """Where an unfinished tree migration keeps its journal (``reconcile.tree_journal``)."""
        return self.state_dir / MIGRATION_JOURNAL

    def located(self, section: str) -> Located:
        """The ``daemon`` or ``mirror`` section with positions, to say where a problem in it is.

        For a Config built in code, or whose raw section was replaced after
        reading (its positions would point at other lines), an empty mapping
        at the file's first line: every position falls back to it.
        """
        node = self.nodes.get(section)
        if node is None or (node.plain() or {}) != (getattr(self, section) or {}):
            return Located({}, Where(str(self.path), 1, 1))
        return node

    def load_templates(self) -> TemplateSet:
        """The studio's template set with this config's root overrides applied; raises on any error."""
        from .templates import load_template_set

        template_set, problems = self.with_root_overrides(load_template_set(self.templates))
        if problems:
            raise invalid_config(problems)
        return template_set

    def build_templates(self) -> tuple[TemplateSet | None, list[SourceProblem]]:
        """(template set or None, problems) without raising, for checks and reloads."""
        from .templates import build_template_set

        template_set, problems = build_template_set(self.templates)
        if template_set is None:
            return None, problems
        template_set, wrong = self.with_root_overrides(template_set)
        return template_set, problems + wrong

    def with_root_overrides(self, template_set: TemplateSet) -> tuple[TemplateSet, list[SourceProblem]]:
        """(the template set with root paths replaced by this config's overrides, problems).

        An override must name a root the template files define: a misspelt
        name would otherwise add a root with no templates, where every file
        is unmanaged, while the real root keeps its default path.
        """
        from .templates.spec import Root

        roots = dict(template_set.roots)
        problems: list[SourceProblem] = []
        for name, paths in self.root_overrides.items():
            base = roots.get(name)
            if base is None:
                where = self.root_wheres.get(name) or Where(str(self.path), 1, 1)
                hint = did_you_mean(name, roots) or f"roots: {', '.join(roots)}"
                problems.append(SourceProblem(where, f"roots.{name}", "no template file defines this root", hint,
                                        code="undefined-root"))
                continue
            roots[name] = Root(name, {**base.paths, **paths}, base.where)
        return (template_set.with_roots(roots) if self.root_overrides else template_set), problems


def find_config(explicit: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Path:
    """The config file to use, following the discovery order; raises ConfigError if none."""
    environ = os.environ if environ is None else environ
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("--config", Path(explicit)))
    elif environ.get("BIFROST_CONFIG"):
        candidates.append(("$BIFROST_CONFIG", Path(environ["BIFROST_CONFIG"])))
    else:
        candidates += [("current folder", Path.cwd() / CONFIG_NAME), ("system", SYSTEM_CONFIG)]
    for source, path in candidates:
        if path.is_dir() and source in ("--config", "$BIFROST_CONFIG"):
            path = path / CONFIG_NAME  # a studio folder, as 'bifrostctl init DIR' made it
        if path.is_file():
            return path.resolve()
        if source in ("--config", "$BIFROST_CONFIG"):
            raise ConfigError(f"config file {path} (from {source}) does not exist")
    raise ConfigError(
        f"no {CONFIG_NAME} found in the current folder or {SYSTEM_CONFIG}; "
        "pass --config, set BIFROST_CONFIG, or create one with 'bifrostctl init DIR'"
    )


#: A top-level ``state:`` line whose value is a plain or quoted path (no flow collection, alias or tag).
_STATE_LINE = re.compile(r"""^state:[ \t]*"""
                         r"""(?:"(?P<double>[^"\n]*)"|'(?P<single>[^'\n]*)'|(?P<plain>[^\s"'\[\]{}&*!|>%@`#][^\n#]*?))"""
                         r"""[ \t]*(?:#[^\n]*)?$""", re.MULTILINE)


def locate_state_dir(path: Path) -> Path:
    """The state folder a config file names, read from its ``state:`` key alone, leniently.

    For reaching a running daemon (its socket is in the state folder) while
    the rest of the file is invalid: being edited, or refused by a reload.
    A file that parses gives its ``state:`` value; one that does not is read
    line by line for a top-level ``state:`` line; without one, the default
    ``.bifrost`` beside the file, as :func:`load_config` has it. Raises
    ConfigError when the file can't be read or names no usable path.
    """
    tree, _ = read_yaml(path)
    if tree is not None and isinstance(tree.value, dict):
        node = tree.value.get("state")
        if node is None:
            return path.parent / ".bifrost"
        value = node[1].value
        if isinstance(value, str) and value:
            return (path.parent / value).resolve()
        raise ConfigError(f"{path}:{node[1].where.line}: 'state' must be the path of the state folder; "
                          "fix it to reach the daemon")
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read {path} to find the state folder: {exc.strerror}") from exc
    if not re.search(r"^state:", text, re.MULTILINE):
        return path.parent / ".bifrost"
    found = _STATE_LINE.search(text)
    value = found and next((v for v in found.group("double", "single", "plain") if v is not None), "").strip()
    if not value:
        raise ConfigError(f"cannot tell the state folder from {path}: it is not valid YAML and its 'state:' line "
                          "is not a plain path; fix the file to reach the daemon")
    return (path.parent / value).resolve()


def machine_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it, else every CPU)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Reader:
    def __init__(self, path: Path, cpus: int) -> None:
        self.path = path
        self.base = path.parent
        self.cpus = cpus
        self.problems: list[SourceProblem] = []
        self.root_wheres: dict[str, Where] = {}

    def problem(self, where: Where, key: str, message: str, hint: str = "") -> None:
        self.problems.append(SourceProblem(where, key, message, hint))

    def path_value(self, node: Located, key: str) -> Path | None:
        if not isinstance(node.value, str) or not node.value:
            self.problem(node.where, key, "must be a path")
            return None
        return (self.base / node.value).resolve()

    def roots(self, node: Located) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if not isinstance(node.value, dict):
            self.problem(node.where, "roots", "must be a mapping of root name to paths per OS")
            return out
        for name, (where, value) in node.value.items():
            paths, problems = root_paths(name, value)
            self.problems.extend(problems)
            out[name] = {os_name: self._root_path(os_name, path) for os_name, path in paths.items()}
            self.root_wheres[name] = where
        return out

    def _root_path(self, os_name: str, text: str) -> str:
        """Relative root paths are relative to the config file, on the OS reading it."""
        from .templates import current_os

        if os_name != current_os() or os.path.isabs(text):
            return text
        return str((self.base / text).resolve())

    def scan(self, node: Located | None) -> ScanSettings:
        values: dict[str, Any] = {"workers": min(DEFAULT_WORKERS, self.cpus)}
        if node is None:
            return ScanSettings(**values)
        if not isinstance(node.value, dict):
            self.problem(node.where, "scan", "must be a mapping")
            return ScanSettings(**values)
        for option, (where, value) in node.value.items():
            key = f"scan.{option}"
            if option not in SCAN_OPTIONS:
                self.problem(where, key, "unknown option", did_you_mean(option, SCAN_OPTIONS))
            elif option == "hash" and not isinstance(value.value, bool):
                self.problem(value.where, key, "must be true or false")
            elif option == "workers" and (isinstance(value.value, bool) or not isinstance(value.value, int) or value.value < 1):
                self.problem(value.where, key, "must be a positive integer")
            elif option == "workers" and value.value > self.cpus:
                self.problem(value.where, key, f"{value.value} is more than the {self.cpus} CPUs of this machine "
                             f"(each worker hashes on its own CPU; at most {self.cpus})")
            elif option == "full_every":
                try:
                    values[option] = parse_duration(value.value)
                except ValueError:
                    self.problem(value.where, key, "must be a duration like 30s, 15m, 24h or 7d")
            else:
                values[option] = value.value
        return ScanSettings(**values)


    def edit(self, node: Located | None) -> EditSettings:
        if node is None:
            return EditSettings()
        if not isinstance(node.value, dict):
            self.problem(node.where, "edit", "must be a mapping")
            return EditSettings()
        values: dict[str, Any] = {}
        for option, (where, value) in node.value.items():
            key = f"edit.{option}"
            if option not in EDIT_OPTIONS:
                self.problem(where, key, "unknown option", did_you_mean(option, EDIT_OPTIONS))
            elif problem := _edit_problem(option, value.value):
                self.problem(value.where, key, problem)
            else:
                values[option] = str(value.value) if option == "rate" else value.value
        return EditSettings(**values)


def _edit_problem(option: str, value: Any) -> str:
    """Why ``value`` cannot be the ``edit`` option, or "" when it can."""
    if option == "start_frame":
        return "" if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if option == "rate":
        return "" if _positive_rate(value) else "must be frames per second: 24, 25 or 30000/1001"
    if not isinstance(value, str):
        return "must be a regular expression"
    try:
        groups = re.compile(value).groupindex
    except re.error as error:
        return f"not a regular expression: {error}"
    return "" if "shot" in groups else "needs the named group (?P<shot>...) (and may have (?P<sequence>...))"


def _positive_rate(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or not _RATE.match(str(value)):
        return False
    try:
        return Fraction(str(value).replace(" ", "")) > 0
    except ZeroDivisionError:
        return False


def invalid_config(problems: Iterable[SourceProblem]) -> ConfigInvalid:
    """The error listing ``problems`` in file order (stable: a tag before its effect)."""
    return ConfigInvalid(in_file_order(problems))


def in_file_order(problems: Iterable[SourceProblem]) -> list[SourceProblem]:
    """``problems`` sorted by file, line and column (stable: a tag before its effect)."""
    return sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))


def load_config(path: Path, *, cpus: int | None = None) -> Config:
    """Read and validate a studio config's top sections; raises ConfigError listing every problem, in file order.

    ``cpus`` bounds ``scan.workers`` (default: the CPUs this process may use).
    The ``daemon`` and ``mirror`` sections are checked by their owners; see
    ``studio_config`` for the whole file at once.
    """
    config, problems = read_config(path, cpus=cpus)
    if problems:
        raise invalid_config(problems)
    return config


def read_config(path: Path, *, cpus: int | None = None) -> tuple[Config, list[SourceProblem]]:
    """(the config, the problems of its top sections) without raising.

    With problems, the config holds a default in place of each invalid
    value, so the other sections can still be checked.
    """
    tree, problems = read_yaml(path)
    reader = _Reader(path, cpus or machine_cpus())
    reader.problems.extend(problems)
    sections: dict[str, tuple[Where, Located]] = {}
    if tree is not None:
        if isinstance(tree.value, dict):
            sections = tree.value
        else:
            reader.problem(tree.where, "", "the config must be a mapping")
    for name, (where, _) in sections.items():
        if name not in SECTIONS:
            reader.problem(where, name, "unknown section", did_you_mean(name, SECTIONS))
    if "schema" in sections and sections["schema"][1].value != SCHEMA_ID:
        node = sections["schema"][1]
        reader.problem(node.where, "schema", f"unsupported schema {node.value!r}", f"expected {SCHEMA_ID!r}")

    def section(name: str) -> Located | None:
        return sections[name][1] if name in sections else None

    templates_node, state_node, roots_node = section("templates"), section("state"), section("roots")
    templates = reader.path_value(templates_node, "templates") if templates_node else path.parent / "templates"
    state = reader.path_value(state_node, "state") if state_node else path.parent / ".bifrost"
    roots = reader.roots(roots_node) if roots_node else {}
    scan = reader.scan(section("scan"))
    edit = reader.edit(section("edit"))
    nodes = {name: found for name in ("daemon", "mirror") if (found := section(name)) is not None}
    config = Config(
        path=path,
        templates=templates or path.parent / "templates",
        state_dir=state or path.parent / ".bifrost",
        root_overrides=roots,
        root_wheres=reader.root_wheres,
        scan=scan,
        edit=edit,
        daemon=(nodes["daemon"].plain() if "daemon" in nodes else None) or {},
        mirror=(nodes["mirror"].plain() if "mirror" in nodes else None) or {},
        nodes=nodes,
    )
    return config, reader.problems
