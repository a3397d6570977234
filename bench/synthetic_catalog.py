"""A large synthetic catalog for the search figures: entities and files written through ``Catalog.apply``.

No tree on disk: a real tree of a million files takes an hour to write on
ext4, and search reads only the catalog. The catalog is built as a scan
would build it (``Add`` actions with their entity chains, in the applier's
batches), then a sidecar's worth of authored data (description, tags, and
for versions a publish record with comment and user) is indexed for some of
the entities through ``Catalog.index_sidecar``, as a scan does for each
sidecar. So the search index is kept in step exactly as in production.

Layout per project: sequences × shots × tasks × versions, each version with
``frames`` frame files. Deterministic (seeded).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from bifrostd.authored import Authored, Publish, SidecarRead
from bifrostd.catalog import Catalog
from bifrostd.model import Add, Classification, EntityRow, FileState, Plan

TASKS = ("layout", "anim", "fx", "lighting", "comp")
WORDS = ("rooftop", "chase", "night", "hero", "crowd", "explosion", "rain", "forest", "truck", "dragon", "castle",
         "ocean", "sunset", "fight", "dialogue", "establishing", "closeup", "wide", "smoke", "fire")
USERS = ("ana", "bo", "chen", "dara", "emil", "farah")


@dataclass(frozen=True, slots=True)
class Shape:
    projects: int = 2
    sequences: int = 25
    shots: int = 40
    versions: int = 4
    frames: int = 10

    @property
    def entities(self) -> int:
        shots = self.projects * self.sequences * self.shots
        return self.projects * (1 + self.sequences) + shots * (1 + len(TASKS) * (1 + self.versions))

    @property
    def files(self) -> int:
        return self.projects * self.sequences * self.shots * len(TASKS) * self.versions * self.frames


def _row(kind: str, uri: str, name: str, keys: dict, parent: str | None) -> EntityRow:
    return EntityRow(kind, uri, name, json.dumps(keys, separators=(",", ":")), parent)


def _chains(shape: Shape) -> Iterator[tuple[tuple[EntityRow, ...], str]]:
    """Each version's entity chain (project down to version) and its folder."""
    for p in range(shape.projects):
        project = f"proj{p:02d}"
        prow = _row("project", f"bifrost:///project/{project}", project, {"project": project}, None)
        for q in range(shape.sequences):
            seq = f"sq{(q + 1) * 10:03d}"
            qrow = _row("sequence", f"bifrost:///sequence/{project}/{seq}", seq, {"sequence": seq}, prow.uri)
            for s in range(shape.shots):
                shot = f"sh{(s + 1) * 10:04d}"
                srow = _row("shot", f"bifrost:///shot/{project}/{seq}/{shot}", shot, {"shot": shot}, qrow.uri)
                for task in TASKS:
                    trow = _row("task", f"bifrost:///task/shot/{project}/{seq}/{shot}/{task}", task,
                                {"task": task}, srow.uri)
                    for v in range(1, shape.versions + 1):
                        vrow = _row("version", f"{trow.uri.replace('/task/', '/version/')}/{v}", str(v),
                                    {"version": v}, trow.uri)
                        folder = f"{project}/sequences/{seq}/{shot}/{task}/publish/v{v:03d}"
                        yield (prow, qrow, srow, trow, vrow), folder


def _adds(shape: Shape) -> Iterator[Add]:
    inode = 0
    for chain, folder in _chains(shape):
        stem = f"{chain[2].name}_{chain[3].name}_v{int(chain[4].name):03d}"
        pattern = f"{folder}/{stem}.####.exr"
        for frame in range(1001, 1001 + shape.frames):
            inode += 1
            state = FileState("projects", f"{folder}/{stem}.{frame}.exr", 4096, 1_700_000_000_000_000_000, inode, 1,
                              1000)
            fields = json.dumps({"frame": frame, "task": chain[3].name}, separators=(",", ":"))
            yield Add(state, Classification("shot_publish_render", fields, chain, pattern, frame))


def _authored(rng: random.Random, chain: tuple[EntityRow, ...]) -> Authored:
    words = " ".join(rng.sample(WORDS, 4))
    tags = tuple(rng.sample(WORDS, 2))
    if chain[-1].kind != "version":
        return Authored(description=f"{chain[-1].name}: {words}", tags=tags)
    publish = Publish(source=f"/work/{chain[-1].uri}.ma", template="shot_publish_render", user=rng.choice(USERS),
                      time="2026-12-06T00:00:00Z", comment=f"{words} for review")
    return Authored(tags=tags, publish=publish)


def build(path: Path, shape: Shape, *, authored_every: int = 5, batch: int = 50_000) -> dict[str, int]:
    """Write the catalog at ``path``; one entity in ``authored_every`` (shots, versions) gets a sidecar."""
    rng = random.Random(20261206)
    adds = list(_adds(shape))
    with Catalog.open(path, write=True) as catalog:
        for start in range(0, len(adds), batch):
            catalog.apply(Plan(tuple(adds[start:start + batch])), batch_size=20_000)
        sidecars = 0
        for n, (chain, folder) in enumerate(_chains(shape)):
            picks = [chain[:3]] if n % (len(TASKS) * shape.versions) == 0 else []  # each shot once
            picks += [chain] if n % authored_every == 0 else []
            for entity in picks:
                catalog.index_sidecar("projects", folder if entity is chain else folder.rsplit("/", 3)[0],
                                      SidecarRead(_authored(rng, entity)), entity)
                sidecars += 1
    return {"entities": shape.entities, "files": len(adds), "sidecars": sidecars}
