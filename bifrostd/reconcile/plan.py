"""Reconcile planning: what the catalog must change to agree with what a walk observed.

Pure: :func:`plan_catalog_changes` takes the catalog's view (records and remembered folders),
the observations of a walk and the template set, and returns a
:class:`~bifrostd.model.Plan`. It reads no file, no clock and no database, so
``bifrostctl scan --dry-run`` prints exactly what a scan would apply.

Invariants a reader could break:

- **Idempotent.** Applying a plan and planning again with the same
  observations gives a plan with no actions.
- **Only what was seen is judged.** A walk that skipped a folder (its mtime
  was unchanged) or could not read it says nothing about the files inside, so
  they are never marked vanished; a folder that the walk reached but did not
  find is gone, and so are the files under it.
- **Moves keep history.** A file that disappears at one path and appears at
  another with the same inode and device (and size), or the same size and
  content hash, is one :class:`~bifrostd.model.Move`, never a vanish plus an add.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ..errors import FieldValueError
from ..model import (
    UNMANAGED, Action, Add, CatalogView, Classification, DirState, EntityRow, FileRecord, FileState, FileStatus,
    Finding, FindingKind, KnownFile, Move, Observations, Plan, Rematch, RootDir, Update, Vanish, WalkScope, parent_dir,
)
from ..templates.compiled import CompiledTemplate
from ..templates.entities import Chain, Entity
from ..collector import gc_paused
from ..templates.templateset import Match, TemplateSet

def canonical_json(values: dict[str, Any]) -> str:
    """The stored form of typed fields: sorted keys, compact, stable across runs."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


# -- classification ---------------------------------------------------------------------
class Classifier:
    """Match paths and derive entities and sequences, caching what files share.

    Files of one frame sequence differ only by their frame, so everything but
    the frame (entity rows, sequence pattern, the fields' JSON around the
    frame) is computed once per sequence and kept; a frame costs a match and
    a string join. That holds only while the frame field identifies no
    entity, which is checked once here.
    """

    def __init__(self, template_set: TemplateSet) -> None:
        self.template_set = template_set
        self.kinds = template_set.entities
        self._entities: dict[Chain, tuple[EntityRow, ...]] = {}
        self._rows: dict[Chain, EntityRow] = {}
        self._sequences: dict[tuple[str, tuple[Any, ...]], str | None] = {}
        self._frames: dict[tuple[Any, ...], _SequenceParts] = {}
        self._frame_fields = {name: t.frame_field for name, t in template_set.templates.items()}
        identifying = _entity_fields(template_set)
        self._shared = {name: f for name, f in self._frame_fields.items() if f is not None and f not in identifying}

    def __call__(self, root: str, relative: str) -> Classification:
        found = self.template_set.match_relative(root, relative)
        if found is None:
            return UNMANAGED
        template = found.template
        if template is None:  # an ambiguous match
            return Classification(candidates=tuple(found.candidates))
        name = template.name
        frame_field = self._shared.get(name)
        if frame_field is not None:
            rest = dict(found.fields)
            frame = rest.pop(frame_field, None)
            if type(frame) is int:
                key = (name, *rest.items())
                shared = self._frames.get(key)
                if shared is None:
                    shared = self._frames[key] = self._sequence_parts(found, template, frame_field, rest)
                head, tail, entities, sequence = shared
                return Classification(name, f"{head}{frame}{tail}", entities, sequence, frame)
        return self._classify(found, template)

    def _classify(self, found: Match, template: CompiledTemplate) -> Classification:
        name = template.name
        fields = found.fields
        entities = self.entity_rows(found.entity) if found.entity is not None else ()
        frame_field = self._frame_fields.get(name)
        frame = fields.get(frame_field) if frame_field else None
        if frame_field is None or not isinstance(frame, int):
            return Classification(name, canonical_json(fields), entities)
        return Classification(name, canonical_json(fields), entities, self.sequence(found, template, frame_field), frame)

    def _sequence_parts(self, found: Match, template: CompiledTemplate, frame_field: str,
                        rest: dict[str, Any]) -> _SequenceParts:
        """(JSON before the frame, JSON after it, entity rows, sequence pattern) of a frame's sequence."""
        head, tail = canonical_json({**rest, frame_field: _MARK}).split(_MARK_JSON)
        entities = self.entity_rows(found.entity) if found.entity is not None else ()
        return head, tail, entities, self.sequence(found, template, frame_field)

    def sequence(self, found: Match, template: CompiledTemplate, frame_field: str) -> str | None:
        """The sequence's pattern (the path with ``####`` for the frame), computed once per sequence."""
        key = (template.name, tuple(v for k, v in found.fields.items() if k != frame_field))
        try:
            return self._sequences[key]
        except KeyError:
            pass
        pattern: str | None
        try:
            pattern = template.format({**found.fields, frame_field: "#"})
        except FieldValueError:  # a value the template can't write back: no sequence, not a crash
            pattern = None
        self._sequences[key] = pattern
        return pattern

    def entity_rows(self, entity: Entity) -> tuple[EntityRow, ...]:
        rows = self._entities.get(entity.chain)
        if rows is None:
            rows = tuple(self._row(e) for e in entity.ancestry())
            self._entities[entity.chain] = rows
        return rows

    def _row(self, entity: Entity) -> EntityRow:
        """One entity's row, cached: the ancestors of many versions are the same few shots."""
        row = self._rows.get(entity.chain)
        if row is None:
            row = self._rows[entity.chain] = self._new_row(entity)
        return row

    def _new_row(self, entity: Entity) -> EntityRow:
        parent = entity.parent()
        own = dict(entity.chain[-1][1])
        return EntityRow(entity.kind, entity.uri(self.kinds), entity.name, canonical_json(own),
                         parent.uri(self.kinds) if parent else None)


#: What the frames of one sequence share: (JSON before the frame, JSON after it, entity rows, sequence pattern)
_SequenceParts = tuple[str, str, tuple[EntityRow, ...], "str | None"]

#: Stands for the frame while the JSON around it is built; no path holds a NUL.
_MARK = "\x00frame\x00"
_MARK_JSON = json.dumps(_MARK)


def _entity_fields(template_set: TemplateSet) -> set[str]:
    """The fields that identify some entity kind."""
    keys = template_set.keys
    return {keys[k].field if k in keys else k for kind in template_set.entities.values() for k in kind.keys}


# -- planning ---------------------------------------------------------------------------
def split_unchanged(observations: Observations,
                    signatures: Mapping[str, Mapping[str, KnownFile]]) -> tuple[Observations, list[int]]:
    """Drop the files a full walk found exactly as catalogued; (the rest, ids of records still to plan).

    ``signatures`` is ``{root: {relative: KnownFile}}`` (``Catalog.signatures``).
    A file whose record is settled (present, derived with the current
    templates, hashed if hashing) and whose size, mtime, inode, device and
    owner are unchanged would get no action from :func:`plan_catalog_changes`,
    so it and its record are left out of planning: a full rescan of an
    unchanged tree then costs one comparison per file. The ids returned are
    every other record, so planning the rest gives the same plan as planning
    everything. This is the rule's plain statement, which the property tests
    hold planning to; a full walk applies it in its listing loop
    (``observe.walk`` given ``known``), where no object is made for an
    unchanged file.
    """
    kept: list[FileState] = []
    unchanged: set[int] = set()
    empty: dict[str, KnownFile] = {}
    with gc_paused():
        for observed in observations.files:
            sig = signatures.get(observed.root, empty).get(observed.relative)
            if sig is not None and sig[2:] == (observed.size, observed.mtime_ns, observed.inode, observed.device,
                                               observed.uid):
                unchanged.add(sig[1])
            else:
                kept.append(observed)
        ids = [sig[1] for records in signatures.values() for sig in records.values() if sig[1] not in unchanged]
    return replace(observations, files=tuple(kept)), ids



def needs_hash(record: FileRecord | None, observed: FileState) -> bool:
    """Lazy hashing: only new files, changed files and files never hashed are read."""
    if record is None or record.hash is None or record.status is not FileStatus.PRESENT:
        return True
    return record.signature != observed.signature or record.device != observed.device


def plan_catalog_changes(view: CatalogView, observations: Observations, template_set: TemplateSet, *,
         classifier: Classifier | None = None) -> Plan:
    """The catalog changes that make ``view`` agree with ``observations``.

    Runs with the cyclic collector paused: it builds hundreds of thousands
    of small objects and no cycles, and each collection would rescan them all.
    """
    with gc_paused():
        return _plan(view, observations, template_set, classifier or Classifier(template_set))


def _plan(view: CatalogView, observations: Observations, template_set: TemplateSet, classify: Classifier) -> Plan:
    fingerprint = template_set.fingerprint
    records = {(r.root, r.relative): r for r in view.records}
    actions: list[Action] = []
    findings = list(observations.findings)
    new: list[tuple[FileState, Classification]] = []
    for observed in observations.files:
        key = (observed.root, observed.relative)
        classification = classify(*key)
        if classification.candidates:
            findings.append(_ambiguous(observed, classification))
        record = records.pop(key, None)
        if record is None:
            new.append((observed, classification))
        else:
            actions.extend(compare(record, observed, classification, fingerprint))
    gone = [r for r in records.values() if _gone(observations.scope, r)]
    actions.extend(pair_moves(new, gone, fingerprint))
    return Plan(tuple(actions), tuple(findings), _dirs(view, observations), _dirs_gone(view, observations.scope),
                fingerprint)


def compare(record: FileRecord, observed: FileState, classification: Classification, fingerprint: str) -> list[Action]:
    """Update and/or Rematch for a path that is both catalogued and observed."""
    out: list[Action] = []
    same_file = record.signature == observed.signature and record.device == observed.device
    new_hash = (observed.hash or record.hash) if same_file else observed.hash
    reappeared = record.status is not FileStatus.PRESENT
    if reappeared or not same_file or record.uid != observed.uid or new_hash != record.hash:
        out.append(Update(record, observed, new_hash, reappeared))
    if record.fingerprint != fingerprint or not record.classification.same_as(classification):
        out.append(Rematch(record, classification, fingerprint))
    return out


def _gone(scope: WalkScope, record: FileRecord) -> bool:
    """Candidates for vanishing or moving: present and proven gone, or already missing."""
    if record.status is not FileStatus.PRESENT:
        return record.root in scope.roots
    return scope.absence_proves_gone(record.root, parent_dir(record.relative))


def pair_moves(new: list[tuple[FileState, Classification]], gone: list[FileRecord], fingerprint: str) -> list[Action]:
    """Moves for new files that match a gone record; Adds and Vanishes for the rest."""
    by_inode: dict[tuple[int, int, int], FileRecord] = {}
    by_hash: dict[tuple[int, str], FileRecord] = {}
    for record in sorted(gone, key=lambda r: (r.status is not FileStatus.PRESENT, r.id)):
        by_inode.setdefault((record.device, record.inode, record.size), record)
        if record.hash and record.size > 0:
            by_hash.setdefault((record.size, record.hash), record)
    used: set[int] = set()
    actions: list[Action] = []
    for observed, classification in new:
        source = _move_source(observed, by_inode, by_hash, used)
        if source is None:
            actions.append(Add(observed, classification))
            continue
        used.add(source.id)
        unchanged = (source.size, source.mtime_ns) == (observed.size, observed.mtime_ns)
        hash_ = observed.hash or (source.hash if unchanged else None)
        actions.append(Move(source, observed, hash_, classification))
    actions.extend(Vanish(r) for r in gone if r.id not in used and r.status is FileStatus.PRESENT)
    return actions


def _move_source(observed: FileState, by_inode: dict[tuple[int, int, int], FileRecord],
                 by_hash: dict[tuple[int, str], FileRecord], used: set[int]) -> FileRecord | None:
    record = by_inode.get((observed.device, observed.inode, observed.size))
    if record is not None and record.id not in used:
        return record
    if observed.hash and observed.size > 0:
        record = by_hash.get((observed.size, observed.hash))
        if record is not None and record.id not in used:
            return record
    return None


def _ambiguous(observed: FileState, classification: Classification) -> Finding:
    names = ", ".join(classification.candidates)
    if len(classification.candidates) == 1:
        return Finding(FindingKind.AMBIGUOUS_MATCH, observed.root, observed.relative,
                       f"reads two ways under template {names} (bifrostctl resolve shows both); rename the file, "
                       "or declare which reading wins ('readings: longest-first' or 'shortest-first')")
    return Finding(FindingKind.AMBIGUOUS_MATCH, observed.root, observed.relative,
                   f"matches several templates of equal priority ({names}); give one a higher priority")


def _dirs(view: CatalogView, observations: Observations) -> tuple[DirState, ...]:
    listed = observations.scope.listed
    return tuple(d for d in observations.dirs
                 if (d.root, d.relative) in listed and view.dirs.get((d.root, d.relative)) != d.mtime_ns)


def _dirs_gone(view: CatalogView, scope: WalkScope) -> tuple[RootDir, ...]:
    """Remembered folders the walk reached the parent of but did not find."""
    visited = scope.visited
    return tuple(sorted(key for key in view.dirs
                        if key not in visited and key[1] and scope.absence_proves_gone(key[0], parent_dir(key[1]))))


def summary(plan_: Plan) -> dict[str, int]:
    """Counts per action kind, for progress lines and scan records."""
    return {"added": plan_.count(Add), "changed": plan_.count(Update), "moved": plan_.count(Move),
            "vanished": plan_.count(Vanish), "rematched": sum(1 for a in plan_.actions if isinstance(a, Rematch) and a.changed)}


# -- template changes as migrations -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class TemplateChange:
    """What re-deriving the catalog's records with another template set would change.

    Each list holds the Rematch actions of one category; ``refresh`` are
    records whose derivation is unchanged but was made with another set.
    """

    fingerprint: str
    changed_entity: tuple[Rematch, ...] = ()
    became_unmanaged: tuple[Rematch, ...] = ()
    newly_managed: tuple[Rematch, ...] = ()
    changed_fields: tuple[Rematch, ...] = ()
    refresh: int = 0

    @property
    def changes(self) -> int:
        return len(self.changed_entity) + len(self.became_unmanaged) + len(self.newly_managed) + len(self.changed_fields)

    def actions(self) -> tuple[Rematch, ...]:
        return self.changed_entity + self.became_unmanaged + self.newly_managed + self.changed_fields


def plan_template_change(records: Iterable[FileRecord], template_set: TemplateSet) -> TemplateChange:
    """Classify every present record with ``template_set``, sorted into what would change."""
    classify = Classifier(template_set)
    fingerprint = template_set.fingerprint
    groups: dict[str, list[Rematch]] = {"entity": [], "unmanaged": [], "managed": [], "fields": []}
    refresh = 0
    for record in records:
        now = classify(record.root, record.relative)
        before = record.classification
        if before.same_as(now):
            refresh += record.fingerprint != fingerprint
            continue
        groups[_change_kind(before, now)].append(Rematch(record, now, fingerprint))
    return TemplateChange(fingerprint, tuple(groups["entity"]), tuple(groups["unmanaged"]),
                          tuple(groups["managed"]), tuple(groups["fields"]), refresh)


def _change_kind(before: Classification, now: Classification) -> str:
    if before.template is not None and now.template is None:
        return "unmanaged"
    if before.template is None:
        return "managed"
    if before.entity_uri != now.entity_uri:
        return "entity"
    return "fields"
