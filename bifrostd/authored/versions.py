"""What a version's sidecar says about the version: how it was published, and whether it is deprecated.

Pure values and their checking. A publish writes the ``publish:`` block
once, into the version folder's sidecar, last of all (so a version with the
block is a whole one); ``bifrostctl version deprecate`` and ``undeprecate``
set ``deprecated:`` and record who, when and why in ``deprecation:``.
Nothing here touches the disk: :mod:`.model` calls :func:`check_publish`
and :func:`check_deprecation` while it checks the whole document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Deprecation", "Publish", "PublishedFile", "check_deprecation", "check_publish"]

#: Reports one problem: (key, message).
Report = Callable[[str, str], None]

_PUBLISH_KEYS = ("source", "template", "user", "comment", "time", "frames", "files")
_FILE_KEYS = ("path", "size", "xxh3")
_DEPRECATION_KEYS = ("user", "time", "comment")


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """One published file: its path relative to the version folder, its size and its xxh3-128 (hex)."""

    path: str
    size: int
    xxh3: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "xxh3": self.xxh3}


@dataclass(frozen=True, slots=True)
class Publish:
    """Who published a version, from what, when and why, and the files it holds.

    ``source`` is the work file (or a frame sequence's pattern, ``####`` for
    the frame) as the publisher named it; ``frames`` the frames of a
    sequence (``1001-1100``), empty for a single file; ``time`` is UTC ISO
    8601; ``user`` the publisher's login name, from the uid.
    """

    source: str
    template: str
    user: str
    time: str
    comment: str = ""
    frames: str = ""
    files: tuple[PublishedFile, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source, "template": self.template, "user": self.user}
        if self.comment:
            doc["comment"] = self.comment
        doc["time"] = self.time
        if self.frames:
            doc["frames"] = self.frames
        doc["files"] = [f.to_json() for f in self.files]
        return doc


@dataclass(frozen=True, slots=True)
class Deprecation:
    """Who last deprecated (or undeprecated) a version, when (UTC ISO 8601) and why."""

    user: str
    time: str
    comment: str = ""

    def to_json(self) -> dict[str, Any]:
        doc = {"user": self.user, "time": self.time}
        if self.comment:
            doc["comment"] = self.comment
        return doc


def check_publish(plain: Any, report: Report) -> Publish | None:
    """The ``publish:`` block as a :class:`Publish`, or None after reporting what is wrong with it."""
    if not isinstance(plain, dict):
        report("publish", "must be a mapping with source, template, user, time and files")
        return None
    unknown = sorted(set(plain) - set(_PUBLISH_KEYS))
    if unknown:
        report(f"publish.{unknown[0]}", f"unknown key; known: {', '.join(_PUBLISH_KEYS)}")
        return None
    text = {k: plain.get(k, "") for k in ("source", "template", "user", "time", "comment", "frames")}
    for key in ("source", "template", "user", "time"):
        if not isinstance(text[key], str) or not text[key]:
            report(f"publish.{key}", "missing, or not text")
            return None
    if not isinstance(text["comment"], str) or not isinstance(text["frames"], str):
        report("publish", "comment and frames must be text")
        return None
    files = _files(plain.get("files"), report)
    if files is None:
        return None
    return Publish(text["source"], text["template"], text["user"], text["time"], text["comment"], text["frames"],
                   files)


def _files(plain: Any, report: Report) -> tuple[PublishedFile, ...] | None:
    if not isinstance(plain, list):
        report("publish.files", "must be a list of {path, size, xxh3}")
        return None
    files = []
    for item in plain:
        if (not isinstance(item, dict) or set(item) != set(_FILE_KEYS) or not isinstance(item["path"], str)
                or not isinstance(item["size"], int) or isinstance(item["size"], bool)
                or not isinstance(item["xxh3"], str)):
            report("publish.files", f"a file is {{path: TEXT, size: NUMBER, xxh3: HEX}}, not {item!r}")
            return None
        files.append(PublishedFile(item["path"], item["size"], item["xxh3"]))
    return tuple(files)


def check_deprecation(flag: Any, plain: Any, report: Report) -> tuple[bool, Deprecation | None]:
    """``deprecated:`` (true or false) and the ``deprecation:`` block (who, when, why) as values."""
    deprecated = False if flag is None else flag
    if not isinstance(deprecated, bool):
        report("deprecated", f"must be true or false, not {flag!r}")
        deprecated = False
    if plain is None:
        return deprecated, None
    if (not isinstance(plain, dict) or set(plain) - set(_DEPRECATION_KEYS)
            or not all(isinstance(plain.get(k), str) and plain.get(k) for k in ("user", "time"))
            or not isinstance(plain.get("comment", ""), str)):
        report("deprecation", "must be {user: NAME, time: ISO-TIME, comment: TEXT}")
        return deprecated, None
    return deprecated, Deprecation(plain["user"], plain["time"], plain.get("comment", ""))
