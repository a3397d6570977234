"""YAML documents with positions: every value remembers its file, line and column.

Template sets and studio configs are edited by hand, so every problem found in
them must point at the offending line. PyYAML's composer gives node marks; this
module turns a node tree into plain Python values wrapped in :class:`Located`
and reports YAML-level problems (syntax, tabs, duplicate keys) as
:class:`Problem` values instead of raising.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

try:  # the C loader composes several times faster; fall back to pure Python
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a YAML source: where, which key, what, and a hint."""

    where: Where
    key: str
    message: str
    hint: str = ""
    code: str = "invalid"

    def __str__(self) -> str:
        text = f"{self.where}: {self.key}: {self.message}" if self.key else f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.where.file,
            "line": self.where.line,
            "column": self.where.column,
            "key": self.key,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class Located:
    """A YAML value with the position of its node.

    Mappings hold ``dict[str, tuple[Where, Located]]`` (the key's position and
    the value), sequences hold ``list[Located]``, scalars hold Python values.
    """

    value: Any
    where: Where

    def plain(self) -> Any:
        """The value with positions stripped, recursively."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, (_, v) in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A "did you mean ...?" hint for a misspelt name, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _where(file: str, node: yaml.Node) -> Where:
    mark = node.start_mark
    return Where(file, mark.line + 1, mark.column + 1)


def _scalar(node: yaml.ScalarNode) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _convert(file: str, node: yaml.Node, problems: list[Problem], path: str) -> Located:
    where = _where(file, node)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, tuple[Where, Located]] = {}
        for key_node, value_node in node.value:
            key_where = _where(file, key_node)
            if key_node.tag == MERGE_TAG:
                problems.append(Problem(key_where, path or "<<", "YAML merge keys (<<) are not supported",
                                        "write the options out", code="syntax"))
                continue
            key_value = _checked_scalar(file, key_node, problems, path) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key_value is _UNSUPPORTED:
                continue
            key = str(key_value)
            full = f"{path}.{key}" if path else key
            if key in out:
                first = out[key][0]
                problems.append(
                    Problem(key_where, full, f"duplicate key (first defined at line {first.line})", code="duplicate-key")
                )
                continue
            out[key] = (key_where, _convert(file, value_node, problems, full))
        return Located(out, where)
    if isinstance(node, yaml.SequenceNode):
        return Located([_convert(file, n, problems, f"{path}[{i}]") for i, n in enumerate(node.value)], where)
    value = _checked_scalar(file, node, problems, path)
    return Located(None if value is _UNSUPPORTED else value, where)


MERGE_TAG = "tag:yaml.org,2002:merge"
_UNSUPPORTED = object()


def _checked_scalar(file: str, node: yaml.Node, problems: list[Problem], path: str) -> Any:
    """A scalar's value; a tag that can't be constructed (``!foo``, ``!!python/...``) is a problem."""
    try:
        return _scalar(node)
    except yaml.YAMLError:
        problems.append(Problem(_where(file, node), path, f"unsupported YAML tag {node.tag!r}",
                                "remove the tag; template files use plain YAML", code="syntax"))
        return _UNSUPPORTED


def _tab_problems(file: str, text: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        column = line.find("\t")
        if column >= 0:
            problems.append(
                Problem(Where(file, number, column + 1), "", "tab character", "indent with spaces", code="tab")
            )
    return problems


def parse_yaml(text: str, file: str) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML document; return its located tree and the problems found."""
    problems = _tab_problems(file, text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(file, mark.line + 1, mark.column + 1) if mark else Where(file, 1, 1)
        if not any(p.where.line == where.line for p in problems):  # a tab there: already said, and why
            problems.append(Problem(where, "", f"YAML syntax error: {exc.problem}", code="syntax"))
        return None, problems
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        problems.append(Problem(Where(file, 1, 1), "", f"YAML error: {exc}", code="syntax"))
        return None, problems
    if node is None:
        return Located({}, Where(file, 1, 1)), problems
    return _convert(file, node, problems, ""), problems


def read_yaml(path: Path) -> tuple[Located | None, list[Problem]]:
    """Read and parse a YAML file; unreadable or non-UTF-8 files become problems."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(Where(file, 1, 1), "", f"not UTF-8 text ({exc.reason})", code="encoding")]
    except OSError as exc:
        return None, [Problem(Where(file, 1, 1), "", f"cannot read: {exc.strerror}", code="unreadable")]
    return parse_yaml(text, file)
