"""Reading template set files into :class:`Declarations`, collecting every problem.

The loader never stops at the first problem: an admin editing templates wants
the whole list, each naming file, line, column and key, with a "did you mean"
for misspelt names. Semantic checks that need the whole set (references,
cycles, unused keys, overlaps) live in :mod:`.check`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .keys import CHARS_REGEX, Key, KeyType, unsafe_reason
from .notations import FRAME_NOTATIONS, UDIM_NOTATIONS
from .pattern import MAX_PADDING, PatternSyntaxError, tokenize
from .readings import ReadingRule
from .source import Located, SourceProblem, Where, did_you_mean, read_yaml
from .spec import OS_NAMES, SCHEMA_ID, Declarations, EntityKind, Root, TemplateDef

SECTIONS = ("schema", "include", "readings", "roots", "keys", "entities", "templates")
COMMON_KEY_OPTIONS = ("type", "alias", "default", "description")
KEY_OPTIONS: dict[KeyType, tuple[str, ...]] = {
    KeyType.STR: (*COMMON_KEY_OPTIONS, "pattern", "chars", "choices", "case"),
    KeyType.INT: (*COMMON_KEY_OPTIONS, "padding", "strict", "min", "max"),
    KeyType.FRAME: (*COMMON_KEY_OPTIONS, "padding", "strict", "min", "max", "notations"),
    KeyType.UDIM: (*COMMON_KEY_OPTIONS, "notations"),
}
TEMPLATE_OPTIONS = ("path", "root", "entity", "priority", "description", "readings", "skeleton", "mode", "group")
ENTITY_OPTIONS = ("keys", "parent", "parents")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: A folder mode: permission bits with setuid/setgid/sticky, e.g. '2775' or '0750'.
_MODE = re.compile(r"[0-7]{3,4}\Z")
#: A group name as POSIX tools accept it (no spaces, ':', '/' or leading '-').
_NAME_OF_GROUP = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*\$?\Z")


class _Reader:
    """Accumulates declarations and problems over the files of one set."""

    def __init__(self) -> None:
        self.decl = Declarations()
        self.problems: list[SourceProblem] = []
        self._entities_declared = False

    def problem(self, where: Where, key: str, message: str, hint: str = "", code: str = "invalid") -> None:
        self.problems.append(SourceProblem(where, key, message, hint, code))

    # -- files ----------------------------------------------------------------
    def read_file(self, path: Path, seen: set[Path]) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        self.decl.files.append(str(path))
        tree, problems = read_yaml(path)
        self.problems.extend(problems)
        if tree is None:
            self.decl.unread.append(str(path))
            return
        if not isinstance(tree.value, dict):
            self.problem(tree.where, "", "a template file must be a mapping of sections", f"sections: {', '.join(SECTIONS)}")
            self.decl.unread.append(str(path))
            return
        self._read_sections(path, tree, seen)

    def _read_sections(self, path: Path, tree: Located, seen: set[Path]) -> None:
        sections = tree.value
        for name, (where, _) in sections.items():
            if name not in SECTIONS:
                self.problem(where, name, "unknown section", did_you_mean(name, SECTIONS), code="unknown-section")
        if "schema" in sections:
            where, value = sections["schema"]
            if value.value != SCHEMA_ID:
                self.problem(value.where, "schema", f"unsupported schema {value.value!r}", f"expected {SCHEMA_ID!r}")
        readers = (("roots", self._roots), ("keys", self._keys), ("entities", self._entities), ("templates", self._templates))
        for name, reader in readers:
            if name in sections:
                reader(sections[name][1])
        if "readings" in sections:
            self._set_rule(sections["readings"][1])
        if "include" in sections:
            self._includes(path, sections["include"][1], seen)

    def _set_rule(self, node: Located) -> None:
        rule = self._rule(node, "readings")
        if rule is None:
            return
        earlier = self.decl.readings_where
        if earlier is not None and self.decl.readings is not rule:
            self.problem(node.where, "readings", f"the set's rule is already {self.decl.readings.value!r} "  # type: ignore[union-attr]
                         f"(at {earlier})", "declare it once, or per template", code="duplicate-name")
            return
        self.decl.readings, self.decl.readings_where = rule, node.where

    def _rule(self, node: Located, full: str) -> ReadingRule | None:
        """A reading rule (``refuse``, ``longest-first``, ``shortest-first``), or None after reporting why not."""
        names = [rule.value for rule in ReadingRule]
        try:
            return ReadingRule(node.value)
        except ValueError:
            hint = did_you_mean(str(node.value), names) or f"one of {', '.join(names)}"
            self.problem(node.where, full, f"unknown reading rule {node.value!r}", hint)
            return None

    def _includes(self, path: Path, node: Located, seen: set[Path]) -> None:
        items = node.value if isinstance(node.value, list) else [node]
        for item in items:
            if not isinstance(item.value, str):
                self.problem(item.where, "include", "an include is a file path")
                continue
            target = (path.parent / item.value)
            if not target.is_file():
                self.problem(item.where, "include", f"included file {item.value!r} not found")
                continue
            self.read_file(target, seen)

    def _mapping(self, node: Located, section: str) -> dict[str, tuple[Where, Located]]:
        if isinstance(node.value, dict):
            return node.value
        if node.value is not None:
            self.problem(node.where, section, "must be a mapping")
        return {}

    def _check_name(self, where: Where, section: str, name: str) -> bool:
        if _NAME.match(name):
            return True
        self.problem(where, f"{section}.{name}", "names are letters, digits and '_', not starting with a digit")
        return False

    def _duplicate(self, table: dict[str, Any], name: str, where: Where, section: str) -> bool:
        if name not in table:
            return False
        first = table[name].where
        self.problem(where, f"{section}.{name}", f"already defined at {first}", code="duplicate-name")
        return True

    # -- roots ----------------------------------------------------------------
    def _roots(self, node: Located) -> None:
        for name, (where, value) in self._mapping(node, "roots").items():
            if not self._check_name(where, "roots", name) or self._duplicate(self.decl.roots, name, where, "roots"):
                continue
            paths, problems = root_paths(name, value)
            self.problems.extend(problems)
            self.decl.roots[name] = Root(name, paths, where)

    # -- keys -----------------------------------------------------------------
    def _keys(self, node: Located) -> None:
        for name, (where, value) in self._mapping(node, "keys").items():
            if not self._check_name(where, "keys", name) or self._duplicate(self.decl.keys, name, where, "keys"):
                continue
            key = self._key(name, where, value)
            if key is not None:
                self.decl.keys[name] = key
            else:
                self.decl.invalid_keys.add(name)

    def _key(self, name: str, where: Where, node: Located) -> Key | None:
        path = f"keys.{name}"
        options = {"type": (node.where, node)} if isinstance(node.value, str) else self._mapping(node, path)
        if "type" not in options:
            self.problem(where, path, "a key needs a type", f"one of {', '.join(t.value for t in KeyType)}")
            return None
        type_node = options["type"][1]
        try:
            key_type = KeyType(type_node.value)
        except ValueError:
            hint = did_you_mean(str(type_node.value), [t.value for t in KeyType]) or f"one of {', '.join(t.value for t in KeyType)}"
            self.problem(type_node.where, f"{path}.type", f"unknown key type {type_node.value!r}", hint)
            return None
        allowed = KEY_OPTIONS[key_type]
        values: dict[str, Any] = {}
        for option, (opt_where, opt_value) in options.items():
            if option not in allowed:
                self.problem(opt_where, f"{path}.{option}", f"unknown option for a {key_type.value} key",
                             did_you_mean(option, allowed) or f"options: {', '.join(allowed)}", code="unknown-option")
                continue
            values[option] = opt_value
        return self._build_key(name, key_type, where, values)

    def _build_key(self, name: str, key_type: KeyType, where: Where, values: dict[str, Located]) -> Key | None:
        path = f"keys.{name}"
        kwargs: dict[str, Any] = {}
        ok = True
        for option, node in values.items():
            converted = self._key_option(path, key_type, option, node)
            if converted is _INVALID:
                ok = False
            elif option != "type":
                kwargs[option] = converted
        if "chars" in kwargs and "pattern" in kwargs:
            self.problem(values["chars"].where, f"{path}.chars", "a key takes chars or a pattern, not both",
                         "keep one of them")
            ok = False
        if not ok:
            return None
        alias = kwargs.pop("alias", None)
        choices = kwargs.pop("choices", ((), {}))
        if key_type in (KeyType.INT, KeyType.FRAME):
            kwargs.setdefault("padding", 4 if key_type is KeyType.FRAME else 0)
        kwargs["minimum"] = kwargs.pop("min", None)
        kwargs["maximum"] = kwargs.pop("max", None)
        low, high = kwargs["minimum"], kwargs["maximum"]
        if low is not None and high is not None and low > high:
            self.problem(values["min"].where, f"{path}.min", f"min {low} is above max {high}", "no value could be written")
            return None
        key = Key(name=name, type=key_type, field=alias or name, where=where,
                  choices=choices[0], labels=choices[1], **kwargs)
        self._check_default(path, key, values.get("default"))
        return key

    def _key_option(self, path: str, key_type: KeyType, option: str, node: Located) -> Any:
        """The validated value of one key option, or _INVALID after reporting why."""
        full = f"{path}.{option}"
        if option == "pattern":
            return self._pattern_option(full, node)
        if option == "choices":
            return self._choices_option(full, node)
        if option == "default":
            return node.plain()
        if option == "description":
            return str(node.value)
        if option == "notations":
            return self._notations_option(full, key_type, node)
        if option == "chars":
            return self._chars_option(full, node)
        check = _SCALAR_OPTIONS.get(option)
        if check is None:
            return node.value
        problem = check(node.value)
        if problem is None:
            return node.value
        message, hint = problem
        self.problem(node.where, full, message, hint)
        return _INVALID

    def _pattern_option(self, full: str, node: Located) -> Any:
        value = node.value
        if not isinstance(value, str) or not value:
            self.problem(node.where, full, "a pattern is a non-empty regular expression")
            return _INVALID
        try:
            compiled = re.compile(f"(?:{value})", re.ASCII)  # as it is embedded in template regexes
        except re.error as exc:
            hint = "use a scoped flag group such as (?i:...)" if "global flags" in exc.msg else ""
            position = f" at position {exc.pos - 3}" if exc.pos is not None and exc.pos >= 3 else ""
            self.problem(node.where, full, f"invalid regular expression: {exc.msg}{position}", hint,
                         code="invalid-regex")
            return _INVALID
        if compiled.groups:
            self.problem(node.where, full, "a key pattern must not contain capturing groups", "use (?:...) instead")
            return _INVALID
        return value

    def _chars_option(self, full: str, node: Located) -> Any:
        if node.value in CHARS_REGEX:
            return node.value
        hint = did_you_mean(str(node.value), CHARS_REGEX) or f"one of {', '.join(CHARS_REGEX)}"
        self.problem(node.where, full, f"unknown character set {node.value!r}", hint)
        return _INVALID

    def _notations_option(self, full: str, key_type: KeyType, node: Located) -> Any:
        allowed = UDIM_NOTATIONS if key_type is KeyType.UDIM else FRAME_NOTATIONS
        plain = node.plain()
        if not isinstance(plain, list) or not plain:
            self.problem(node.where, full, "notations are a non-empty list", f"choose from {', '.join(allowed)}")
            return _INVALID
        for name in plain:
            if name not in allowed:
                hint = did_you_mean(str(name), allowed) or f"choose from {', '.join(allowed)}"
                self.problem(node.where, full, f"unknown notation {name!r}", hint)
                return _INVALID
        return tuple(plain)

    def _choices_option(self, full: str, node: Located) -> Any:
        plain = node.plain()
        if isinstance(plain, list):
            labels: dict[str, str] = {}
            items = plain
        elif isinstance(plain, dict):
            labels = {str(k): str(v) for k, v in plain.items()}
            items = list(plain)
        else:
            self.problem(node.where, full, "choices are a list of values or a mapping of value to label")
            return _INVALID
        choices = tuple(str(item) for item in items)
        for choice in choices:
            reason = unsafe_reason(choice) if choice else "is empty"
            if reason:
                self.problem(node.where, full, f"choice {choice!r} {reason}")
                return _INVALID
        if not choices:
            self.problem(node.where, full, "choices must not be empty")
            return _INVALID
        return choices, labels

    def _check_default(self, path: str, key: Key, node: Located | None) -> None:
        if node is None or key.default is None:
            return
        from ..errors import FieldValueError

        try:
            key.render(key.default)
        except FieldValueError as exc:
            self.problem(node.where, f"{path}.default", str(exc))

    # -- entities ---------------------------------------------------------------
    def _entities(self, node: Located) -> None:
        self._entities_declared = True
        for name, (where, value) in self._mapping(node, "entities").items():
            if not self._check_name(where, "entities", name) or self._duplicate(self.decl.entities, name, where, "entities"):
                continue
            options = self._mapping(value, f"entities.{name}")
            for option, (opt_where, _) in options.items():
                if option not in ENTITY_OPTIONS:
                    self.problem(opt_where, f"entities.{name}.{option}", "unknown option",
                                 did_you_mean(option, ENTITY_OPTIONS) or f"options: {', '.join(ENTITY_OPTIONS)}", code="unknown-option")
            keys = self._name_list(options.get("keys"), f"entities.{name}.keys")
            parents = self._name_list(options.get("parents") or options.get("parent"), f"entities.{name}.parents")
            if not keys:
                self.problem(where, f"entities.{name}", "an entity kind needs at least one key")
                continue
            self.decl.entities[name] = EntityKind(name, keys, parents, where)

    def _name_list(self, entry: tuple[Where, Located] | None, full: str) -> tuple[str, ...]:
        if entry is None:
            return ()
        plain = entry[1].plain()
        items = plain if isinstance(plain, list) else [plain]
        if not all(isinstance(item, str) for item in items):
            self.problem(entry[1].where, full, "must be a name or a list of names")
            return ()
        return tuple(items)

    # -- templates ---------------------------------------------------------------
    def _templates(self, node: Located) -> None:
        for name, (where, value) in self._mapping(node, "templates").items():
            if not self._check_name(where, "templates", name) or self._duplicate(self.decl.templates, name, where, "templates"):
                continue
            template = self._template(name, where, value)
            if template is not None:
                self.decl.templates[name] = template

    def _template(self, name: str, where: Where, node: Located) -> TemplateDef | None:
        path = f"templates.{name}"
        options = {"path": (node.where, node)} if isinstance(node.value, str) else self._mapping(node, path)
        for option, (opt_where, _) in options.items():
            if option not in TEMPLATE_OPTIONS:
                self.problem(opt_where, f"{path}.{option}", "unknown option",
                             did_you_mean(option, TEMPLATE_OPTIONS) or f"options: {', '.join(TEMPLATE_OPTIONS)}", code="unknown-option")
        if "path" not in options:
            self.problem(where, path, "a template needs a path")
            return None
        pattern_node = options["path"][1]
        pattern = pattern_node.value
        if not isinstance(pattern, str) or not pattern:
            self.problem(pattern_node.where, f"{path}.path", "a path is a non-empty string")
            return None
        try:
            tokens = tokenize(pattern)
        except PatternSyntaxError as exc:
            self.problem(_shift(pattern_node.where, exc.offset), f"{path}.path", str(exc), code="pattern-syntax")
            return None
        extra = {opt: options[opt][1] for opt in ("root", "entity", "priority", "description") if opt in options}
        priority = extra["priority"].value if "priority" in extra else 0
        if isinstance(priority, bool) or not isinstance(priority, int):
            self.problem(extra["priority"].where, f"{path}.priority", "must be an integer")
            priority = 0
        rule = self._rule(options["readings"][1], f"{path}.readings") if "readings" in options else None
        folder = self._folder_options(path, options)
        return TemplateDef(
            name=name,
            root=str(extra["root"].value) if "root" in extra else "",
            pattern=pattern,
            tokens=tokens,
            where=pattern_node.where,
            entity=str(extra["entity"].value) if "entity" in extra else None,
            priority=priority,
            description=str(extra["description"].value) if "description" in extra else "",
            rule=rule,
            **folder,
        )

    def _folder_options(self, path: str, options: dict[str, tuple[Where, Located]]) -> dict[str, Any]:
        """``skeleton``, ``mode`` and ``group`` of a template, valid ones only (the others reported)."""
        out: dict[str, Any] = {}
        if "skeleton" in options:
            node = options["skeleton"][1]
            if isinstance(node.value, bool):
                out["skeleton"] = node.value
            else:
                self.problem(node.where, f"{path}.skeleton", "must be true or false")
        if "mode" in options:
            node = options["mode"][1]
            if isinstance(node.value, str) and _MODE.match(node.value):
                out["mode"] = int(node.value, 8)
            else:
                self.problem(node.where, f"{path}.mode", "a folder mode is octal digits in quotes, e.g. '2775'",
                             "quote it: YAML reads 2775 as a decimal number and 02775 as octal")
        if "group" in options:
            node = options["group"][1]
            if isinstance(node.value, str) and _NAME_OF_GROUP.match(node.value):
                out["group"] = node.value
            else:
                self.problem(node.where, f"{path}.group", "a group is a group name, e.g. cg")
        return out


_INVALID = object()


def root_paths(name: str, node: Located) -> tuple[dict[str, str], list[SourceProblem]]:
    """A root's path per OS, from one path for every OS or a mapping ``{linux: ..., windows: ...}``.

    Shared by template files and the studio config's root overrides.
    """
    if node.value == "":
        return {}, [SourceProblem(node.where, f"roots.{name}", "a root path is a non-empty string")]
    if isinstance(node.value, str):
        return {os_name: node.value for os_name in OS_NAMES}, []
    if not isinstance(node.value, dict):
        return {}, [SourceProblem(node.where, f"roots.{name}", "must be a path or a mapping of OS to path")]
    paths: dict[str, str] = {}
    problems: list[SourceProblem] = []
    for os_name, (os_where, path) in node.value.items():
        key = f"roots.{name}.{os_name}"
        if os_name not in OS_NAMES:
            hint = did_you_mean(os_name, OS_NAMES) or f"use {', '.join(OS_NAMES)}"
            problems.append(SourceProblem(os_where, key, "unknown operating system", hint, code="unknown-option"))
        elif not isinstance(path.value, str) or not path.value:
            problems.append(SourceProblem(path.where, key, "a root path is a non-empty string"))
        else:
            paths[os_name] = path.value
    return paths, problems


def _integer(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else ("must be an integer", "")


def _padding(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PADDING
    return None if ok else (f"must be an integer from 0 to {MAX_PADDING}", "")


def _boolean(value: Any) -> tuple[str, str] | None:
    return None if isinstance(value, bool) else ("must be true or false", "")


def _case(value: Any) -> tuple[str, str] | None:
    if value in ("lower", "upper"):
        return None
    return f"unknown case {value!r}", did_you_mean(str(value), ["lower", "upper"]) or "lower or upper"


def _alias(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, str) and _NAME.match(value) is not None
    return None if ok else ("an alias is a field name", "")


#: Scalar key options: a check returning (message, hint) for a bad value, or None.
_SCALAR_OPTIONS = {"padding": _padding, "min": _integer, "max": _integer, "strict": _boolean, "case": _case, "alias": _alias}


def _shift(where: Where, offset: int) -> Where:
    """The position of character ``offset`` of a (possibly quoted) scalar."""
    return Where(where.file, where.line, where.column + offset)


def template_files(location: Path) -> list[Path]:
    """The YAML files of a template set: a file, or every *.yaml/*.yml in a folder."""
    if location.is_dir():
        return sorted(p for p in location.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [location]


def read_declarations(location: Path) -> tuple[Declarations, list[SourceProblem], bool]:
    """Read a template set; returns declarations, problems, and whether entities were declared."""
    reader = _Reader()
    seen: set[Path] = set()
    files = template_files(location)
    if not files:
        reader.problem(Where(str(location), 1, 1), "", "no template files (*.yaml) found", code="unreadable")
    for path in files:
        if not path.exists():
            reader.problem(Where(str(path), 1, 1), "", "template file not found", code="unreadable")
            continue
        reader.read_file(path, seen)
    return reader.decl, reader.problems, reader._entities_declared
