"""Proving a template set free of overlaps, and key patterns free of unsafe values.

Two templates overlap when some path matches both. Rather than sampling paths,
each template's regex is turned into a finite automaton and the product of two
automata is tested for emptiness: an empty product is a proof that no path
matches both; a non-empty one yields a shortest example path, which is then
confirmed against both real templates. Templates are only compared when their
roots, segment counts and extensions allow a common path, and most pairs are
told apart one folder at a time before any whole automaton is built: no
value holds '/', so two templates with as many segments share a path only if
every pair of segments shares a text, and one pair of different static names
or of disjoint segment automata (small, and shared by many templates) proves
the pair disjoint.

Repeated keys (``{shot}`` in a folder and in a file name) are back-references
in the real regex but not in the automaton, so the automaton over-approximates:
an empty product still proves disjointness; a witness that fails confirmation
is reported as a possible overlap, with the example.

An overlap is allowed when the two templates have different priorities: the
set then says explicitly which one wins.

Building the automata is most of the cost. A :class:`ProofCache` passed from one check to the next keeps each
template's automaton by its regex, and the pairs already proven disjoint,
so checking an edit re-proves only the pairs whose templates changed.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Iterator

from ..errors import FieldValueError
from .compiled import PATTERN_FLAGS, CompiledTemplate, provably_safe
from .keys import KeyType, unsafe_reason
from .pattern import KeyRef, Optional, Text, Token, key_refs
from .readings import ReadingRule, all_text, differing_text, may_hold, piece_proven, pieces, segments
from .shape import Shape
from .source import SourceProblem
from .templateset import TemplateSet, build_template_set

#: A regex for text no field value may contain (mirrors keys.unsafe_reason): a separator, a drive's ':',
#: '..', a control character, a lone '.', or a trailing '.' or space, which Windows drops. Device names
#: (con, nul) are words any letter pattern admits, so values are checked for them one by one instead.
_UNSAFE_TEXT = r".*(/|\\|:|\.\.|[\x00-\x1f\x7f]).*|\.|.*[. ]"
_NICE = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-."


def _fsm(regex: str) -> Any:
    import interegular

    return interegular.parse_pattern(regex).to_fsm()


def _symbol_chars(fsm: Any) -> dict[Any, str]:
    """One representative character for each transition symbol of ``fsm``."""
    from interegular.fsm import anything_else

    explicit: set[str] = set()
    chars: dict[Any, str] = {}
    for char, symbol in fsm.alphabet.items():
        if char is anything_else:
            continue
        explicit.add(char)
        current = chars.get(symbol)
        if current is None or _rank(char) < _rank(current):
            chars[symbol] = char
    if anything_else in fsm.alphabet:
        spare = next((c for c in _NICE + "~!" if c not in explicit), "\u00e9")
        chars.setdefault(fsm.alphabet[anything_else], spare)
    return chars


def _rank(char: str) -> int:
    index = _NICE.find(char)
    return index if index >= 0 else len(_NICE) + ord(char)


def shortest_example(fsm: Any) -> str | None:
    """A shortest string accepted by ``fsm``, or None if it accepts nothing."""
    chars = _symbol_chars(fsm)
    previous: dict[Any, tuple[Any, str] | None] = {fsm.initial: None}
    queue = deque([fsm.initial])
    while queue:
        state = queue.popleft()
        if state in fsm.finals:
            return _path_to(previous, state)
        for symbol, target in sorted(fsm.map.get(state, {}).items(), key=lambda item: _rank(chars.get(item[0], "~"))):
            if target not in previous and symbol in chars:
                previous[target] = (state, chars[symbol])
                queue.append(target)
    return None


def _path_to(previous: dict[Any, tuple[Any, str] | None], state: Any) -> str:
    out: list[str] = []
    step = previous[state]
    while step is not None:
        state, char = step
        out.append(char)
        step = previous[state]
    return "".join(reversed(out))


def _shapes_meet(a: Shape, b: Shape) -> bool:
    counts = a.counts is None or b.counts is None or bool(a.counts & b.counts)
    exts = a.extensions is None or b.extensions is None or bool(a.extensions & b.extensions)
    return counts and exts


class ProofCache:
    """What one overlap proof learnt that the next may reuse: automata by regex, and disjoint regex pairs.

    Both depend only on the regexes, never on names, files or priorities,
    so a hit is as good as a proof. :meth:`keep` drops what the set just
    checked no longer uses, so following edits never grows it without bound.
    """

    def __init__(self) -> None:
        self.fsms: dict[str, Any] = {}  # regex -> automaton, or the exception that refused it
        self.disjoint: set[tuple[str, str]] = set()

    def fsm(self, regex: str) -> Any:
        if regex not in self.fsms:
            try:
                self.fsms[regex] = _fsm(regex)
            except Exception as exc:  # interegular rejects some regex syntax
                self.fsms[regex] = exc
        return self.fsms[regex]

    def keep(self, regexes: set[str]) -> None:
        self.fsms = {r: f for r, f in self.fsms.items() if r in regexes}
        self.disjoint = {p for p in self.disjoint if p[0] in regexes and p[1] in regexes}


class _Overlaps:
    def __init__(self, template_set: TemplateSet, proofs: ProofCache) -> None:
        self.ts = template_set
        self.proofs = proofs
        self.refused: set[str] = set()
        self.problems: list[SourceProblem] = []

    def fsm(self, template: CompiledTemplate) -> Any | None:
        found = self.proofs.fsm(template.approx_regex)
        if not isinstance(found, Exception):
            return found
        if template.name not in self.refused:
            self.refused.add(template.name)
            self.problems.append(SourceProblem(
                template.where, f"templates.{template.name}",
                f"the overlap proof can't analyse this template's patterns ({type(found).__name__}: {found})",
                "simplify the key patterns (no look-arounds or back-references)", code="unprovable",
            ))
        return None

    def pair(self, a: CompiledTemplate, b: CompiledTemplate) -> None:
        if a.priority != b.priority or not _shapes_meet(self.ts.shapes[a.name], self.ts.shapes[b.name]):
            return
        key = (min(a.approx_regex, b.approx_regex), max(a.approx_regex, b.approx_regex))
        if key in self.proofs.disjoint:
            return
        if self._disjoint_segment(segment_regexes(a), segment_regexes(b)):
            self.proofs.disjoint.add(key)
            return
        shared = _shared_example(a, b)
        if shared is not None:  # a real path both match: no automaton needed to show it
            self._report(a, b, shared, confirmed=True)
            return
        fa, fb = self.fsm(a), self.fsm(b)
        if fa is None or fb is None:
            return
        product = fa & fb
        if product.empty():
            self.proofs.disjoint.add(key)
            return
        example = shortest_example(product)
        if example is not None and not _both(a, b, example):
            example = _harmonise(b, _harmonise(a, example, a, b), a, b)
        self._report(a, b, example, confirmed=example is not None and _both(a, b, example))

    def _report(self, a: CompiledTemplate, b: CompiledTemplate, example: str | None, *, confirmed: bool) -> None:
        first, second = sorted((a, b), key=lambda t: (t.where.file, t.where.line))
        verb = "match" if confirmed else "may match (ignoring repeated keys)"
        self.problems.append(SourceProblem(
            second.where, f"templates.{second.name}",
            f"overlaps template {first.name!r} ({first.where}): both {verb} {example!r}",
            "make the patterns disjoint, or give one a higher priority", code="overlap",
        ))

    def _disjoint_segment(self, a: tuple[Segment, ...] | None, b: tuple[Segment, ...] | None) -> bool:
        """True if the templates split into as many segments, and at some index no text matches both.

        No value holds '/', so a path matching both templates matches both
        segment by segment: one disjoint pair of segments is a proof. Segments
        are small and shared by many templates (a folder), so their automata
        are cheap and cached; two different static names need none.
        """
        if a is None or b is None or len(a) != len(b):
            return False
        differing = [(x, y) for x, y in zip(a, b) if x.regex != y.regex]
        if any(x.static and y.static for x, y in differing):
            return True
        for x, y in differing:
            key = (min(x.regex, y.regex), max(x.regex, y.regex))
            if key in self.proofs.disjoint:
                return True
            fx, fy = self.proofs.fsm(x.regex), self.proofs.fsm(y.regex)
            if isinstance(fx, Exception) or isinstance(fy, Exception):
                continue
            if (fx & fy).empty():
                self.proofs.disjoint.add(key)
                return True
        return False


@dataclass(frozen=True, slots=True)
class Segment:
    """The regex of one '/'-separated segment of a template, keys as their patterns (no back-references)."""

    regex: str
    static: bool


def segment_regexes(template: CompiledTemplate) -> tuple[Segment, ...] | None:
    """Each segment's regex, or None when the number of segments varies (an optional part spans a '/')."""
    split = segments(template.tokens)
    if split is None:
        return None
    return tuple(Segment("".join(_regex_parts(segment, template)), all(isinstance(t, Text) for t in segment))
                 for segment in split)


def _regex_parts(tokens: tuple[Token, ...], template: CompiledTemplate) -> list[str]:
    parts: list[str] = []
    for token in tokens:
        if isinstance(token, Text):
            parts.append(re.escape(token.text))
        elif isinstance(token, KeyRef):
            parts.append(template.keys[token.name].regex(token.padding, proof=True))
        elif isinstance(token, Optional):
            parts += ["(?:", *_regex_parts(token.parts, template), ")?"]
    return parts


#: Paths of each template tried against the other before the automata of an overlap are built.
_MAX_SHARED_EXAMPLES = 16


def _shared_example(a: CompiledTemplate, b: CompiledTemplate) -> str | None:
    """A path both templates match, from small values written through each; None proves nothing."""
    for one, other in ((a, b), (b, a)):
        for path in example_paths(one, _MAX_SHARED_EXAMPLES):
            if other.parse(path) is not None and one.parse(path) is not None:
                return path
    return None


def _both(a: CompiledTemplate, b: CompiledTemplate, path: str) -> bool:
    return a.parse(path) is not None and b.parse(path) is not None


def _harmonise(template: CompiledTemplate, example: str, a: CompiledTemplate, b: CompiledTemplate) -> str:
    """Rewrite ``example`` so that repeated keys of ``template`` agree, trying each occurrence's text.

    The automaton ignores back-references, so its example may give a repeated
    key two values; copying one occurrence's text over the others often yields
    a path both real templates match. Returns the first such path, else ``example``.
    """
    found = re.fullmatch(template.occurrence_source, example, PATTERN_FLAGS)
    if found is None:
        return example
    spans: dict[str, list[int]] = {}
    for index, field in enumerate(template.occurrence_fields):
        if found.group(f"o{index}") is not None:
            spans.setdefault(field, []).append(index)
    for indexes in spans.values():
        if len(indexes) < 2:
            continue
        for source in indexes:
            text = found.group(f"o{source}")
            candidate = _substitute(example, found, indexes, text)
            if _both(a, b, candidate):
                return candidate
    return example


def _substitute(example: str, found: Any, indexes: list[int], text: str) -> str:
    out, last = [], 0
    for index in sorted(indexes, key=lambda i: found.start(f"o{i}")):
        start, end = found.span(f"o{index}")
        out += [example[last:start], text]
        last = end
    return "".join(out) + example[last:]


def overlap_problems(template_set: TemplateSet, *, proofs: ProofCache | None = None) -> list[SourceProblem]:
    """Every pair of equal-priority templates of one root that can match the same path."""
    proofs = ProofCache() if proofs is None else proofs
    finder = _Overlaps(template_set, proofs)
    by_root: dict[str, list[CompiledTemplate]] = {}
    for template in template_set.templates.values():
        by_root.setdefault(template.root, []).append(template)
    for templates in by_root.values():
        for a, b in combinations(templates, 2):
            finder.pair(a, b)
    return finder.problems


def ambiguity_problems(template_set: TemplateSet, *, proofs: ProofCache | None = None) -> list[SourceProblem]:
    """Every template with a path that splits into fields two ways (see :mod:`.ambiguity`), unless the
    template declares a reading rule that picks one (``readings: longest-first``)."""
    from .ambiguity import find_two_readings, tagged_regex

    proofs = ProofCache() if proofs is None else proofs
    problems = []
    for template in template_set.templates.values():
        if template.single_reading or template.rule is not ReadingRule.REFUSE:
            continue
        witness = two_readings_by_example(template)
        if witness is not None:
            path, first, second = witness
            problems.append(SourceProblem(
                template.where, f"templates.{template.name}",
                f"a path has two readings: {path!r} reads {differing_text(first, second)}", _TWO_READINGS_HINT,
                code="ambiguous"))
            continue
        for piece in pieces(template.tokens, template.keys):
            if piece_proven(piece, template.keys):
                continue
            fsm = proofs.fsm(tagged_regex(piece, template.keys))
            found = None if isinstance(fsm, Exception) else find_two_readings(piece.fields, fsm, _symbol_chars(fsm))
            if found is None:
                continue
            verb = "reads" if found.confirmed else "may read (ignoring repeated keys)"
            problems.append(SourceProblem(
                template.where, f"templates.{template.name}",
                f"a path has two readings: {_whole_example(template, piece.index, found.example, proofs)!r} {verb} "
                f"{differing_text(found.first, found.second)}", _TWO_READINGS_HINT, code="ambiguous",
            ))
            break
    return problems


_TWO_READINGS_HINT = ("make adjacent keys unable to share text (a pattern without the separator, or choices), "
                      "or declare which reading wins: 'readings: longest-first' or 'shortest-first'")
#: At most this many paths are tried for an example of two readings before the automata are built.
_MAX_EXAMPLES = 256


def two_readings_by_example(template: CompiledTemplate) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """A path of ``template`` with two readings, found by trying small values, or None if none was found.

    Each key gets a few values: its choices, or a digit for numbers, or for
    a string key a letter and, for each static character of the template
    that the key may hold, two letters joined by it (``a_a``). Most real
    ambiguities (``{a}_{b}`` with keys that hold ``_``) show in the first few
    tries, without building an automaton. None proves nothing.
    """
    for relative in example_paths(template, _MAX_EXAMPLES):
        found = template.readings(relative, limit=2)
        if len(found) == 2:
            return relative, found[0], found[1]
    return None


def example_paths(template: CompiledTemplate, limit: int) -> Iterator[str]:
    """Paths ``template`` writes from small values (see :func:`two_readings_by_example`), at most ``limit``
    combinations of values, each with its optional parts and without."""
    from itertools import islice, product

    static = sorted(set(all_text(template.tokens)) - {"/"})
    names = list(dict.fromkeys(t.name for t in key_refs(template.tokens)))
    values = [_samples(template.keys[name], static) for name in names]
    for combination in islice(product(*values), limit):
        fields = {template.keys[name].field: value for name, value in zip(names, combination)}
        yield from _renderings(template, fields)


def _samples(key: Any, static: list[str]) -> list[Any]:
    if key.choices:
        return list(key.choices[:3])
    if key.type is not KeyType.STR:
        return [1001 if key.type in (KeyType.FRAME, KeyType.UDIM) else 1]
    regex = key.regex(proof=True)
    joined = [f"a{c}a" for c in static if c.isascii() and not c.isalnum() and may_hold(regex, c)]
    return ["a", *joined][:4]


def _renderings(template: CompiledTemplate, fields: dict[str, Any]) -> list[str]:
    """The paths ``fields`` give ``template``, with its optional parts and without (values it refuses skipped)."""
    optional_only = {template.keys[r.name].field for t in template.tokens if isinstance(t, Optional)
                     for r in key_refs(t.parts)} - {template.keys[t.name].field for t in template.tokens
                                                    if isinstance(t, KeyRef)}
    out = []
    for given in (fields, {k: v for k, v in fields.items() if k not in optional_only}):
        try:
            out.append("".join(template._render(template.tokens, given, False, {})))
        except (FieldValueError, ValueError):
            continue
    return list(dict.fromkeys(out))


def _whole_example(template: CompiledTemplate, index: int, segment: str, proofs: ProofCache) -> str:
    """A path of ``template`` whose segment ``index`` is ``segment`` (the segment alone if none is found)."""
    if index < 0:
        return segment
    fsm = proofs.fsm(template.approx_regex)
    example = None if isinstance(fsm, Exception) else shortest_example(fsm)
    parts = (example or "").split("/")
    if index >= len(parts):
        return segment
    parts[index] = segment
    return "/".join(parts)


def unsafe_pattern_problems(template_set: TemplateSet) -> list[SourceProblem]:
    """Key patterns that could match a separator, ':', '..', '.', a control character or a trailing '.' or space."""
    problems = []
    unsafe = None
    for key in template_set.keys.values():
        if key.type is not KeyType.STR or not key.pattern or key.choices or provably_safe(key.pattern):
            continue
        unsafe = unsafe if unsafe is not None else _fsm(_UNSAFE_TEXT)
        try:
            product = _fsm(key.pattern) & unsafe
        except Exception as exc:
            problems.append(SourceProblem(key.where, f"keys.{key.name}.pattern", f"can't analyse the pattern ({exc})", code="unprovable"))
            continue
        if not product.empty():
            example = shortest_example(product)
            problems.append(SourceProblem(
                key.where, f"keys.{key.name}.pattern",
                f"the pattern can match {example!r}, a value that {unsafe_reason(example or '')}",
                "exclude '/', '\\\\', ':', control characters, '..' and a trailing '.' or space (e.g. [A-Za-z0-9_]+)",
                code="unsafe-pattern",
            ))
    return problems


def check_template_set(location: Path, *, proofs: ProofCache | None = None) -> tuple[TemplateSet | None, list[SourceProblem]]:
    """Every problem of a template set: syntax, semantics, unsafe patterns, overlaps.

    ``proofs`` carries overlap proofs over from checking an earlier version of the set.
    """
    template_set, problems = build_template_set(location)
    if template_set is None:
        return None, sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))
    problems = problems + unsafe_pattern_problems(template_set) + overlap_problems(template_set, proofs=proofs)
    problems += ambiguity_problems(template_set, proofs=proofs)
    if proofs is not None:
        from .ambiguity import tagged_regex

        templates = template_set.templates.values()
        proofs.keep({t.approx_regex for t in templates}
                    | {tagged_regex(p, t.keys) for t in templates for p in pieces(t.tokens, t.keys)}
                    | {s.regex for t in templates for s in segment_regexes(t) or ()})
    return template_set, sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))
