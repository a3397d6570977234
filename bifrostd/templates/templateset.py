"""A compiled template set: roots, keys, entity kinds and templates, ready to match and format.

Build one with :func:`load_template_set`; it compiles every template once
and indexes them by root, number of path segments and extension, so matching
a path tries only the few templates that could match it, never all of them.
A path that several templates match is resolved by their priorities; a tie is
reported as ambiguous, never silently resolved to the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

from ..collector import gc_paused
from ..errors import FieldValueError, ResolveError, TemplateSetInvalid
from .compiled import CompiledTemplate, compile_template, static_text_problem
from .entities import Entity, deepest_entity, derive_entity
from .keys import Key
from .loader import read_declarations
from .pattern import KeyRef, Optional, ReferenceCycle, Text, TemplateRef, Token, expand, walk_tokens
from .readings import ReadingRule, TwoWays
from .dispatch import RootIndex, build_root_index
from .shape import Shape, template_shape
from .source import SourceProblem, Where, did_you_mean
from .spec import DEFAULT_ENTITIES, Declarations, EntityKind, Root, TemplateDef, current_os


#: How a template's fields make its entity: the kind, and per step of the chain its kind and keys
_EntityPlan = tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]
#: Not planned yet: compared by identity, so no plan equal to it is ever mistaken for it
_UNPLANNED: _EntityPlan = ("", ())


_NO_TEMPLATES = RootIndex()


class Match:
    """The result of matching a path: the template, its typed fields, and the entity.

    ``template`` is None when several templates of equal priority match; their
    names are then in ``candidates``. The entity is derived on first access.
    Treat a Match as immutable. (A plain slotted class: matching runs hundreds
    of thousands of times per second, and frozen dataclasses are slow to build.)
    """

    __slots__ = ("root", "relative", "template", "fields", "_set", "_entity")

    #: Names of the tied templates of an ambiguous match (see AmbiguousMatch).
    candidates: tuple[str, ...] = ()
    #: The readings of a path one template reads two ways (candidates then names that template).
    readings: tuple[dict[str, Any], ...] = ()
    _entity: Entity | None  # a slot, unset until first asked for

    def __init__(self, root: str, relative: str, template: CompiledTemplate | None, fields: dict[str, Any],
                 template_set: "TemplateSet | None" = None) -> None:
        self.root = root
        self.relative = relative
        self.template = template
        self.fields = fields
        self._set = template_set
        # _entity is left unset until first asked for

    @property
    def ambiguous(self) -> bool:
        return self.template is None

    @property
    def entity(self) -> Entity | None:
        try:
            return self._entity
        except AttributeError:
            template, template_set = self.template, self._set
            entity = None
            if template is not None and template_set is not None:
                entity = template_set.entity_of(template, self.fields)
            self._entity = entity
            return entity

    def __repr__(self) -> str:
        name = self.template.name if self.template else f"ambiguous{self.candidates}"
        return f"Match({self.root!r}, {self.relative!r}, {name}, {self.fields!r})"


class AmbiguousMatch(Match):
    """A path that several templates of equal priority match, or that one template reads two ways
    (``readings`` then holds both): ``template`` is None."""

    __slots__ = ("candidates", "readings")

    def __init__(self, root: str, relative: str, fields: dict[str, Any], candidates: tuple[str, ...],
                 readings: tuple[dict[str, Any], ...] = ()) -> None:
        super().__init__(root, relative, None, fields)
        self.candidates = candidates
        self.readings = readings


@dataclass(slots=True)
class TemplateSet:
    """A compiled template set. Immutable after :func:`load_template_set` returns it."""

    roots: dict[str, Root]
    keys: dict[str, Key]
    entities: dict[str, EntityKind]
    templates: dict[str, CompiledTemplate]
    files: list[str]
    shapes: dict[str, Shape]
    fingerprint: str = ""
    os_name: str = field(default_factory=current_os)
    _indexes: dict[str, RootIndex] = field(default_factory=dict)
    _entity_plans: dict[tuple[str, ...], _EntityPlan | None] = field(default_factory=dict)
    _prefixes: list[tuple[str, str, RootIndex]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self._indexes:  # given by with_roots, which shares them
            by_root: dict[str, list[CompiledTemplate]] = {}
            for template in self.templates.values():
                by_root.setdefault(template.root, []).append(template)
            self._indexes = {root: build_root_index(items, self.shapes) for root, items in by_root.items()}
        bases = [(r.paths[self.os_name].rstrip("/") + "/", n) for n, r in self.roots.items() if r.paths.get(self.os_name)]
        self._prefixes = [(prefix, name, self._indexes.get(name, _NO_TEMPLATES))
                          for prefix, name in sorted(bases, key=lambda item: -len(item[0]))]

    def with_roots(self, roots: dict[str, Root]) -> TemplateSet:
        """This set with ``roots`` in place of its own. The templates' indexes don't depend on where the
        roots are, so the copy shares them instead of building them again."""
        return replace(self, roots=roots, _indexes=self._indexes)

    # -- roots ----------------------------------------------------------------------
    def root_path(self, root: str, os_name: str | None = None) -> str:
        """The path of ``root`` on ``os_name`` (default: this machine's OS)."""
        os_name = os_name or self.os_name
        try:
            paths = self.roots[root].paths
        except KeyError:
            raise ResolveError(f"unknown root {root!r} (roots: {', '.join(self.roots)})") from None
        if os_name not in paths:
            raise ResolveError(f"root {root!r} has no path for {os_name}")
        path = paths[os_name].rstrip("/\\")
        if os_name == "windows" and len(path) == 2 and path[1] == ":":
            return path + "\\"  # a drive's root: 'B:' alone names the drive's current folder
        return path or "/"

    def split_path(self, path: str) -> tuple[str, str] | None:
        """(root name, root-relative POSIX path) for an absolute path, or None if under no root."""
        if self.os_name != "windows":
            for prefix, name, _ in self._prefixes:
                if path.startswith(prefix):
                    return name, path[len(prefix):]
            return None
        from .placing import under_root  # on Windows: either separator, roots compared without regard to case

        found = under_root(self, path, "windows")
        return found if found is not None and found[1] else None  # a root itself is under no root here

    # -- matching -------------------------------------------------------------------
    def match(self, path: str) -> Match | None:
        """Match an absolute path on this machine; None if it is under no root or matches nothing."""
        if self.os_name == "windows":
            split = self.split_path(path)
            return None if split is None else self.match_relative(*split)
        for prefix, name, index in self._prefixes:  # the hot path of every scan: kept flat
            if path.startswith(prefix):
                relative = path[len(prefix):]
                candidates = index.candidates(relative)
                if len(candidates) == 1:
                    fields = candidates[0].parser(relative)
                    if fields is None:
                        return None
                    if fields.__class__ is TwoWays:
                        return _two_ways(name, relative, candidates[0], fields)
                    return Match(name, relative, candidates[0], fields, self)
                return self._decide(name, relative, candidates)
        return None

    def match_many(self, paths: Iterable[str]) -> list[Match | None]:
        """Match many absolute paths (a walk's worth) with the cyclic garbage collector paused.

        Matching creates no reference cycles, but hundreds of thousands of new
        dicts make the collector rescan every live object again and again,
        which costs about a fifth of the time on large batches.
        """
        with gc_paused():
            return [self.match(path) for path in paths]

    def match_relative(self, root: str, relative: str) -> Match | None:
        """Match a root-relative POSIX path against the templates of ``root``."""
        index = self._indexes.get(root)
        if index is None:
            return None
        return self._decide(root, relative, index.candidates(relative))

    def _decide(self, root: str, relative: str, candidates: tuple[CompiledTemplate, ...]) -> Match | None:
        """The match among ``candidates`` (highest priority first); equal-priority ties are ambiguous."""
        best: CompiledTemplate | None = None
        best_fields: dict[str, Any] | None = None
        tied: list[str] = []
        for template in candidates:
            if best is not None and template.priority < best.priority:
                break
            fields = template.parser(relative)
            if fields is None:
                continue
            if best is None:
                best, best_fields = template, fields
            else:
                tied.append(template.name)
        if best is None or best_fields is None:
            return None
        if tied:
            return AmbiguousMatch(root, relative, dict(best_fields), (best.name, *tied))
        if isinstance(best_fields, TwoWays):
            return _two_ways(root, relative, best, best_fields)
        return Match(root, relative, best, best_fields, self)

    def entity_of(self, template: CompiledTemplate, fields: dict[str, Any]) -> Entity | None:
        """The entity a match defines. The chain's shape depends only on the template
        and on which fields are present, so it is planned once per such pair."""
        signature = (template.name, *fields)
        plan = self._entity_plans.get(signature, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = self._plan_entity(template, fields)
            self._entity_plans[signature] = plan
        if plan is None:
            return None
        kind, steps = plan
        return Entity(kind, tuple((name, tuple((key, fields[key]) for key in keys)) for name, keys in steps))

    def _plan_entity(self, template: CompiledTemplate, fields: dict[str, Any]) -> _EntityPlan | None:
        if template.entity:
            entity = derive_entity(self.entities, template.entity, fields)
        else:
            entity = deepest_entity(self.entities, fields)
        if entity is None:
            return None
        return entity.kind, tuple((name, tuple(key for key, _ in values)) for name, values in entity.chain)

    # -- formatting -----------------------------------------------------------------
    def template(self, name: str) -> CompiledTemplate:
        try:
            return self.templates[name]
        except KeyError:
            hint = did_you_mean(name, self.templates)
            raise ResolveError(f"unknown template {name!r}" + (f"; {hint}" if hint else "")) from None

    def format(self, name: str, fields: dict[str, Any], *, os_name: str | None = None) -> str:
        """The absolute path of template ``name`` for ``fields`` on ``os_name``."""
        template = self.template(name)
        relative = template.format(fields)
        return join_root(self.root_path(template.root, os_name), relative, os_name or self.os_name)

    def convert_fields(self, fields: dict[str, str], template: CompiledTemplate | None = None) -> dict[str, Any]:
        """Typed values for text fields (from a command line or a URI), using the keys' types.

        Several keys may fill one field (``maya_ext`` and ``nuke_ext`` both fill
        ``ext``): the template's own key decides for the fields it has; for the
        others, the first key that accepts the value does. A value no key accepts is an error naming
        the last key tried.
        """
        by_field: dict[str, list[Key]] = {}
        for key in self.keys.values():
            by_field.setdefault(key.field, []).append(key)
        if template is not None:
            by_field.update({key.field: [key] for key in template.keys.values()})
        return {name: _typed(by_field[name], text) if name in by_field else text for name, text in fields.items()}


def _two_ways(root: str, relative: str, template: CompiledTemplate, fields: TwoWays) -> AmbiguousMatch:
    return AmbiguousMatch(root, relative, dict(fields), (template.name,), fields.readings)


def _typed(keys: list[Key], text: Any) -> Any:
    """The value of ``text`` for the first of ``keys`` that accepts it; raises FieldValueError."""
    error: FieldValueError | None = None
    for key in keys:
        try:
            return key.parse(key.render(text))
        except FieldValueError as exc:
            error = exc
        except ValueError:
            error = FieldValueError(f"invalid value {text!r} for key {key.name!r}")
    assert error is not None
    raise error


def join_root(root_path: str, relative: str, os_name: str) -> str:
    """The absolute path of ``relative`` under ``root_path`` on ``os_name``.

    On Windows a part that is itself a drive or UNC path (``C:evil``) replaces
    everything before it; values can't form one, and the joined path is
    checked here as well, so a root is never dropped.
    """
    if os_name != "windows":
        return str(PurePosixPath(root_path, relative))
    root = PureWindowsPath(root_path)
    path = root.joinpath(*relative.split("/"))
    if not path.is_relative_to(root) or ".." in path.parts[len(root.parts):]:
        raise FieldValueError(f"the path {relative!r} would not stay inside its root {root_path!r} on Windows")
    return str(path)


# -- building ---------------------------------------------------------------------------
class _Build:
    def __init__(self, decl: Declarations, entities_declared: bool) -> None:
        self.decl = decl
        self.problems: list[SourceProblem] = []
        self.entities = decl.entities if entities_declared else dict(DEFAULT_ENTITIES)
        self.used_keys: set[str] = set()

    def problem(self, where: Where, key: str, message: str, hint: str = "", code: str = "invalid") -> None:
        self.problems.append(SourceProblem(where, key, message, hint, code))

    def run(self) -> dict[str, CompiledTemplate]:
        self._check_entities()
        compiled: dict[str, CompiledTemplate] = {}
        for template in self.decl.templates.values():
            result = self._compile(template)
            if result is not None:
                compiled[template.name] = result
        self._check_unused_keys()
        return compiled

    def _check_entities(self) -> None:
        for kind in self.entities.values():
            where = kind.where or Where("<defaults>", 1, 1)
            for parent in kind.parents:
                if parent not in self.entities:
                    self.problem(where, f"entities.{kind.name}.parents", f"unknown entity kind {parent!r}",
                                 did_you_mean(parent, self.entities), code="undefined-entity")

    def _root_of(self, template: TemplateDef) -> str | None:
        if template.root:
            if template.root not in self.decl.roots:
                self.problem(template.where, f"templates.{template.name}.root", f"undefined root {template.root!r}",
                             did_you_mean(template.root, self.decl.roots), code="undefined-root")
                return None
            return template.root
        if len(self.decl.roots) == 1:
            return next(iter(self.decl.roots))
        self.problem(template.where, f"templates.{template.name}", "a template needs a root when the set has several",
                     f"roots: {', '.join(self.decl.roots) or 'none defined'}", code="undefined-root")
        return None

    def _lookup(self, name: str) -> tuple[Token, ...] | None:
        template = self.decl.templates.get(name)
        return template.tokens if template else None

    def _compile(self, template: TemplateDef) -> CompiledTemplate | None:
        path = f"templates.{template.name}.path"
        ok = self._check_references(template, path)
        try:
            tokens = expand(template.name, self._lookup)
        except ReferenceCycle as cycle:
            self.problem(template.where, path, f"reference cycle: {' -> '.join(cycle.chain)}", code="reference-cycle")
            self.used_keys.update(t.name for t in walk_tokens(template.tokens) if isinstance(t, KeyRef))
            return None
        ok = self._check_tokens(template, tokens, path) and ok
        root = self._root_of(template)
        ok = self._check_entity(template, tokens) and ok
        if not ok or root is None:
            return None
        return compile_template(
            template.name, root, template.pattern, tokens, self.decl.keys,
            entity=template.entity, priority=template.priority, description=template.description, where=template.where,
            rule=template.rule or self.decl.readings or ReadingRule.REFUSE,
            skeleton=template.skeleton, mode=template.mode, group=template.group,
        )

    def _check_references(self, template: TemplateDef, path: str) -> bool:
        ok = True
        for token in walk_tokens(template.tokens):
            if isinstance(token, TemplateRef):
                target = self.decl.templates.get(token.name)
                if target is None:
                    self.problem(_at(template.where, token.offset), path, f"undefined template reference {{@{token.name}}}",
                                 did_you_mean(token.name, self.decl.templates), code="undefined-reference")
                    ok = False
                elif target.root and template.root and target.root != template.root:
                    self.problem(_at(template.where, token.offset), path,
                                 f"{{@{token.name}}} is under root {target.root!r}, this template under {template.root!r}")
                    ok = False
        return ok

    def _check_tokens(self, template: TemplateDef, tokens: tuple[Token, ...], path: str) -> bool:
        ok = True
        first, last = (tokens[0], tokens[-1]) if tokens else (None, None)
        for token in walk_tokens(tokens):
            if isinstance(token, KeyRef):
                self.used_keys.add(token.name)
                if token.name in self.decl.invalid_keys:
                    ok = False
                elif token.name not in self.decl.keys:
                    self.problem(_at(template.where, token.offset), path, f"undefined key {{{token.name}}}",
                                 did_you_mean(token.name, self.decl.keys), code="undefined-key")
                    ok = False
            elif isinstance(token, Text):
                reason = static_text_problem(token.text, first=token is first, last=token is last)
                if reason:
                    self.problem(_at(template.where, token.offset), path, f"static text {token.text!r} {reason}")
                    ok = False
            elif isinstance(token, Optional) and not any(isinstance(t, KeyRef) for t in walk_tokens(token.parts)):
                self.problem(_at(template.where, token.offset), path, "an optional part must contain a key",
                             "without one a parsed path can't tell whether the part was there")
                ok = False
        starts_with_reference = bool(template.tokens) and isinstance(template.tokens[0], TemplateRef)
        if tokens and isinstance(tokens[0], Text) and tokens[0].text.startswith("/") and not starts_with_reference:
            self.problem(template.where, path, "a template path is relative to its root", "remove the leading '/'")
            ok = False
        return ok

    def _check_entity(self, template: TemplateDef, tokens: tuple[Token, ...]) -> bool:
        if template.entity is None:
            return True
        name = f"templates.{template.name}.entity"
        if template.entity not in self.entities:
            self.problem(template.where, name, f"unknown entity kind {template.entity!r}",
                         did_you_mean(template.entity, self.entities) or f"kinds: {', '.join(self.entities)}",
                         code="undefined-entity")
            return False
        fields = {self.decl.keys[t.name].field: 1 for t in walk_tokens(tokens)
                  if isinstance(t, KeyRef) and t.name in self.decl.keys}
        if derive_entity(self.entities, template.entity, fields) is None:
            self.problem(template.where, name, f"the template lacks keys that identify a {template.entity}",
                         f"{template.entity} needs {_needs(self.entities, template.entity)}")
            return False
        return True

    def _check_unused_keys(self) -> None:
        for name, key in self.decl.keys.items():
            if name not in self.used_keys:
                self.problem(key.where, f"keys.{name}", "key is not used by any template", "remove it or use it",
                             code="unused-key")


def _needs(entities: dict[str, EntityKind], kind: str) -> str:
    names: list[str] = []
    seen: set[str] = set()
    stack = [kind]
    while stack:
        current = entities.get(stack.pop())
        if current is None or current.name in seen:
            continue
        seen.add(current.name)
        names.extend(current.keys)
        if current.parents:
            stack.append(current.parents[0])
    return ", ".join(reversed(names))


def _at(where: Where, offset: int) -> Where:
    return Where(where.file, where.line, where.column + offset)


def build_template_set(location: Path) -> tuple[TemplateSet | None, list[SourceProblem]]:
    """Read and compile a template set; returns it (None if unusable) and every problem found."""
    decl, problems, entities_declared = read_declarations(location)
    if decl.unread:  # like a compiler after a syntax error: what the file declares is unknown
        return None, problems
    builder = _Build(decl, entities_declared)
    compiled = builder.run()
    problems = problems + builder.problems
    shapes = {name: template_shape(t) for name, t in compiled.items()}
    unreadable = any(p.code in ("syntax", "encoding", "unreadable") for p in problems)
    if not decl.roots and not unreadable:  # a file that could not be read may be the one with the roots
        problems.append(SourceProblem(Where(str(location), 1, 1), "roots", "the template set defines no roots", code="undefined-root"))
    template_set = TemplateSet(
        roots=decl.roots, keys=decl.keys, entities=builder.entities, templates=compiled,
        files=decl.files, shapes=shapes, fingerprint=_fingerprint(decl.files),
    )
    return template_set, problems


def _fingerprint(files: list[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(files):
        try:
            digest.update(Path(name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()[:16]


def load_template_set(location: Path) -> TemplateSet:
    """Load a template set for use; raises TemplateSetInvalid if it has errors.

    Overlap proofs are not run here (see :func:`bifrostd.templates.check.check_template_set`):
    at runtime a path matched by several templates of equal priority is
    reported as ambiguous instead.
    """
    template_set, problems = build_template_set(location)
    errors = [p for p in problems if p.code != "unused-key"]
    if errors or template_set is None:
        raise TemplateSetInvalid(errors)
    return template_set
