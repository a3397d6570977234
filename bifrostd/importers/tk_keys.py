"""ShotGrid Toolkit keys as Bifrost keys: types, ``filter_by``, ``format_spec``, choices and the rest.

tk-core's key types are ``str``, ``int``, ``sequence`` and ``timestamp``. Each translates to the
Bifrost key that matches and formats the same values where Bifrost can say so (an unfiltered ``str``
is ``chars: any``, ``filter_by: alphanumeric`` is ``chars: alphanumeric``, ``format_spec: "03"`` is
``padding: 3``); otherwise to the closest key, with a :class:`Note` saying what differs. The
translation is pure: it reads the located YAML values and returns the key's options and its notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..templates.source import Located, Where
from .report import Note

__all__ = ["KeyTranslation", "translate_key"]

#: TK options that say which ShotGrid field a key shows; a path means the same without them.
_SHOTGRID_OPTIONS = ("shotgun_entity_type", "shotgun_field_name")
#: strftime directives of a TK timestamp key, as the text they write (a pattern that matches them).
_STRFTIME = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}",
             "S": r"\d{2}", "j": r"\d{3}", "f": r"\d{6}"}
#: A sequence key defaulting to one of these is a UDIM key.
_UDIM_DEFAULTS = ("<UDIM>", "$UDIM")
#: The frame notations tk-core reads in a path (it has no RV/Nuke ``1001-1100#`` ranges).
_TK_FRAME_NOTATIONS = ["hash", "at", "printf", "houdini", "flame"]
#: Tile notations of a TK UDIM key: Mari's and Houdini's tokens, and the frame placeholders it also reads.
_TK_UDIM_NOTATIONS = ["mari", "houdini", "hash", "printf"]


@dataclass(slots=True)
class KeyTranslation:
    """A key's Bifrost options (as written to YAML) and what did not carry exactly."""

    options: dict[str, Any]
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What a key's translation needs besides its options."""

    name: str
    where: Where
    rename: Callable[[str], str]

    def note(self, where: Where, construct: str, done: str, *, approximated: bool = True) -> Note:
        return Note(where.file, where.line, f"key '{self.name}': {construct}", done, approximated)


def translate_key(name: str, where: Where, node: Located, rename: Callable[[str], str]) -> KeyTranslation:
    """The Bifrost key for TK key ``name`` declared at ``where`` with options ``node``.

    ``rename`` maps a TK field name (an ``alias``) to its Bifrost name.
    """
    ctx = _Ctx(name, where, rename)
    options: dict[str, tuple[Where, Located]] = node.value if isinstance(node.value, dict) else {}
    kind = options["type"][1].value if "type" in options else None
    translate = _BY_TYPE.get(str(kind))
    if translate is None:
        out = KeyTranslation({"type": "str", "chars": "any"})
        out.notes.append(ctx.note(where, f"type {kind!r}", "unknown to tk-core's documented types; read as text"))
        return out
    out = translate(ctx, options)
    _common(ctx, options, out)
    return out


def _plain(options: dict[str, tuple[Where, Located]], name: str) -> Any:
    return options[name][1].plain() if name in options else None


def _at(options: dict[str, tuple[Where, Located]], name: str, fallback: Where) -> Where:
    return options[name][1].where if name in options else fallback


def _common(ctx: _Ctx, options: dict[str, tuple[Where, Located]], out: KeyTranslation) -> None:
    """Options every type takes: alias, the ShotGrid link, ``abstract``, ``length``, ``exclusions``."""
    alias = _plain(options, "alias")
    if isinstance(alias, str) and ctx.rename(alias) != ctx.rename(ctx.name):
        out.options["alias"] = ctx.rename(alias)
    linked = [o for o in _SHOTGRID_OPTIONS if o in options]
    if linked:
        shown = ", ".join(f"{o}: {_plain(options, o)}" for o in linked)
        out.notes.append(ctx.note(_at(options, linked[0], ctx.where), shown,
                                  "a ShotGrid field link; paths match the same without it", approximated=False))
    if "abstract" in options and out.options["type"] == "str":
        out.notes.append(ctx.note(_at(options, "abstract", ctx.where), "abstract",
                                  "left out; only frame and UDIM keys stand for many files in Bifrost"))
    if "length" in options:
        out.notes.append(ctx.note(_at(options, "length", ctx.where), f"length: {_plain(options, 'length')}",
                                  "left out: values of any length match"))
    _exclusions(ctx, options, out)


def _exclusions(ctx: _Ctx, options: dict[str, tuple[Where, Located]], out: KeyTranslation) -> None:
    excluded = _plain(options, "exclusions")
    if not excluded:
        return
    where = _at(options, "exclusions", ctx.where)
    choices = out.options.get("choices")
    if choices is None:
        out.notes.append(ctx.note(where, f"exclusions: {excluded}", "left out: the excluded values match"))
        return
    gone = {str(e) for e in excluded}
    kept = ({k: v for k, v in choices.items() if k not in gone} if isinstance(choices, dict)
            else [c for c in choices if c not in gone])
    out.options["choices"] = kept
    out.notes.append(ctx.note(where, f"exclusions: {excluded}", "removed from the choices", approximated=False))


# -- str ----------------------------------------------------------------------------------------------------
def _str_key(ctx: _Ctx, options: dict[str, tuple[Where, Located]]) -> KeyTranslation:
    out = KeyTranslation({"type": "str"})
    choices = _plain(options, "choices")
    if choices:
        out.options["choices"] = _choices(choices)
    else:
        _filter(ctx, options, out)
    if "subset" in options or "subset_format" in options:
        out.notes.append(ctx.note(_at(options, "subset", ctx.where), f"subset: {_plain(options, 'subset')!r}",
                                  "left out: a path holds the part (JS for John Smith), and formatting writes the value given as it is"))
    default = _plain(options, "default")
    if default is not None:
        out.options["default"] = str(default)
    return out


def _choices(choices: Any) -> Any:
    if isinstance(choices, dict):
        return {str(k): str(v) for k, v in choices.items()}
    return [str(c) for c in choices]


def _filter(ctx: _Ctx, options: dict[str, tuple[Where, Located]], out: KeyTranslation) -> None:
    """``filter_by``: a named class, or a regex tk-core matches from the start of the value."""
    by = _plain(options, "filter_by")
    if by is None or by in ("alphanumeric", "alpha"):
        out.options["chars"] = by or "any"
        return
    where = _at(options, "filter_by", ctx.where)
    if by == "integer":
        out.options["pattern"] = "[0-9]+"
        return
    pattern, anchored = _pattern(str(by))
    out.options["pattern"] = pattern
    if not anchored:
        out.notes.append(ctx.note(where, f"filter_by: {by!r}", f"pattern {pattern!r}: tk-core matches the start of "
                                  "a value, Bifrost the whole value"))


def _pattern(regex: str) -> tuple[str, bool]:
    """A TK regex as a Bifrost pattern (no anchors, no capturing groups); whether it matched whole values."""
    anchored = regex.endswith("$") and not regex.endswith("\\$")
    body = regex[1:] if regex.startswith("^") else regex
    body = body[:-1] if anchored else body
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", body), anchored


# -- int, sequence, timestamp --------------------------------------------------------------------------------
def _format_spec(ctx: _Ctx, options: dict[str, tuple[Where, Located]], out: KeyTranslation, *,
                 unpadded: int) -> None:
    """``format_spec: "03"`` as padding; a space-padded spec ("3") is written with zeros instead."""
    spec = _plain(options, "format_spec")
    if spec is None:
        out.options["padding"] = unpadded
        return
    text = str(spec)
    digits = text.lstrip("0") or "0"
    if not digits.isdigit():
        out.notes.append(ctx.note(_at(options, "format_spec", ctx.where), f"format_spec: {text!r}",
                                  "left out: not a width"))
        return
    out.options["padding"] = int(digits)
    if not text.startswith("0") and int(digits) > 1:
        out.notes.append(ctx.note(_at(options, "format_spec", ctx.where), f"format_spec: {text!r}",
                                  f"padding {digits} with zeros: Bifrost pads numbers with zeros, not spaces"))


def _int_key(ctx: _Ctx, options: dict[str, tuple[Where, Located]]) -> KeyTranslation:
    out = KeyTranslation({"type": "int"})
    _format_spec(ctx, options, out, unpadded=0)
    strict = _plain(options, "strict_matching")
    if strict is False or "format_spec" not in options:
        out.options["strict"] = False  # tk-core reads any digits of a key without a format_spec
    choices = _plain(options, "choices")
    if choices:
        numbers = sorted(int(c) for c in choices)
        out.options.update({"min": numbers[0], "max": numbers[-1]})
        if numbers != list(range(numbers[0], numbers[-1] + 1)):
            out.notes.append(ctx.note(_at(options, "choices", ctx.where), f"choices: {choices}",
                                      f"the range {numbers[0]} to {numbers[-1]}: Bifrost integers have no choices"))
    default = _plain(options, "default")
    if isinstance(default, int) and not isinstance(default, bool):
        out.options["default"] = default
    return out


def _sequence_key(ctx: _Ctx, options: dict[str, tuple[Where, Located]]) -> KeyTranslation:
    default = _plain(options, "default")
    where = _at(options, "type", ctx.where)
    if default in _UDIM_DEFAULTS or "udim" in ctx.name.lower():
        out = KeyTranslation({"type": "udim", "notations": list(_TK_UDIM_NOTATIONS)})
        if default in _UDIM_DEFAULTS:
            out.options["default"] = default
        out.notes.append(ctx.note(where, "type: sequence (UDIM tiles)", "a udim key: tiles are 1001 to 9999, and "
                                  "'@', '$F' and Flame ranges, which tk-core also reads here, are not tiles"))
        return out
    out = KeyTranslation({"type": "frame"})
    _format_spec(ctx, options, out, unpadded=1)  # tk-core's sequence keys default to format_spec "01"
    out.options["notations"] = list(_TK_FRAME_NOTATIONS)
    if _plain(options, "strict_matching") is False:
        out.options["strict"] = False
    out.options["default"] = "%d"  # tk-core's default for a sequence key: %d in its padding (%04d)
    if isinstance(default, str):
        _frame_default(ctx, options, out, default)
    out.notes.append(ctx.note(where, "type: sequence", "a frame key: '<UDIM>' and '$UDIM', which tk-core also reads "
                              "as any sequence key's value, are not frames (declare a udim key for tiles)"))
    return out


def _frame_default(ctx: _Ctx, options: dict[str, tuple[Where, Located]], out: KeyTranslation, default: str) -> None:
    """A frame key's default notation: ``%0Nd``, ``FORMAT: #`` (a placeholder of this padding), and so on."""
    token = default.split(":", 1)[1].strip() if default.upper().startswith("FORMAT:") else default.strip()
    if token in ("#", "@", "%d", "$F", "%0Nd") or re.fullmatch(r"(#+|@+|%0\d+d|\$F\d*)", token):
        out.options["default"] = "%d" if token == "%0Nd" else token
        return
    out.notes.append(ctx.note(_at(options, "default", ctx.where), f"default: {default!r}",
                              "left out: not a frame notation Bifrost writes"))


def _timestamp_key(ctx: _Ctx, options: dict[str, tuple[Where, Located]]) -> KeyTranslation:
    spec = str(_plain(options, "format_spec") or "%Y-%m-%d-%H-%M-%S")
    pattern = "".join(_STRFTIME.get(part[1:], None) or re.escape(part) if part.startswith("%") else re.escape(part)
                      for part in re.findall(r"%.|[^%]+", spec))
    out = KeyTranslation({"type": "str", "pattern": pattern})
    out.notes.append(ctx.note(_at(options, "type", ctx.where), f"type: timestamp, format_spec: {spec!r}",
                              f"a text key with pattern '{pattern}': the value is text, not a date, "
                              "and a default of now/utc_now is left out"))
    return out


_BY_TYPE: dict[str, Callable[[_Ctx, dict[str, tuple[Where, Located]]], KeyTranslation]] = {
    "str": _str_key, "int": _int_key, "sequence": _sequence_key, "timestamp": _timestamp_key,
}
