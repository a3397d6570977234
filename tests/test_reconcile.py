"""Reconcile planning: idempotence, pruning safety and moves, checked by property tests on a real catalog."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.catalog import Catalog
from bifrostd.model import Add, DirState, FileState, FileStatus, Move, Vanish
from bifrostd.reconcile.plan import Observations, WalkScope, parent_dir, plan_catalog_changes, split_unchanged
from bifrostd.templates import load_template_set

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "templates" / "catalog"
TEMPLATES = load_template_set(DATA)

POOL = [
    "demo/sequences/sq010/sh0010/comp/render/v001/sh0010_comp_v001.1001.exr",
    "demo/sequences/sq010/sh0010/comp/render/v001/sh0010_comp_v001.1002.exr",
    "demo/sequences/sq010/sh0010/comp/render/v001/sh0010_comp_v001.1004.exr",
    "demo/sequences/sq010/sh0010/comp/render/v002/sh0010_comp_v002.1001.exr",
    "demo/sequences/sq010/sh0010/anim/work/sh0010_anim_v001.ma",
    "demo/sequences/sq010/sh0010/anim/work/sh0010_anim_main_v002.mb",
    "demo/sequences/sq010/sh0020/anim/work/sh0020_anim_v001.ma",
    "demo/assets/character/hero/rig/work/hero_rig_v001.ma",
    "demo/assets/character/hero/rig/work/notes.txt",
    "demo/.DS_Store",
    "demo/sequences/sq010/sh0020/anim/work/caf\udce9.ma",
    "readme.txt",
]


def ancestors(relative: str) -> list[str]:
    out, folder = [], parent_dir(relative)
    while True:
        out.append(folder)
        if not folder:
            return out
        folder = parent_dir(folder)


ALL_DIRS = sorted({d for p in POOL for d in ancestors(p)})

file_states = st.builds(
    lambda path, size, mtime, inode, digest: FileState("projects", path, size, mtime, inode, 1, 1000, digest),
    st.sampled_from(POOL), st.integers(0, 2), st.integers(0, 2), st.integers(1, 6), st.sampled_from([None, "a", "b"]),
)
snapshots = st.lists(file_states, max_size=len(POOL), unique_by=lambda s: s.relative)


def observe(files, *, skipped=frozenset()) -> Observations:
    """What a walk reports: files of skipped folders are not listed, so not observed."""
    listed = [d for d in ALL_DIRS if d not in skipped]
    seen = tuple(f for f in files if parent_dir(f.relative) not in skipped)
    scope = WalkScope(frozenset({"projects"}), frozenset(("projects", d) for d in listed),
                      frozenset(("projects", d) for d in skipped))
    return Observations(seen, scope, tuple(DirState("projects", d, 7) for d in ALL_DIRS))


def plan_and_apply(catalog: Catalog, observations: Observations):
    the_plan = plan_catalog_changes(catalog.view(observations.scope), observations, TEMPLATES)
    catalog.apply(the_plan)
    return the_plan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots, snapshots, st.booleans())
def test_leaving_unchanged_files_out_of_a_full_walk_plans_the_same(first, second, hashed):
    """A full walk plans only what differs from the compact signatures; the plan must not change.

    Observed files carry no hash here: the indexer hashes only after the split.
    """
    second = [replace(s, hash=None) for s in second]
    with tempfile.TemporaryDirectory() as folder, Catalog.open(Path(folder) / "c.db", write=True) as catalog:
        plan_and_apply(catalog, observe(first))
        walked = observe(second)
        whole = plan_catalog_changes(catalog.view(walked.scope, whole=True), walked, TEMPLATES)
        signatures = catalog.signatures(["projects"], TEMPLATES.fingerprint, hashed=hashed)
        rest, ids = split_unchanged(walked, signatures)
        split = plan_catalog_changes(catalog.records(["projects"], ids), rest, TEMPLATES)
        assert sorted(map(repr, split.actions)) == sorted(map(repr, whole.actions))
        assert (split.dirs, split.dirs_gone, split.findings) == (whole.dirs, whole.dirs_gone, whole.findings)
        if not hashed and second == [replace(s, hash=None) for s in first]:
            assert rest.files == () and ids == []  # an unchanged tree: nothing left to plan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots, snapshots)
def test_applying_a_plan_then_planning_again_is_empty(first, second):
    with tempfile.TemporaryDirectory() as folder, Catalog.open(Path(folder) / "c.db", write=True) as catalog:
        plan_and_apply(catalog, observe(first))
        plan_and_apply(catalog, observe(second))
        again = plan_catalog_changes(catalog.view(observe(second).scope), observe(second), TEMPLATES)
        assert again.actions == ()
        present = {r.relative: r for r in catalog.view(observe(second).scope, whole=True).records
                   if r.status is FileStatus.PRESENT}
        assert set(present) == {s.relative for s in second}
        for state in second:
            assert present[state.relative].signature == state.signature
        assert catalog.integrity() == "ok"


skipped_dirs = st.sets(st.sampled_from([d for d in ALL_DIRS if d]), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots, snapshots, skipped_dirs)
def test_a_pruned_walk_never_vanishes_files_in_folders_it_skipped(first, second, skipped):
    with tempfile.TemporaryDirectory() as folder, Catalog.open(Path(folder) / "c.db", write=True) as catalog:
        plan_and_apply(catalog, observe(first))
        pruned = plan_catalog_changes(catalog.view(observe(second, skipped=skipped).scope), observe(second, skipped=skipped),
                      TEMPLATES)
        for action in pruned.actions:
            if isinstance(action, (Vanish, Move)):
                assert parent_dir(action.record.relative) not in skipped
        catalog.apply(pruned)
        again = plan_catalog_changes(catalog.view(observe(second, skipped=skipped).scope), observe(second, skipped=skipped),
                     TEMPLATES)
        assert again.actions == ()


def state(path: str, inode: int, digest: str | None = None, size: int = 5) -> FileState:
    return FileState("projects", path, size, 1, inode, 1, 1000, digest)


@pytest.mark.parametrize(("before", "after", "kinds"), [
    (state(POOL[4], 1), state(POOL[5], 1), [Move]),                       # same inode and device
    (state(POOL[4], 1, "h"), state(POOL[5], 2, "h"), [Move]),             # same size and hash
    (state(POOL[4], 1, "h", size=0), state(POOL[5], 2, "h", size=0), [Add, Vanish]),  # empty files never pair
    (state(POOL[4], 1, "h"), state(POOL[5], 2, "g"), [Add, Vanish]),
])
def test_moves_are_recognised_by_inode_or_by_content(tmp_path, before, after, kinds):
    with Catalog.open(tmp_path / "c.db", write=True) as catalog:
        plan_and_apply(catalog, observe([before]))
        found = plan_catalog_changes(catalog.view(observe([after]).scope), observe([after]), TEMPLATES)
        assert sorted(type(a).__name__ for a in found.actions) == sorted(k.__name__ for k in kinds)


def test_a_folder_that_could_not_be_read_keeps_its_records(tmp_path):
    files = [state(POOL[4], 1), state(POOL[6], 2)]
    unreadable = parent_dir(POOL[4])
    with Catalog.open(tmp_path / "c.db", write=True) as catalog:
        plan_and_apply(catalog, observe(files))
        scope = WalkScope(frozenset({"projects"}), frozenset(("projects", d) for d in ALL_DIRS if d != unreadable),
                          failed=frozenset({("projects", unreadable)}))
        found = plan_catalog_changes(catalog.view(scope), Observations((files[1],), scope), TEMPLATES)
        assert found.actions == ()
