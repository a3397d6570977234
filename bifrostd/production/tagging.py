"""Tags and links: changes to an entity's sidecar, checked first, written under its lock, then catalogued.

``bifrostctl tag``/``untag``/``link``/``unlink`` (and ``Studio.tag`` ...)
each compute a change of :class:`~bifrostd.authored.Authored` (pure: the
``with_*`` functions below), refuse bad input before anything is written
(:class:`~bifrostd.errors.AuthoredRefused`), then apply it with
``authored.update_sidecar``: read–modify–write under the sidecar's lock, so
two processes tagging one entity at once both land. The catalog follows as
it does for ``publish``: the sidecar is reconciled at once when no daemon
holds the catalog, else the daemon's watcher sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..authored import SIDECAR_NAME, Authored, Link, read_sidecar, update_sidecar
from ..errors import AuthoredRefused, SidecarBroken

__all__ = ["AuthoredChange", "change_sidecar", "check_tags", "with_links", "with_tags", "without_links",
           "without_tags"]

Change = Callable[[Authored], Authored]


def check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """The tags, each once, in order; AuthoredRefused for none, or for one that is not a word."""
    if not tags:
        raise AuthoredRefused("no tag given; nothing was written")
    for tag in tags:
        if not tag or any(c.isspace() for c in tag) or "\x00" in tag:
            raise AuthoredRefused(f"a tag is one word without spaces, not {tag!r}; nothing was written")
    return tuple(dict.fromkeys(tags))


def with_tags(tags: Sequence[str]) -> Change:
    added = check_tags(tags)
    return lambda data: replace(data, tags=tuple(dict.fromkeys((*data.tags, *added))))


def without_tags(tags: Sequence[str]) -> Change:
    gone = set(check_tags(tags))
    return lambda data: replace(data, tags=tuple(t for t in data.tags if t not in gone))


def with_links(links: Sequence[Link]) -> Change:
    return lambda data: replace(data, links=tuple(dict.fromkeys((*data.links, *links))))


def without_links(links: Sequence[Link]) -> Change:
    """Drop the links to each target; a link given with kind "" drops every kind of link to its target."""
    def change(data: Authored) -> Authored:
        def dropped(link: Link) -> bool:
            return any(g.target == link.target and g.kind in ("", link.kind) for g in links)
        return replace(data, links=tuple(link for link in data.links if not dropped(link)))
    return change


@dataclass(frozen=True, slots=True)
class AuthoredChange:
    """What a tag or link command did (or, with ``dry_run``, would do) to one entity's sidecar."""

    uri: str
    sidecar: str
    before: Authored
    after: Authored
    dry_run: bool = False
    #: How the catalog learnt of it: ``catalog``, ``daemon``, ``pending``; "" when nothing was written.
    recorded: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "sidecar": self.sidecar, "dry_run": self.dry_run, "changed": self.changed,
                "tags": list(self.after.tags), "links": [link.to_json() for link in self.after.links],
                "recorded": self.recorded or None}


def change_sidecar(uri: str, folder: str, change: Change, *, dry_run: bool = False) -> AuthoredChange:
    """Apply ``change`` to the sidecar in ``folder`` (the entity's, which must exist) under its lock; with
    ``dry_run``, only say what it would become. A broken sidecar raises SidecarBroken, writing nothing."""
    sidecar = str(Path(folder) / SIDECAR_NAME)
    if not Path(folder).is_dir():
        raise AuthoredRefused(f"{uri}: its folder {folder} does not exist; nothing was written")
    current = read_sidecar(folder)
    if current.data is None:
        raise SidecarBroken(sidecar, list(current.problems))
    if dry_run:
        return AuthoredChange(uri, sidecar, current.data, change(current.data), dry_run=True)
    seen: list[Authored] = []

    def recording(data: Authored) -> Authored:
        seen.append(data)
        return change(data)

    after = update_sidecar(folder, recording)
    return AuthoredChange(uri, sidecar, seen[-1], after)
