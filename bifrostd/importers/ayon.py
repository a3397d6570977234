"""Importing an AYON project anatomy as a Bifrost template set (``bifrostctl templates import ayon``).

Each named template of a category (``work/default``, ``publish/render``, ``others/...``) becomes a
Bifrost template ``<category>_<name>`` under the root its ``{root[...]}`` names, its directory a folder
template of its own (shared by the templates with the same directory) that the file template references
with ``{@...}``. AYON's ``{@inner}`` keys (``{@version}``, ``{@frame}``) are values, not templates, and are
written out in place, as AYON does before formatting. ``<optional>`` parts become ``[optional]`` parts and
``{version:0>3}`` a padding.

What Bifrost can't say the same way is a note (see :mod:`.report`): ``{hierarchy}``, any number of parent
folders in AYON, is a fixed number of segments here (``hierarchy_depth``: one depth, or several, each
with templates of its own, suffixed ``_h<depth>``); names get patterns; a template
whose text can't be expressed (a ``{root}`` that isn't its start, ``{originalDirname}``, brackets in its
text) is left out. An undefined ``{@inner}`` key or a malformed field makes the source unreadable (exit 19).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from ..errors import ImportSourceInvalid
from ..templates import pattern as bifrost_pattern
from .ayon_fields import LEGACY, Case, Kind, Special, field_name, hierarchy_key, key_for, special
from .ayon_keys import KeyUse, Lists, entity_kinds, entity_of, key_spec
from .ayon_source import Anatomy, AyonTemplate, located, read_anatomy
from .ayon_syntax import Field, InnerKeyError, Literal, OptionalPart, Token, expand_inner, tokenize
from .report import ImportResult, Note, Renamed

__all__ = ["DEFAULT_HIERARCHY_DEPTH", "import_ayon", "translate"]

DEFAULT_HIERARCHY_DEPTH = 2
_UNSAFE_TEXT = re.compile(r"[\[\]{}\\:]")


def import_ayon(path: Path, *, hierarchy_depth: int | Iterable[int] = DEFAULT_HIERARCHY_DEPTH) -> ImportResult:
    """Read the anatomy at ``path`` and translate it; raises ImportSourceInvalid if it can't be read."""
    return translate(read_anatomy(path), hierarchy_depth=hierarchy_depth)


class _Skip(Exception):
    """A template Bifrost can't express: it is left out with a note saying why."""


@dataclass(slots=True)
class _Pattern:
    """One AYON template text translated: Bifrost pattern, its root, and the keys it always has."""

    root: str
    text: str
    required: set[str]


@dataclass(slots=True)
class _State:
    anatomy: Anatomy
    depths: tuple[int, ...]  # every depth asked for, ascending
    lists: Lists
    depth: int = 0  # the depth being translated
    uses: dict[str, KeyUse] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)


def translate(anatomy: Anatomy, *, hierarchy_depth: int | Iterable[int] = DEFAULT_HIERARCHY_DEPTH) -> ImportResult:
    """The Bifrost template set of ``anatomy`` and its report (pure: no I/O).

    ``hierarchy_depth``: how many parent folders ``{hierarchy}`` stands for; with several depths, each
    template that depends on it is written once per depth, named ``<category>_<name>_h<depth>``.
    """
    depths = tuple(sorted({hierarchy_depth} if isinstance(hierarchy_depth, int) else set(hierarchy_depth)))
    state = _State(anatomy, depths or (DEFAULT_HIERARCHY_DEPTH,), _lists(anatomy), problems=list(anatomy.problems))
    translated = [(t, _translate_item(state, t)) for t in anatomy.templates]
    if state.problems:
        raise ImportSourceInvalid(anatomy.source, state.problems)
    _mark_joined(state, [p for _, variants in translated for _, pair in variants or () for p in pair if p])
    keys = _keys(state)
    kinds = entity_kinds(set(keys), _folder_kinds(state.depths, set(keys)))
    document = {"schema": "bifrost.templates.1", "roots": _roots(state), "keys": keys, "entities": kinds,
                "templates": _templates(translated, kinds)}
    skipped = tuple(f"{t.category}/{t.name}" for t, variants in translated if variants is None)
    notes = sorted(state.notes, key=lambda note: note.line)
    return ImportResult("ayon", anatomy.source, document, tuple(notes),
                        tuple(Renamed(s, b) for s, b in state.renamed.items()),
                        header=_header(anatomy, state.depths), skipped=skipped)


def _folder_kinds(depths: tuple[int, ...], keys: set[str]) -> dict[str, list[str]]:
    """The folder entity kinds and their keys: the parents' names and the folder's, one kind per depth.

    Shallowest first, so that the deepest kind a template identifies is found first from the end.
    """
    per_depth: dict[int, list[str]] = {}
    for depth in depths:
        folder_keys = [k for k in (hierarchy_key(i) for i in range(1, depth + 1)) if k in keys] + ["folder"]
        if folder_keys not in per_depth.values():
            per_depth[depth] = folder_keys
    if len(per_depth) == 1:
        return {"folder": next(iter(per_depth.values()))}
    return {f"folder_h{depth}": folder_keys for depth, folder_keys in per_depth.items()}


def _lists(anatomy: Anatomy) -> Lists:
    def padding(name: str, default: int) -> int:
        value = anatomy.common.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 16 else default

    return Lists(anatomy.folder_types, tuple(n for n, _ in anatomy.task_types),
                 tuple(s for _, s in anatomy.task_types if s), padding("version_padding", 3), padding("frame_padding", 4))


def _header(anatomy: Anatomy, depths: tuple[int, ...]) -> str:
    return (f"Imported from the AYON anatomy {anatomy.source} by 'bifrostctl templates import ayon'.\n"
            f"{{hierarchy}} is {_depths_text(depths)} folder(s) deep here (--hierarchy-depth); "
            "see docs/coming-from-ayon.md.")


def _depths_text(depths: tuple[int, ...]) -> str:
    return str(depths[0]) if len(depths) == 1 else ", ".join(map(str, depths[:-1])) + f" or {depths[-1]}"


# --- one template ---------------------------------------------------------------------------------------

#: A translated template: its name suffix ("" or "_h2") and its path and directory patterns
_Variant = tuple[str, tuple[_Pattern, _Pattern | None]]


def _translate_item(state: _State, item: AyonTemplate) -> list[_Variant] | None:
    """The item's path and directory patterns, one variant per depth where they depend on it; None if
    it is left out (with a note)."""
    before = _Saved(state)
    try:
        variants = [(depth, _translate_pair(state, item, depth)) for depth in state.depths]
    except _Skip as skip:
        before.restore(state)  # what it used before the field that stopped it is not part of the set
        state.notes.append(Note(state.anatomy.source, item.line, f"template {item.category}/{item.name}",
                                f"left out: {skip}"))
        return None
    except _Unreadable:
        return None
    if all(pair == variants[0][1] for _, pair in variants):
        return [("", variants[0][1])]
    return [(f"_h{depth}", pair) for depth, pair in variants]


def _translate_pair(state: _State, item: AyonTemplate, depth: int) -> tuple[_Pattern, _Pattern | None]:
    state.depth = depth
    path = _translate_text(state, item, item.path)
    directory = _translate_text(state, item, item.directory) if item.directory is not None else None
    return path, directory


class _Saved:
    """The keys, renames and notes gathered so far, to return to when a template is left out."""

    def __init__(self, state: _State) -> None:
        self.uses = {k: replace(v, sources=set(v.sources)) for k, v in state.uses.items()}
        self.renamed, self.notes = dict(state.renamed), list(state.notes)

    def restore(self, state: _State) -> None:
        state.uses, state.renamed, state.notes = self.uses, self.renamed, self.notes


class _Unreadable(Exception):
    """The item's text is broken (recorded in ``state.problems``)."""


def _translate_text(state: _State, item: AyonTemplate, text: str) -> _Pattern:
    tokens = _tokens(state, item, text)
    root, rest = _split_root(state, tokens)
    translator = _Translator(state, item)
    pattern = translator.pattern(rest)
    if not pattern:
        raise _Skip("nothing below the root")
    return _Pattern(root, pattern, translator.required)


def _tokens(state: _State, item: AyonTemplate, text: str) -> tuple[Token, ...]:
    try:
        return tokenize(expand_inner(text, item.values))
    except InnerKeyError as exc:
        known = ", ".join(sorted(k for k, v in item.values.items() if not isinstance(v, (dict, list)))) or "none"
        what = "contains itself" if exc.cycle else f"names no template key (defined: {known})"
        state.problems.append(f"{located(state.anatomy.source, item.line)}: {item.pointer}: {{@{exc.name}}} {what}")
    except ValueError as exc:
        state.problems.append(f"{located(state.anatomy.source, item.line)}: {item.pointer}: malformed template {text!r}: {exc}")
    raise _Unreadable()


def _split_root(state: _State, tokens: tuple[Token, ...]) -> tuple[str, tuple[Token, ...]]:
    """The root named by the leading ``{root[name]}/``, and the tokens after it."""
    head = tokens[0] if tokens else None
    name = field_name(head.name) if isinstance(head, Field) else None
    if name is None or special(name) is not Special.ROOT or len(name.parts) != 2:
        raise _Skip("it does not start with {root[...]}, so it is under no root")
    if name.parts[1] not in {r.name for r in state.anatomy.roots}:
        raise _Skip(f"{{root[{name.parts[1]}]}} names no root of the anatomy")
    root = root_name(name.parts[1])
    rest = tokens[1:]
    if not rest or not isinstance(rest[0], Literal) or not rest[0].text.startswith("/"):
        raise _Skip(f"{{root[{root}]}} is not followed by '/'")
    state.renamed.setdefault(name.written, f"root {root}")
    stripped = rest[0].text.lstrip("/")
    return root, ((Literal(stripped),) if stripped else ()) + rest[1:]


class _Translator:
    """Writes AYON tokens as a Bifrost pattern, recording keys, renames and notes."""

    def __init__(self, state: _State, item: AyonTemplate) -> None:
        self.state, self.item = state, item
        self.required: set[str] = set()

    def pattern(self, tokens: tuple[Token, ...]) -> str:
        text = self.write(tokens, optional=False)
        return re.sub(r"/{2,}", "/", text).strip("/")  # an empty {hierarchy} leaves '//', as AYON normalises

    def write(self, tokens: tuple[Token, ...], *, optional: bool) -> str:
        out = []
        for token in tokens:
            if isinstance(token, Literal):
                out.append(self.literal(token.text))
            elif isinstance(token, Field):
                out.append(self.field(token, optional=optional))
            else:
                out.append(self.optional(token))
        return "".join(out)

    @staticmethod
    def literal(text: str) -> str:
        if _UNSAFE_TEXT.search(text):
            raise _Skip(f"its text {text!r} holds a character Bifrost reads as syntax or refuses in paths")
        return text

    def optional(self, token: OptionalPart) -> str:
        inner = self.write(token.parts, optional=True)
        return f"[{inner}]" if "{" in inner else ""  # a part left with no key (an empty {hierarchy}) is text-free

    def field(self, token: Field, *, optional: bool) -> str:
        name = field_name(token.name)
        if name is None:
            raise _Skip(f"the field {token.written} is not a plain name")
        kind = special(name)
        if kind is not None:
            return self.special_field(token, kind, optional=optional)
        key, key_kind = key_for(name)
        self.use(key, key_kind, name.case, token.name, optional=optional)
        if token.conversion:
            self.note(token.written, f"the conversion !{token.conversion} is left out", approximated=True)
        return self.placeholder(key, key_kind, token)

    def special_field(self, token: Field, kind: Special, *, optional: bool) -> str:
        if kind is Special.ROOT:
            raise _Skip(f"{token.written} is not at its start")
        if kind is Special.UNSUPPORTED:
            raise _Skip(f"{token.written} is a list or a relative folder path, which no Bifrost key holds")
        levels = [hierarchy_key(i) for i in range(1, self.state.depth + 1)]
        if kind is Special.PARENT:
            return self.parent(token, levels, optional=optional)
        for level in levels:
            self.use(level, Kind.NAME, Case.AS_IS, token.name, optional=optional, rename=False)
        deepest = [hierarchy_key(i) for i in range(1, self.state.depths[-1] + 1)]
        self.state.renamed.setdefault(token.name, "/".join(deepest) or "(nothing: depth 0)")
        written = "/".join("{" + k + "}" for k in levels)
        self.note(token.written, self.depth_note(f"({written or 'none'})"), approximated=True)
        if kind is Special.FOLDER_PATH:
            self.use("folder", Kind.NAME, Case.AS_IS, "folder[name]", optional=optional)
            return f"{written}/{{folder}}" if written else "{folder}"
        return written

    def parent(self, token: Field, levels: list[str], *, optional: bool) -> str:
        """``{parent}``: the last of the folder's parents, or the project's name for a top folder."""
        key, source = (levels[-1], token.name) if levels else ("project", "project[name]")
        self.use(key, Kind.NAME, Case.AS_IS, source, optional=optional, rename=False)
        several = len(self.state.depths) > 1
        self.state.renamed.setdefault(token.name, "the last hierarchy_N" if several else key)
        where = "the last hierarchy key" if several else f"{{{key}}}"
        self.note(token.written, f"the folder's last parent, here {where}: right for folders "
                                 f"{_depths_text(self.state.depths)} deep only (import again with --hierarchy-depth)",
                  approximated=True)
        return "{" + key + "}"

    def depth_note(self, written: str) -> str:
        depths = self.state.depths
        if len(depths) == 1:
            return (f"any number of parent folders in AYON; exactly {depths[0]} here {written}; a folder at another "
                    "depth does not match (import again with --hierarchy-depth)")
        return (f"any number of parent folders in AYON; {_depths_text(depths)} here, a template for each "
                "(named ..._h<depth>); a folder at another depth does not match (add it with --hierarchy-depth)")

    def use(self, key: str, kind: Kind, case: Case, source: str, *, optional: bool, rename: bool = True) -> None:
        uses = self.state.uses
        if key not in uses:
            uses[key] = KeyUse(key, kind, case, (self.state.anatomy.source, self.item.line))
        uses[key].sources.add(source)
        if not optional:
            self.required.add(key)
            uses[key].required = True
        if rename and source != key:
            self.state.renamed.setdefault(source, key)
        if source in LEGACY:
            self.note(f"{{{source}}}", f"the OpenPype name of {{{LEGACY[source]}}}; key '{key}'", approximated=False)

    def placeholder(self, key: str, kind: Kind, token: Field) -> str:
        if kind not in (Kind.VERSION, Kind.FRAME):
            if token.spec:
                self.note(token.written, f"the format spec ':{token.spec}' is left out (text is written as it is)",
                          approximated=True)
            return "{" + key + "}"
        width = _padding(token.spec)
        if width is None:
            self.note(token.written, f"the format spec ':{token.spec}' is not a zero padding; the key's padding is used",
                      approximated=True)
            return "{" + key + "}"
        default = self.state.lists.version_padding if kind is Kind.VERSION else self.state.lists.frame_padding
        return "{" + key + "}" if width == default else f"{{{key}:{width:02d}}}"

    def note(self, construct: str, done: str, *, approximated: bool) -> None:
        note = Note(self.state.anatomy.source, self.item.line,
                    f"{construct} in {self.item.category}/{self.item.name}", done, approximated)
        if note not in self.state.notes:
            self.state.notes.append(note)


def _padding(spec: str) -> int | None:
    """The zero padding a Python format spec gives integers (``0>3``, ``03``, ``03d``: 3); None if it does more.

    Found by formatting sample numbers with the spec, so any spelling Python reads the same way counts.
    """
    try:
        width = len(format(0, spec))
        same = all(format(n, spec) == f"{n:0{width}d}" for n in (7, 42, 999, 123456789))
    except (ValueError, TypeError):
        return None
    return (0 if width == 1 else width) if same else None  # one digit is no padding at all


# --- the set ----------------------------------------------------------------------------------------------

def _mark_joined(state: _State, patterns: list[_Pattern]) -> None:
    """Mark keys that share a path segment with another key: their values may not hold separators."""
    for item in patterns:
        for segment in _segments(bifrost_pattern.tokenize(item.text)):
            if len(segment) > 1:
                for key in segment:
                    state.uses[key].joined = True


def _segments(tokens: tuple[bifrost_pattern.Token, ...]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for token in tokens:
        if isinstance(token, bifrost_pattern.Text):
            segments.extend([] for _ in range(token.text.count("/")))
        elif isinstance(token, bifrost_pattern.KeyRef):
            segments[-1].append(token.name)
        elif isinstance(token, bifrost_pattern.Optional):
            segments[-1].extend(t.name for t in bifrost_pattern.walk_tokens(token.parts)
                                if isinstance(t, bifrost_pattern.KeyRef))
    return segments


def _keys(state: _State) -> dict[str, dict[str, Any]]:
    keys = {}
    for key, use in state.uses.items():
        spec, note, approximated = key_spec(use, state.lists)
        keys[key] = spec
        if note:
            sources = ", ".join("{" + s + "}" for s in sorted(use.sources))
            state.notes.append(Note(use.where[0], use.where[1], f"{sources} (key {key})", note, approximated))
    return keys


def _roots(state: _State) -> dict[str, Any]:
    roots: dict[str, Any] = {}
    for root in state.anatomy.roots:
        paths = {("mac" if os_name == "darwin" else os_name): path for os_name, path in root.paths.items()}
        if not paths:
            paths = {"linux": f"/mnt/{root.name}"}
            state.notes.append(Note(state.anatomy.source, root.line, f"root {root.name}",
                                    f"has no path; written as {paths['linux']} (set it in bifrost.yaml)"))
        roots[root_name(root.name)] = paths
        if root_name(root.name) != root.name:
            state.notes.append(Note(state.anatomy.source, root.line, f"root {root.name}",
                                    f"named {root_name(root.name)}: a Bifrost name starts with a letter or '_'",
                                    approximated=False))
    return roots


def root_name(name: str) -> str:
    """AYON's root name as a Bifrost name (letters, digits and '_', not starting with a digit)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return name if name and not name[0].isdigit() else f"r_{name}"


def _templates(translated: list[tuple[AyonTemplate, list[_Variant] | None]],
               kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    templates: dict[str, Any] = {}
    folders: dict[tuple[str, str], str] = {}  # (root, directory pattern) -> the folder template's name
    for item, suffix, (path, directory) in ((i, s, p) for i, variants in translated for s, p in variants or ()):
        name = _template_name(item) + suffix
        text = path.text
        if directory is not None and path.text.startswith(directory.text + "/"):
            folder = folders.setdefault((directory.root, directory.text), f"{name}_dir")
            if folder == f"{name}_dir":
                templates[folder] = _template(directory, kinds, f"AYON {item.category}/{item.name} directory")
            text = f"{{@{folder}}}" + path.text[len(directory.text):]
        templates[name] = _template(_Pattern(path.root, text, path.required), kinds, f"AYON {item.category}/{item.name}")
    return templates


def _template(pattern: _Pattern, kinds: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"root": pattern.root, "path": pattern.text}
    entity = entity_of(pattern.required, kinds)
    if entity:
        spec["entity"] = entity
    spec["description"] = description
    return spec


def _template_name(item: AyonTemplate) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{item.category}_{item.name}")
