"""Frame and UDIM notations: the ways pipelines write "every frame" or "every tile".

A frame key matches a number (``1001``) or a notation standing for a whole
sequence: ``####``, ``@@@@``, ``%04d``, ``$F4``, a Flame range
``[1001-1100]`` or an RV/Nuke range ``1001-1100#``. A UDIM key matches a tile
(``1001``) or ``<UDIM>``, ``$UDIM``, ``<UVTILE>``, and ``####``/``%04d`` when
the set lists them in the key's ``notations``. A notation is kept as the text
found, so the field value itself says which notation it is and formats back
to the same text; :func:`notation_of` names it.

Invariant: for every notation, :func:`render_token` returns a value that
:func:`notation_regex` matches, and returns any text the regex matched
unchanged (parse∘format and format∘parse are identities).
"""

from __future__ import annotations

import re
from typing import Callable

#: Notation names a frame key accepts, in the order they are tried; all by default.
FRAME_NOTATIONS = ("number", "hash", "at", "printf", "houdini", "flame", "range")
#: Notation names a UDIM key may accept; ``hash`` and ``printf`` only when the set lists them.
UDIM_NOTATIONS = ("number", "mari", "houdini", "uvtile", "hash", "printf")
DEFAULT_UDIM_NOTATIONS = ("number", "mari", "houdini", "uvtile")

_UDIM_TOKENS = {"mari": "<UDIM>", "houdini": "$UDIM", "uvtile": "<UVTILE>"}


def digits(padding: int, *, strict: bool) -> str:
    """Regex for a non-negative integer written with ``padding`` digits.

    Strict matching (tk-core's default): exactly ``padding`` digits, or more
    digits without a leading zero for values that need them (``v1000`` passes
    ``{version:03}``, ``v0012`` and ``v12`` do not).
    """
    if not strict:
        return r"\d+"
    if padding <= 1:
        return r"(?:0|[1-9]\d*)"
    return rf"(?:\d{{{padding}}}|[1-9]\d{{{padding},}})"


def _placeholders(width: int) -> dict[str, str]:
    """The written form of each placeholder for ``width``-digit frames."""
    if width > 1:
        return {"hash": "#" * width, "at": "@" * width, "printf": f"%0{width}d", "houdini": f"$F{width}"}
    return {"hash": "#", "at": "@", "printf": "%d", "houdini": "$F"}


def notation_regex(notation: str, *, udim: bool, padding: int, strict: bool) -> str:
    """The regex fragment (no groups) of one notation of a frame (or UDIM) key."""
    width = 4 if udim else max(padding, 1)
    if notation == "number":
        return r"[1-9]\d{3}" if udim else "-?" + digits(padding, strict=strict)
    if udim and notation in _UDIM_TOKENS:
        return re.escape(_UDIM_TOKENS[notation])
    if notation in ("hash", "at", "printf", "houdini"):
        return re.escape(_placeholders(width)[notation])
    number = "-?" + digits(padding, strict=strict)
    if notation == "flame":
        return rf"\[{number}-{number}\]"
    tails = sorted({"#", "@", "#" * width, "@" * width}, key=len, reverse=True)
    return f"{number}-{number}(?:{'|'.join(tails)})"


_RANGE = re.compile(r"(\[)?(-?\d+)-(-?\d+)(\]|#+|@+)\Z")


def render_token(token: str, *, udim: bool, notations: tuple[str, ...], padding: int,
                 fail: Callable[[str], Exception]) -> str:
    """The text of a notation given as a field value, normalised to the key's padding.

    Short placeholders grow to the padding (``#`` → ``####``, ``$F`` → ``$F4``),
    range bounds are padded (``[1-100]`` → ``[0001-0100]``), ``UDIM`` and
    ``<udim>`` give ``<UDIM>``; anything else is refused with ``fail(why)``.
    """
    width = 4 if udim else max(padding, 1)
    written = _normalise(token, udim=udim, width=width, padding=padding)
    for notation in notations:
        if notation != "number" and re.fullmatch(notation_regex(notation, udim=udim, padding=padding, strict=True),
                                                 written):
            return written
    forms = [example(n, udim=udim, padding=padding) for n in notations if n != "number"]
    return _raise(fail(f"not a {'tile' if udim else 'frame'} number or one of the notations {', '.join(forms)}"))


def _raise(error: Exception) -> str:
    raise error


def _normalise(token: str, *, udim: bool, width: int, padding: int) -> str:
    if udim and token.upper() in ("UDIM", "<UDIM>"):
        return "<UDIM>"
    if udim and token.upper() == "<UVTILE>":
        return "<UVTILE>"
    short = {"#": "hash", "@": "at", "%d": "printf", "$F": "houdini"}
    if token in short and not udim:
        return _placeholders(width)[short[token]]
    found = _RANGE.match(token)
    if found is None or udim:
        return token
    bracket, first, last, tail = found.groups()
    return f"{bracket or ''}{_pad(first, padding)}-{_pad(last, padding)}{tail}"


def _pad(number: str, padding: int) -> str:
    value = int(number)
    return ("-" if value < 0 else "") + str(abs(value)).zfill(padding)


def example(notation: str, *, udim: bool, padding: int) -> str:
    """How ``notation`` is written, for messages and docs (``[1001-1100]``)."""
    width = 4 if udim else max(padding, 1)
    if udim and notation in _UDIM_TOKENS:
        return _UDIM_TOKENS[notation]
    if notation in ("hash", "at", "printf", "houdini"):
        return _placeholders(width)[notation]
    first, last = _pad("1001", padding), _pad("1100", padding)
    if notation == "flame":
        return f"[{first}-{last}]"
    if notation == "range":
        return f"{first}-{last}#"
    return "1001"


_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hash", re.compile(r"#+\Z")),
    ("at", re.compile(r"@+\Z")),
    ("printf", re.compile(r"%(?:0\d+)?d\Z")),
    ("houdini", re.compile(r"\$(?:F\d*|UDIM)\Z")),
    ("mari", re.compile(r"<UDIM>\Z")),
    ("uvtile", re.compile(r"<UVTILE>\Z")),
    ("flame", re.compile(r"\[-?\d+--?\d+\]\Z")),
    ("range", re.compile(r"-?\d+--?\d+(?:#+|@+)\Z")),
)


def notation_of(value: object) -> str | None:
    """The name of the notation a frame or UDIM field value is written in, or None for a number."""
    if not isinstance(value, str):
        return None
    return next((name for name, regex in _NAMES if regex.match(value)), None)
