"""The reconcile pipeline shared by scans and dirty batches: the same change gives the same catalog either way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bifrostd.catalog import Catalog
from bifrostd.model import FindingKind, RehashScope
from bifrostd.observe.settle import Dirty
from bifrostd.reconcile.dirty import apply_dirty
from bifrostd.reconcile.scan import ScanOptions, scan

from studio_tree import age_tree, load, make_tree, write, write_config

ROOT = "projects"
FILE_COLUMNS = "path, state, size, mtime_ns, inode, device, hash, template, fields, frame, fingerprint"


def edit(tree: Path, made: list[str]) -> list[str]:
    write(tree / made[0], b"edited in place")
    return [made[0]]


def add(tree: Path, made: list[str]) -> list[str]:
    new = made[1].replace(".1001.", ".1099.")
    write(tree / new, b"a new frame")
    return [new]


def delete(tree: Path, made: list[str]) -> list[str]:
    (tree / made[2]).unlink()
    return [made[2]]


def move(tree: Path, made: list[str]) -> list[str]:
    target = made[0].replace("_v001.ma", "_v007.ma")
    os.rename(tree / made[0], tree / target)
    return [made[0], target]


def edit_behind_the_same_mtime(tree: Path, made: list[str]) -> list[str]:
    """Same size and mtime, other content: only a rehash (a scrub) can see it."""
    path = tree / made[1]
    before = path.stat()
    path.write_bytes(bytes(b ^ 1 for b in path.read_bytes()))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return [made[1]]


@pytest.fixture
def twins(tmp_path):
    """The studio's catalog and a twin catalog elsewhere, both from one first scan of the same tree."""
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=2, versions=1, frames=3)
    age_tree(tree)
    config = write_config(tmp_path, tree)
    loaded, template_set = load(config)
    (tmp_path / "twin").mkdir()
    paths = (loaded.catalog_path, tmp_path / "twin" / "catalog.db")
    for path in paths:
        with Catalog.open(path, write=True) as catalog:
            assert scan(catalog, template_set, ScanOptions()).applied
    return tree, made, template_set, paths


def contents(path: Path, since_event: int) -> tuple[list[tuple], list[tuple]]:
    """The file records (what a reader sees) and the events logged after ``since_event``, without ids or clocks."""
    with Catalog.open(path) as catalog:
        files = catalog._conn.execute(f"SELECT {FILE_COLUMNS} FROM files ORDER BY path").fetchall()
        logged = catalog.events(limit=10**6)
    events = sorted(((e.kind, e.relative, e.old_relative) for e in logged if e.id > since_event),
                    key=lambda e: (e[0], e[1], e[2] or ""))
    return files, events


def last_event(path: Path) -> int:
    with Catalog.open(path) as catalog:
        return catalog._conn.execute("SELECT max(id) FROM events").fetchone()[0]


@pytest.mark.parametrize("change", [edit, add, delete, move, edit_behind_the_same_mtime], ids=lambda c: c.__name__)
def test_a_dirty_batch_and_a_scan_of_the_same_change_leave_the_same_catalog(twins, change):
    tree, made, template_set, (scanned, watched) = twins
    marks = last_event(scanned), last_event(watched)
    changed = change(tree, made)
    rehash = change is edit_behind_the_same_mtime
    with Catalog.open(scanned, write=True) as catalog:
        options = ScanOptions(full=True, rehash=RehashScope(folders=frozenset({(ROOT, "")})) if rehash else None)
        by_scan = scan(catalog, template_set, options)
    with Catalog.open(watched, write=True) as catalog:
        by_batch = apply_dirty(catalog, template_set, ROOT, [Dirty(ROOT, p) for p in changed], settle_ns=0,
                               rehash=rehash)
    assert by_batch.young == ()
    assert by_batch.counts == {k: v for k, v in by_scan.counts.items() if k in by_batch.counts}
    assert sorted(by_batch.findings, key=repr) == sorted(by_scan.plan.findings, key=repr)
    assert sum(by_batch.counts.values()) > 0
    if rehash:
        assert [f.kind for f in by_batch.findings] == [FindingKind.CHANGED_UNDER_SAME_MTIME]
    assert contents(watched, marks[1]) == contents(scanned, marks[0])
