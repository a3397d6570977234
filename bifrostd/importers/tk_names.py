"""Names as ShotGrid Toolkit spells them, as Bifrost names.

tk-core names keys after ShotGrid entities and fields (``Shot``, ``sg_asset_type``, ``Step``) and
some configs use dotted names (``nuke.output``, ``Asset.sg_asset_type``). Bifrost names are letters,
digits and ``_``, and its entity kinds use lower-case fields (``shot``, ``asset_type``, ``task``).
:class:`Renamer` gives every source name one Bifrost name, never two source names the same one, and
lists each name it changed, so the mapping is visible in the import report.
"""

from __future__ import annotations

import re
from typing import Iterable

from .report import Renamed

__all__ = ["ENTITY_FIELDS", "Renamer", "bifrost_name", "unique_names"]

#: tk-core's well-known keys and the Bifrost field each fills (the fields of the default entity kinds).
ENTITY_FIELDS = {"Sequence": "sequence", "Shot": "shot", "Asset": "asset", "sg_asset_type": "asset_type",
                 "Step": "task", "version": "version", "name": "name"}


def bifrost_name(name: str) -> str:
    """``name`` with every character Bifrost names can't hold as ``_`` (``nuke.output`` → ``nuke_output``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def _wanted(name: str) -> str:
    """The Bifrost name ``name`` should get: its entity field (also as a dotted name's last part), or itself cleaned."""
    if name in ENTITY_FIELDS:
        return ENTITY_FIELDS[name]
    last = name.rsplit(".", 1)[-1]
    if "." in name and last in ENTITY_FIELDS:
        return ENTITY_FIELDS[last]
    return bifrost_name(name)


class Renamer:
    """One Bifrost name for each source name, assigned in the order the names are given.

    A source name that is already a valid Bifrost name keeps it when no earlier name took it;
    an entity field (``Shot`` → ``shot``) gives way to a source name spelt exactly so.
    """

    def __init__(self, names: Iterable[str]) -> None:
        ordered = list(dict.fromkeys(names))
        exact = {n for n in ordered if bifrost_name(n) == n}
        self._map: dict[str, str] = {}
        taken: set[str] = set()
        for name in sorted(ordered, key=lambda n: n not in exact):  # names kept as they are choose first
            wanted = _wanted(name)
            if wanted in exact and wanted != name:
                wanted = bifrost_name(name)  # 'Step' stays 'Step' when the config also has a 'task' key
            self._map[name] = _unique(wanted, taken)
            taken.add(self._map[name])

    def __call__(self, name: str) -> str:
        return self._map.get(name) or bifrost_name(name)

    def renamed(self) -> tuple[Renamed, ...]:
        return tuple(Renamed(source, target) for source, target in self._map.items() if source != target)


def unique_names(names: Iterable[str]) -> dict[str, str]:
    """Each name as a Bifrost name, distinct ones kept distinct: a valid name keeps itself, and
    ``a.b`` beside ``a_b`` becomes ``a_b_2``. In the order given."""
    ordered = list(dict.fromkeys(names))
    taken: set[str] = set()
    chosen: dict[str, str] = {}
    for name in sorted(ordered, key=lambda n: bifrost_name(n) != n):  # valid names choose first
        chosen[name] = _unique(bifrost_name(name), taken)
        taken.add(chosen[name])
    return {name: chosen[name] for name in ordered}


def _unique(wanted: str, taken: set[str]) -> str:
    candidate, number = wanted, 2
    while candidate in taken:
        candidate, number = f"{wanted}_{number}", number + 1
    return candidate
