"""Typed template keys: how each kind of value is matched, converted and formatted.

A key turns text found in a path into a typed field value (``parse``) and a
field value back into text (``render``). Both directions are exact inverses
for every value the key accepts; ``render`` is also the guard that keeps a
formatted path inside its root, so it rejects any value containing a path
separator, a drive's ``:``, ``..``, NUL or another control character, and any
value Windows can't hold as a name: a device name (``con``, ``nul.txt``) or a
name ending in a dot or a space. The same rules hold on every OS, since a
rootless path stored on Linux is opened from Windows too.
"""

from __future__ import annotations

import re
import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import FieldValueError
from .notations import DEFAULT_UDIM_NOTATIONS, FRAME_NOTATIONS, digits, notation_regex, render_token
from .source import Where

#: Characters no field value may contain, in either direction. ':' makes a drive on Windows:
#: ``C:evil`` joined to ``P:\projects`` is ``C:evil``, the root dropped.
_UNSAFE = re.compile(r"[/\\:\x00-\x1f\x7f]|\.\.")

#: Names Windows opens as devices, whatever their case or extension (``nul.txt`` is NUL).
WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{port}{n}" for port in ("com", "lpt") for n in "0123456789\u00b9\u00b2\u00b3"]
)

#: The pattern of a string key that does not give one: letters and digits.
DEFAULT_STR_PATTERN = r"[A-Za-z0-9]+"

#: The character sets a string key may name with ``chars`` instead of a pattern, as Python regexes
#: (matched as written: the scoped ``(?u:...)`` makes ``\w`` Unicode-aware inside a template regex
#: compiled with re.ASCII). ``alphanumeric`` and ``alpha`` are ShotGrid Toolkit's ``filter_by`` classes;
#: ``any`` is any single path component, made safe by checking each value with :func:`unsafe_reason`.
CHARS_REGEX = {
    "alphanumeric": r"(?u:[^\W_]+)",
    "alpha": r"(?u:[^\W_0-9]+)",
    "any": r"[^/\\:\x00-\x1f\x7f]+",
}
#: What each Unicode-aware set matches of ASCII text: a template regex holding one is compiled a second
#: time with these in its place, for the (usual) all-ASCII path, which that regex matches twice as fast.
CHARS_ASCII_TWINS = {CHARS_REGEX["alphanumeric"]: "[A-Za-z0-9]+", CHARS_REGEX["alpha"]: "[A-Za-z]+"}
#: The same sets as the overlap and ambiguity proofs read them: the automata know ASCII characters one by
#: one and every other character as one symbol, so a Unicode class becomes "its ASCII part, or any
#: non-ASCII character" (a superset: a proof over it holds for the real set). The private-use block
#: U+E000-U+EFFF is left out: the ambiguity proof marks key boundaries with those characters.
_MARKS = "\ue000-\uefff"  # the characters themselves: the automata's regex reader has no \u escapes
CHARS_PROOF_REGEX = {
    "alphanumeric": r"[^\x00-/:-@\[-`{-\x7f" + _MARKS + "]+",
    "alpha": r"[^\x00-@\[-`{-\x7f" + _MARKS + "]+",
    # '/' alone: the other characters 'any' refuses never occur in static text, so they cannot make two
    # templates meet or a name read two ways, and each one named would cost the automata a symbol.
    "any": "[^/" + _MARKS + "]+",
}


class KeyType(str, Enum):
    """The kinds of key a template set can declare."""

    STR = "str"
    INT = "int"
    FRAME = "frame"
    UDIM = "udim"


UDIM_TOKEN = "<UDIM>"
#: First characters of the frame notations (``####``, ``@@@@``, ``%04d``, ``$F4``, ``[1001-1100]``);
#: a frame number starts with a digit or '-', and so does a range ``1001-1100#``, which ends with '#' or '@'.
FRAME_PLACEHOLDER_STARTS = "#@%$["
FRAME_RANGE_ENDS = "#@"


def unsafe_reason(text: str) -> str | None:
    """Why ``text`` can't be a field value, or None if it can."""
    if text in (".", ""):
        return "is empty" if not text else "is '.'"
    return unsafe_character(text) or windows_name_problem(text)


def unsafe_character(text: str) -> str | None:
    """Why ``text`` can't be part of a path name (a separator, ':', '..' or a control character), or None."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    bad = found.group()
    if bad in ("..", ":"):
        return f"contains {bad!r}"
    if bad in "/\\":
        return f"contains a path separator {bad!r}"
    return f"contains the control character {bad!r}"


def windows_name_problem(name: str) -> str | None:
    """Why Windows can't hold a file or folder called ``name``, or None if it can."""
    if name.endswith("."):
        return "ends with '.', which Windows drops"
    if name.endswith(" "):
        return "ends with a space, which Windows drops"
    if name.split(".", 1)[0].rstrip(" ").lower() in WINDOWS_DEVICES:
        return "is a device name on Windows"
    return None


def _digits(padding: int, *, strict: bool) -> str:
    """Regex for a non-negative integer written with ``padding`` digits (see :func:`.notations.digits`)."""
    return digits(padding, strict=strict)


@dataclass(frozen=True, slots=True)
class Key:
    """A declared key. ``field`` is the name of the field it fills (its alias, or its name)."""

    name: str
    type: KeyType
    field: str
    where: Where
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    # dataclasses.field: the name `field` is the attribute above, in the class body
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    case: str | None = None
    default: Any = None
    padding: int = 0
    strict: bool = True
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""
    #: The notations a frame or UDIM key accepts besides numbers (see :mod:`.notations`); () for the type's default.
    notations: tuple[str, ...] = ()
    #: A string key's named character set (a key of CHARS_REGEX) instead of a pattern, or None.
    chars: str | None = None

    @property
    def accepted_notations(self) -> tuple[str, ...]:
        """The notations this frame or UDIM key matches and writes, "number" first."""
        if self.notations:
            return ("number", *(n for n in self.notations if n != "number"))
        return DEFAULT_UDIM_NOTATIONS if self.type is KeyType.UDIM else FRAME_NOTATIONS

    # -- regex -------------------------------------------------------------
    def regex(self, padding: int | None = None, *, proof: bool = False) -> str:
        """The regex fragment (without groups) matching one value of this key.

        ``proof``: the fragment as the overlap and ambiguity automata read it (see CHARS_PROOF_REGEX);
        it differs from the matching one only for a key with ``chars``.
        """
        pad = self.padding if padding is None else padding
        if self.type is KeyType.STR:
            if self.choices:
                return "(?:" + "|".join(re.escape(c) for c in sorted(self.choices, key=len, reverse=True)) + ")"
            if self.chars:
                return f"(?:{(CHARS_PROOF_REGEX if proof else CHARS_REGEX)[self.chars]})"
            return f"(?:{self.pattern or DEFAULT_STR_PATTERN})"
        if self.type is KeyType.INT:
            return _digits(pad, strict=self.strict)
        udim = self.type is KeyType.UDIM
        forms = [notation_regex(n, udim=udim, padding=pad, strict=self.strict) for n in self.accepted_notations]
        return "(?:" + "|".join(forms) + ")"

    # -- parse: text from a path -> typed value -------------------------------
    def parse(self, text: str) -> Any:
        """The typed value of ``text``, which already matched :meth:`regex`."""
        if self.type is KeyType.STR:
            return text
        if self.type is KeyType.INT:
            return int(text)
        if text[-1:].isdigit() and not text.startswith(("%", "$")):
            return int(text)
        return text

    # -- render: typed value -> text ------------------------------------------
    def render(self, value: Any, padding: int | None = None) -> str:
        """The text of ``value`` in a path; raises FieldValueError if it is invalid."""
        pad = self.padding if padding is None else padding
        if self.type is KeyType.STR:
            return self._render_str(value)
        if self.type is KeyType.INT:
            return self._render_int(value, pad)
        if self.type is KeyType.FRAME:
            return self._render_frame(value, pad)
        return self._render_udim(value)

    def _fail(self, value: Any, why: str) -> FieldValueError:
        return FieldValueError(f"invalid value {value!r} for key {self.name!r}: {why}")

    def _render_str(self, value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        reason = unsafe_reason(text) if text else "is empty"
        if reason:
            raise self._fail(text, reason)
        if self.case == "lower" and text != text.lower():
            raise self._fail(text, "must be lower case")
        if self.case == "upper" and text != text.upper():
            raise self._fail(text, "must be upper case")
        if self.choices:  # a choice matches the key's regex (the choices, escaped) by construction
            if text not in self.choices:
                raise self._fail(text, f"must be one of {', '.join(self.choices)}")
        elif not re.fullmatch(self.regex(), text, re.ASCII):
            wanted = f"{self.chars} characters" if self.chars else f"the pattern {self.pattern or DEFAULT_STR_PATTERN!r}"
            raise self._fail(text, f"does not match {wanted}")
        return text

    def _as_int(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self._fail(value, "must be an integer")
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if re.fullmatch(r"-?[0-9]+", text):
            return int(text)
        raise self._fail(value, "must be an integer")

    def _check_range(self, number: int) -> None:
        if self.minimum is not None and number < self.minimum:
            raise self._fail(number, f"must be at least {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise self._fail(number, f"must be at most {self.maximum}")

    def _render_int(self, value: Any, pad: int) -> str:
        number = self._as_int(value)
        if number < 0:
            raise self._fail(value, "must not be negative")
        self._check_range(number)
        return str(number).zfill(pad) if pad else str(number)

    def _render_frame(self, value: Any, pad: int) -> str:
        if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value.strip()):
            return self._frame_token(value, pad)
        number = self._as_int(value)
        self._check_range(number)
        sign = "-" if number < 0 else ""
        return sign + str(abs(number)).zfill(pad)

    def _frame_token(self, token: str, pad: int) -> str:
        """A frame notation in this key's padding (``#`` → ``####``, ``[1-100]`` → ``[0001-0100]``)."""
        return render_token(token, udim=False, notations=self.accepted_notations, padding=pad,
                            fail=lambda why: self._fail(token, why))

    def _render_udim(self, value: Any) -> str:
        if isinstance(value, str) and not re.fullmatch(r"[0-9]+", value.strip()):
            return render_token(value, udim=True, notations=self.accepted_notations, padding=4,
                                fail=lambda why: self._fail(value, why))
        number = self._as_int(value)
        if not 1001 <= number <= 9999:
            raise self._fail(value, "a UDIM tile is a number from 1001 to 9999, or a notation such as <UDIM>")
        return str(number)
