"""YAML documents with positions: every value remembers its file, line and column.

Template sets and studio configs are edited by hand, so every problem found in
them must point at the offending line. PyYAML's composer gives node marks; this
module turns a node tree into plain Python values wrapped in :class:`Located`
and reports YAML-level problems (syntax, tabs, duplicate keys, tags other
than plain YAML's) as :class:`SourceProblem` values instead of raising.

It is the one loader of template files and ``bifrost.yaml``, and it bounds
what a file may cost before building anything from it: its size, how many
values it holds once anchors and aliases are expanded, and how deep they
nest. A few hundred bytes of aliases (the "billion laughs") would otherwise
expand to millions of values, taking minutes and gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

try:  # the C loader composes several times faster; fall back to pure Python
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader


#: Limits on one file, far above any hand-written set or config (the default set's largest file is
#: 4 KB and about 400 values).
MAX_BYTES = 1 << 20
MAX_VALUES = 100_000
MAX_DEPTH = 64
LIMIT_HINT = "write the values out, or use fewer aliases"

#: Tags a value may carry, written or implied: YAML's core schema, and timestamps, which unquoted dates
#: resolve to. Anything else (``!custom``, ``!!python/...``, ``!!binary``, ``!!omap``) is a problem.
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class SourceProblem:
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

    def position(self, keys: Iterable[str], *, key: bool = False) -> Where:
        """Where the value under the mapping keys ``keys`` is written (``key``: where its key is).

        Where the path leaves the tree (an option left out, a scalar where a
        mapping was expected), the key of the last value it reached: a
        missing option is reported where the mapping that lacks it is named.
        """
        node, where, named = self, self.where, self.where
        for name in keys:
            if not isinstance(node.value, dict) or name not in node.value:
                return named
            named, node = node.value[name]
            where = named if key else node.where
        return where


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A "did you mean ...?" hint for a misspelt name, or an empty string."""
    import difflib  # only a problem needs it

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _where(file: str, node: yaml.Node) -> Where:
    mark = node.start_mark
    return Where(file, mark.line + 1, mark.column + 1)


def _scalar(node: yaml.ScalarNode) -> Any:
    # A constructor alone: a whole loader would also set up a parser for every scalar.
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _convert(file: str, node: yaml.Node, problems: list[SourceProblem], path: str) -> Located:
    where = _where(file, node)
    if not isinstance(node, yaml.ScalarNode) and node.tag not in PLAIN_TAGS:
        problems.append(_tag_problem(file, node, path))  # the contents are still read, for their own problems
    if isinstance(node, yaml.MappingNode):
        out: dict[str, tuple[Where, Located]] = {}
        for key_node, value_node in node.value:
            key_where = _where(file, key_node)
            if key_node.tag == MERGE_TAG:
                problems.append(SourceProblem(key_where, path or "<<", "YAML merge keys (<<) are not supported",
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
                    SourceProblem(key_where, full, f"duplicate key (first defined at line {first.line})", code="duplicate-key")
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


def _checked_scalar(file: str, node: yaml.Node, problems: list[SourceProblem], path: str) -> Any:
    """A scalar's value; a tag outside PLAIN_TAGS (``!foo``, ``!!python/...``) is a problem."""
    if node.tag in PLAIN_TAGS:
        try:
            return _scalar(node)
        except yaml.YAMLError:  # '!!int abc'
            pass
    problems.append(_tag_problem(file, node, path))
    return _UNSUPPORTED


def _tag_problem(file: str, node: yaml.Node, path: str) -> SourceProblem:
    return SourceProblem(_where(file, node), path, f"unsupported YAML tag {node.tag!r}",
                   "remove the tag; template files and the config use plain YAML", code="syntax")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _limit_problem(file: str, root: yaml.Node) -> SourceProblem | None:
    """The first limit the document breaks once its aliases are expanded, or None.

    An alias is the very node its anchor names, so the composed document is
    a graph: each node's expanded size and height are computed once, and the
    check costs what the file holds, not what it expands to. An alias inside
    its own anchor makes a cycle, which would expand forever.
    """
    done: dict[int, tuple[int, int]] = {}  # id(collection) -> (values, nesting) once expanded
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)] if not isinstance(root, yaml.ScalarNode) else []
    while stack:  # scalars, most of a file, are counted by their collection and never stacked
        node, depth, leaving = stack.pop()
        if leaving:
            open_nodes.discard(id(node))
            values = nesting = 0
            for child in _children(node):
                if isinstance(child, yaml.ScalarNode):
                    values += 1
                else:
                    child_values, child_nesting = done[id(child)]
                    values, nesting = values + child_values, max(nesting, child_nesting)
            done[id(node)] = (values + 1, nesting + 1)
            if values + 1 > MAX_VALUES:
                return _limit(file, node, f"this value holds {values + 1:,} values once YAML anchors and aliases "
                              f"are expanded; a file may hold at most {MAX_VALUES:,}")
        elif id(node) in open_nodes:
            return _limit(file, node, "a YAML alias refers to the value that contains it")
        elif depth + done.get(id(node), (0, 1))[1] - 1 > MAX_DEPTH:
            return _limit(file, node, f"values nest more than {MAX_DEPTH} levels deep")
        elif id(node) not in done:
            open_nodes.add(id(node))
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in _children(node)
                         if not isinstance(child, yaml.ScalarNode))
    return None


def _limit(file: str, node: yaml.Node, message: str) -> SourceProblem:
    return SourceProblem(_where(file, node), "", message, LIMIT_HINT, code="yaml-limit")


def _too_big(file: str, size: int) -> SourceProblem:
    return SourceProblem(Where(file, 1, 1), "", f"the file is {size:,} bytes; a file may be at most {MAX_BYTES >> 20} MiB",
                   "split it into several files (include:)", code="yaml-limit")


def _tab_problems(file: str, text: str) -> list[SourceProblem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        column = line.find("\t")
        if column >= 0:
            problems.append(
                SourceProblem(Where(file, number, column + 1), "", "tab character", "indent with spaces", code="tab")
            )
    return problems


def parse_yaml(text: str, file: str) -> tuple[Located | None, list[SourceProblem]]:
    """Parse one YAML document; return its located tree and the problems found."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return None, [_too_big(file, size)]
    problems = _tab_problems(file, text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(file, mark.line + 1, mark.column + 1) if mark else Where(file, 1, 1)
        if not any(p.where.line == where.line for p in problems):  # a tab there: already said, and why
            problems.append(SourceProblem(where, "", f"YAML syntax error: {exc.problem}", code="syntax"))
        return None, problems
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        problems.append(SourceProblem(Where(file, 1, 1), "", f"YAML error: {exc}", code="syntax"))
        return None, problems
    if node is None:
        return Located({}, Where(file, 1, 1)), problems
    limit = _limit_problem(file, node)
    if limit is not None:
        return None, [*problems, limit]
    return _convert(file, node, problems, ""), problems


def read_yaml(path: Path) -> tuple[Located | None, list[SourceProblem]]:
    """Read and parse a YAML file; unreadable or non-UTF-8 files become problems."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [_too_big(file, size)]
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [SourceProblem(Where(file, 1, 1), "", f"not UTF-8 text ({exc.reason})", code="encoding")]
    except OSError as exc:
        return None, [SourceProblem(Where(file, 1, 1), "", f"cannot read: {exc.strerror}", code="unreadable")]
    return parse_yaml(text, file)
