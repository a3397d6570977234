"""A compiled template: one anchored regex to parse a path, and a formatter back.

Compiling happens once per template set. The regex of a template captures the
first occurrence of each field in a named group; a repeated key is matched
with a back-reference, so ``{shot}/.../{shot}_comp.nk`` only matches when both
agree. Where a back-reference can't express the agreement (two keys aliasing
one field, or a first occurrence inside an optional part), the values are
compared after the match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator

from ..errors import FieldValueError
from .fastparse import Parser, specialised_parser
from .keys import CHARS_ASCII_TWINS, Key, KeyType, unsafe_character, unsafe_reason, windows_name_problem
from .pattern import KeyRef, Optional, Text, Token, key_refs
from .readings import ReadingRule, TwoWays, differing_text, one_reading_proven, readings

Converter = Callable[[str], Any]

#: Template regexes use ASCII classes: ``\d`` is 0-9 and ``\w`` is [A-Za-z0-9_], as the overlap
#: proof reads them; a version written in Arabic-Indic or full-width digits is not version 3.
PATTERN_FLAGS = re.ASCII


@dataclass(frozen=True, slots=True)
class Capture:
    """A named group of the regex and the field it fills."""

    group: str
    field: str
    convert: Converter
    check: bool  # compare with an earlier value of the field instead of setting it


def value_converter(key: Key) -> Converter:
    """The parse-direction conversion of a key, rejecting out-of-range values."""
    if key.type is KeyType.STR:
        if key.chars == "any" or (key.pattern and not provably_safe(key.pattern)):
            return _safe_checker(key.case)
        if key.case is None:
            return str
        return _case_checker(key.case)
    if key.minimum is None and key.maximum is None and key.type is not KeyType.UDIM:
        return int if key.type is KeyType.INT else _frame_value
    return _ranged(key)


def _frame_value(text: str) -> int | str:
    """A frame number, or a placeholder such as ``####`` or ``%04d`` kept as text."""
    return int(text) if text[-1].isdigit() and text[0] not in "%$" else text


def _case_checker(case: str) -> Converter:
    def convert(text: str) -> str:
        if (text.lower() if case == "lower" else text.upper()) != text:
            raise ValueError(text)
        return text

    return convert


#: Regex syntax that can only match letters, digits, '_' and '-': such a pattern
#: can't match a separator, a control character or '..', so values need no check.
_SAFE_PATTERN = re.compile(r"(?:\\[dw]|[A-Za-z0-9_\-]|\[(?!\^)(?:\\[dw]|[A-Za-z0-9_\-])+\]|[()?:*+|{},])*\Z")


def provably_safe(pattern: str) -> bool:
    """True if ``pattern`` can only match safe characters (see _SAFE_PATTERN)."""
    return _SAFE_PATTERN.match(pattern) is not None


def _safe_checker(case: str | None) -> Converter:
    cased = _case_checker(case) if case else str

    def convert(text: str) -> str:
        if unsafe_reason(text):
            raise ValueError(text)
        return cased(text)

    return convert


def _ranged(key: Key) -> Converter:
    low = 1001 if key.type is KeyType.UDIM else key.minimum
    high = key.maximum

    def convert(text: str) -> Any:
        value = key.parse(text)
        if isinstance(value, int) and ((low is not None and value < low) or (high is not None and value > high)):
            raise ValueError(text)
        return value

    return convert


@dataclass(slots=True)
class _Builder:
    keys: dict[str, Key]
    parts: list[str] = field(default_factory=list)
    approx: list[str] = field(default_factory=list)
    occurrences: list[str] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    first: dict[str, tuple[str, str, int | None, tuple[int, ...]]] = field(default_factory=dict)
    optional_path: tuple[int, ...] = ()
    counter: int = 0

    def add(self, tokens: tuple[Token, ...]) -> None:
        for token in tokens:
            if isinstance(token, Text):
                self.parts.append(re.escape(token.text))
                self.approx.append(re.escape(token.text))
            elif isinstance(token, KeyRef):
                self._key(token)
            elif isinstance(token, Optional):
                self._optional(token)

    def _optional(self, token: Optional) -> None:
        self.counter += 1
        saved = self.optional_path
        self.optional_path = (*saved, self.counter)
        self.parts.append("(?:")
        self.approx.append("(?:")
        self.add(token.parts)
        self.parts.append(")?")
        self.approx.append(")?")
        self.optional_path = saved

    def _key(self, token: KeyRef) -> None:
        key = self.keys[token.name]
        fragment = key.regex(token.padding)
        self.approx.append(key.regex(token.padding, proof=True))
        self.occurrences.append(key.field)
        earlier = self.first.get(key.field)
        if earlier is not None:
            group, key_name, padding, opt_path = earlier
            same_text = key_name == key.name and padding == token.padding
            if same_text and self.optional_path[: len(opt_path)] == opt_path:
                self.parts.append(f"(?P={group})")
                return
        group = f"g{len(self.captures)}"
        self.parts.append(f"(?P<{group}>{fragment})")
        self.captures.append(Capture(group, key.field, value_converter(key), check=earlier is not None))
        if earlier is None:
            self.first[key.field] = (group, key.name, token.padding, self.optional_path)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledTemplate:
    """A template ready to parse and format paths relative to its root."""

    name: str
    root: str
    pattern: str
    tokens: tuple[Token, ...]
    keys: dict[str, Key]
    #: The anchored regex that parses a root-relative path (see :attr:`regex`).
    source: str
    approx_regex: str
    #: Every key occurrence in its own group, for explaining overlaps (see check.py).
    occurrence_source: str
    occurrence_fields: tuple[str, ...]
    captures: tuple[Capture, ...]
    fields: frozenset[str]
    required: frozenset[str]
    entity: str | None
    priority: int
    description: str
    where: Any
    #: The arguments of a specialised parser (see :mod:`.fastparse`), or () for the general loop.
    simple: tuple[Any, ...] = ()
    #: Proven at compile time that no path reads two ways (see :mod:`.readings`); when False, each
    #: parsed path is checked for a second reading, and ``rule`` says what to do with one.
    single_reading: bool = True
    rule: ReadingRule = ReadingRule.REFUSE
    #: Whether ``create`` makes the folders it fixes (see :mod:`.skeleton`), and the mode and group of
    #: its own folder when it does.
    skeleton: bool = True
    mode: int | None = None
    group: str | None = None
    #: Parses a root-relative path to its fields (None if it does not match).
    #: Matching calls it directly. The regex and parser are built on first use,
    #: so that resolving one path compiles only the templates it is tried against.
    parser: Parser = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parser", self._parse_first)

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.source, PATTERN_FLAGS)

    @property
    def frame_field(self) -> str | None:
        """The field that holds this template's frame number, if it has a frame key."""
        return next((key.field for key in self.keys.values() if key.type is KeyType.FRAME), None)

    def _parse_first(self, relative: str) -> dict[str, Any] | None:
        regex = self.regex
        twin = ascii_twin(self.source)
        ascii_regex = re.compile(twin, PATTERN_FLAGS) if twin is not None else None
        parser: Parser
        if self.simple:
            parser = specialised_parser(self.name, regex, *self.simple, ascii_regex=ascii_regex)
        elif ascii_regex is not None:
            parser = partial(_parse_either, ascii_regex, regex, self.captures)
        else:
            parser = partial(_parse_with_captures, regex, self.captures)
        if not self.single_reading:
            parser = partial(_parse_by_rule if self.rule is not ReadingRule.REFUSE else _parse_refusing_two, self, parser)
        object.__setattr__(self, "parser", parser)  # concurrent first calls build equal parsers
        return parser(relative)

    # -- parse --------------------------------------------------------------------
    def parse(self, relative: str) -> dict[str, Any] | None:
        """The typed fields of a root-relative POSIX path, or None if it does not match."""
        return self.parser(relative)

    def readings(self, relative: str, *, limit: int = 2, rule: ReadingRule = ReadingRule.LONGEST_FIRST) -> list[dict[str, Any]]:
        """The distinct readings of a root-relative path, at most ``limit``, in ``rule``'s order (see :mod:`.readings`)."""
        return readings(self.tokens, self.keys, relative, value_converter, limit=limit, rule=rule)

    # -- format ---------------------------------------------------------------------
    def reject_unknown(self, names: Any) -> None:
        """Raise FieldValueError for a field name this template does not use (a typo would else be ignored)."""
        from .source import did_you_mean

        for name in names:
            if name not in self.fields:
                hint = did_you_mean(name, self.fields) or f"its fields: {', '.join(sorted(self.fields))}"
                raise FieldValueError(f"template {self.name!r} has no field {name!r}; {hint}")

    def format(self, fields: dict[str, Any], *, use_defaults: bool = True) -> str:
        """The root-relative path for ``fields``.

        Optional parts are written when every field in them has a value.
        Raises FieldValueError naming missing fields or an invalid value.
        """
        missing = sorted(self._missing(fields, use_defaults=use_defaults))
        if missing:
            raise FieldValueError(f"template {self.name!r} needs a value for {', '.join(missing)}")
        written: dict[str, Any] = {}
        relative = "".join(self._render(self.tokens, fields, use_defaults, written))
        check_relative(relative)
        self._check_reads_back(relative, written)
        return relative

    def _check_reads_back(self, relative: str, written: dict[str, Any]) -> None:
        """Refuse a path that would not resolve to the fields it was written from.

        ``{name}_{channel}[_{layer}]`` with channel ``ch`` and layer ``la`` writes
        ``n_ch_la``, which reads back as channel ``ch_la``: such a path would
        be catalogued under other fields than the caller's, so it is not written.
        """
        parsed = self.parse(relative)
        if isinstance(parsed, TwoWays):
            raise FieldValueError(
                f"template {self.name!r} would write {relative!r}, which reads two ways: "
                f"{differing_text(*parsed.readings[:2])}; choose values that keep the fields apart, or declare "
                "which reading wins ('readings: longest-first' or 'shortest-first')")
        if parsed != written:
            got = "nothing" if parsed is None else ", ".join(f"{k}={v!r}" for k, v in parsed.items())
            raise FieldValueError(
                f"template {self.name!r} would write {relative!r}, which reads back as {got}; "
                "choose values that keep the fields apart, or make the template's keys unable to share text")

    def _value(self, key: Key, fields: dict[str, Any], use_defaults: bool) -> Any:
        if key.field in fields and fields[key.field] is not None:
            return fields[key.field]
        return key.default if use_defaults else None

    def _missing(self, fields: dict[str, Any], *, use_defaults: bool) -> set[str]:
        missing = set()
        for token in self.tokens:
            if isinstance(token, KeyRef):
                key = self.keys[token.name]
                if self._value(key, fields, use_defaults) is None:
                    missing.add(key.field)
        return missing

    def _render(self, tokens: tuple[Token, ...], fields: dict[str, Any], use_defaults: bool,
                written: dict[str, Any]) -> Iterator[str]:
        """The path's pieces; ``written`` gets each field's typed value as the path will read it."""
        for token in tokens:
            if isinstance(token, Text):
                yield token.text
            elif isinstance(token, KeyRef):
                key = self.keys[token.name]
                text = key.render(self._value(key, fields, use_defaults), token.padding)
                written.setdefault(key.field, key.parse(text))
                yield text
            elif isinstance(token, Optional) and self._optional_present(token, fields):
                yield from self._render(token.parts, fields, use_defaults, written)

    def _optional_present(self, token: Optional, fields: dict[str, Any]) -> bool:
        names = [self.keys[t.name].field for t in key_refs(token.parts)]
        return bool(names) and all(fields.get(name) is not None for name in names)


def _parse_with_captures(regex: re.Pattern[str], captures: tuple[Capture, ...], relative: str) -> dict[str, Any] | None:
    """Parse by converting each captured group, checking repeated fields agree."""
    found = regex.fullmatch(relative)
    if found is None:
        return None
    fields: dict[str, Any] = {}
    try:
        for capture, text in zip(captures, found.groups()):
            if text is None:
                continue
            value = capture.convert(text)
            if capture.check and capture.field in fields:
                if fields[capture.field] != value:
                    return None
            else:
                fields[capture.field] = value
    except ValueError:
        return None
    return fields


def ascii_twin(source: str) -> str | None:
    """``source`` with each Unicode-aware character set in its ASCII form (see keys.CHARS_ASCII_TWINS), or
    None when it holds none: on an all-ASCII path both regexes match alike, the twin about twice as fast."""
    twin = source
    for unicode_set, ascii_set in CHARS_ASCII_TWINS.items():
        twin = twin.replace(unicode_set, ascii_set)
    return twin if twin != source else None


def _parse_either(ascii_regex: re.Pattern[str], regex: re.Pattern[str], captures: tuple[Capture, ...],
                  relative: str) -> dict[str, Any] | None:
    return _parse_with_captures(ascii_regex if relative.isascii() else regex, captures, relative)


def _parse_refusing_two(template: CompiledTemplate, parser: Parser, relative: str) -> dict[str, Any] | None:
    """``parser``'s fields, as :class:`TwoWays` (both readings) when the path has a second reading."""
    fields = parser(relative)
    if fields is None:
        return None
    found = template.readings(relative, limit=2)
    return TwoWays(found) if len(found) > 1 else fields


def _parse_by_rule(template: CompiledTemplate, parser: Parser, relative: str) -> dict[str, Any] | None:
    """The reading the template's rule prefers (the regex tells quickly whether there is any)."""
    if parser(relative) is None:
        return None
    found = template.readings(relative, limit=1, rule=template.rule)
    return found[0] if found else None


def _occurrence_parts(tokens: tuple[Token, ...], keys: dict[str, Key], counter: list[int] | None = None) -> list[str]:
    """Regex parts with every key occurrence in its own group o0, o1, ... (no back-references)."""
    counter = [0] if counter is None else counter
    parts: list[str] = []
    for token in tokens:
        if isinstance(token, Text):
            parts.append(re.escape(token.text))
        elif isinstance(token, KeyRef):
            parts.append(f"(?P<o{counter[0]}>{keys[token.name].regex(token.padding, proof=True)})")
            counter[0] += 1
        elif isinstance(token, Optional):
            parts += ["(?:", *_occurrence_parts(token.parts, keys, counter), ")?"]
    return parts


def compile_template(
    name: str,
    root: str,
    pattern: str,
    tokens: tuple[Token, ...],
    keys: dict[str, Key],
    *,
    entity: str | None = None,
    priority: int = 0,
    description: str = "",
    where: Any = None,
    rule: ReadingRule = ReadingRule.REFUSE,
    skeleton: bool = True,
    mode: int | None = None,
    group: str | None = None,
) -> CompiledTemplate:
    """Compile expanded ``tokens`` (no references left; every key defined)."""
    builder = _Builder(keys)
    builder.add(tokens)
    used = {t.name: keys[t.name] for t in key_refs(tokens)}
    required = frozenset(keys[t.name].field for t in tokens if isinstance(t, KeyRef))
    return CompiledTemplate(
        name=name,
        root=root,
        pattern=pattern,
        tokens=tokens,
        keys=used,
        source="".join(builder.parts),
        approx_regex="".join(builder.approx),
        occurrence_source="".join(_occurrence_parts(tokens, keys)),
        occurrence_fields=tuple(builder.occurrences),
        captures=tuple(builder.captures),
        fields=frozenset(k.field for k in used.values()),
        required=required,
        entity=entity,
        priority=priority,
        description=description,
        where=where,
        simple=_simple_captures(builder.captures, tokens, keys),
        single_reading=one_reading_proven(tokens, keys),
        rule=rule,
        skeleton=skeleton,
        mode=mode,
        group=group,
    )


def _simple_captures(captures: list[Capture], tokens: tuple[Token, ...], keys: dict[str, Key]) -> tuple[Any, ...]:
    """The arguments of a specialised parser, or () if the template needs the general one.

    A specialised parser covers text fields and plain integer/frame fields: a
    frame placeholder (``####``, ``%04d``, ``$F4``) stays text, digits become an
    int. Fields needing a range, case or safety check, or a comparison between
    two groups, take the general path.
    """
    names: list[str] = []
    for capture in captures:
        if capture.check or capture.convert not in (str, int, _frame_value):
            return ()
        names.append(capture.field)
    optional = tuple(sorted(_optional_fields(tokens, keys)))
    integers = tuple(c.field for c in captures if c.convert is int and c.field not in optional)
    numbers = tuple(c.field for c in captures if c.convert is not str and c.field not in integers)
    return tuple(names), integers, numbers, optional


def _optional_fields(tokens: tuple[Token, ...], keys: dict[str, Key]) -> set[str]:
    """Fields that appear only inside optional parts (absent when the part is)."""
    inside = {keys[t.name].field for tok in tokens if isinstance(tok, Optional) for t in key_refs(tok.parts)}
    outside = {keys[t.name].field for t in tokens if isinstance(t, KeyRef)}
    return inside - outside


def static_text_problem(text: str, *, first: bool, last: bool) -> str | None:
    """Why a static part of a template could lead outside its root, or None.

    Only segments wholly inside ``text`` are judged: its first and last pieces
    join key values (which can never be '.' or '..'), unless the text starts
    or ends the pattern.
    """
    if "\\" in text:
        return "contains a backslash; template paths use '/' on every OS"
    pieces = text.split("/")
    whole = pieces[1:-1] + (pieces[:1] if first else []) + (pieces[-1:] if last and len(pieces) > 1 else [])
    if first and last and len(pieces) == 1:
        whole = pieces
    for piece in whole:
        if piece in (".", ".."):
            return f"contains a {piece!r} segment"
    if "//" in text:
        return "contains an empty segment '//'"
    if last and text.endswith("/"):
        return "ends with '/'"
    return unsafe_character(text.replace("/", "").replace(".", ""))


def check_relative(relative: str) -> None:
    """Raise FieldValueError unless ``relative`` stays inside its root and every OS can hold it.

    Values are checked one by one; this also catches names only their
    concatenation forms, such as ``lpt{port}`` with port 1.
    """
    segments = relative.split("/")
    if relative.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise FieldValueError(f"the path {relative!r} would not stay inside its root")
    for segment in segments:
        reason = windows_name_problem(segment)
        if reason:
            raise FieldValueError(f"the path {relative!r} can't be written: its segment {segment!r} {reason}")
