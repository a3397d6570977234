"""Scanning real trees into a real catalog: bulk index, lazy hashing, moves, pruning, odd names."""

from __future__ import annotations

import os
import shutil

import pytest

from bifrostd.catalog import Catalog
from bifrostd.observe.hashing import HashOutcome, HashStatus, hash_many

from studio_tree import age_tree, load, make_tree, scan, write, write_config


@pytest.fixture
def studio(tmp_path):
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=3, versions=2, frames=10, gap=1005)
    age_tree(tree)
    return tree, write_config(tmp_path, tree), made


def reader(config):
    return Catalog.open(load(config)[0].catalog_path)


def test_first_scan_indexes_every_file_entity_and_sequence(studio):
    tree, config, made = studio
    report = scan(config)
    assert report.counts["added"] == len(made)
    assert report.counts["hashed"] == len(made)
    with reader(config) as catalog:
        found = catalog.status()
        assert found.files == {"present": len(made)}
        assert found.entities == {"project": 1, "sequence": 1, "shot": 3, "task": 6, "version": 12}
        assert found.unmanaged == 2
        gaps = catalog.gaps()
        assert len(gaps) == 6 and {g.missing for g in gaps} == {"1005"}
        assert {(g.first, g.last, g.count) for g in gaps} == {(1001, 1010, 9)}
        assert catalog.integrity() == "ok"


def test_a_rescan_of_an_unchanged_tree_lists_nothing_and_changes_nothing(studio):
    tree, config, made = studio
    scan(config)
    report = scan(config)
    assert report.plan.empty
    assert report.counts["dirs_listed"] == 0 and report.counts["dirs_skipped"] > 0
    assert report.counts["hashed"] == 0


def test_hashing_is_lazy(studio):
    tree, config, made = studio
    scan(config)
    calls: list[str] = []

    def spy(items, *, workers):
        calls.extend(path for path, _ in items)
        return hash_many(items, workers=workers)

    assert scan(config, full=True, hasher=spy).plan.empty
    assert calls == []
    target = tree / made[0]
    write(target, b"new content")
    report = scan(config, full=True, hasher=spy)
    assert calls == [str(target)]
    assert report.counts["changed"] == 1


def test_a_torn_read_records_no_hash_and_is_retried_by_the_next_scan(studio):
    tree, config, made = studio

    def torn(items, *, workers):
        return [HashOutcome(str(p), HashStatus.CHANGED, message="changed while read") for p, _ in items]

    report = scan(config, hasher=torn)
    assert report.counts["hash_retries"] == len(made)
    assert any(f.kind.value == "changed-while-reading" for f in report.plan.findings)
    with reader(config) as catalog:
        assert catalog._conn.execute("SELECT count(*) FROM files WHERE hash IS NOT NULL").fetchone()[0] == 0
        assert catalog._conn.execute("SELECT count(*) FROM dirs WHERE mtime_ns != -1").fetchone()[0] > 0
    report = scan(config)  # not --full: the folders of torn files are listed again
    assert report.counts["hashed"] == len(made)
    with reader(config) as catalog:
        assert catalog._conn.execute("SELECT count(*) FROM files WHERE hash IS NULL").fetchone()[0] == 0


def test_files_that_vanish_between_the_walk_and_hashing_are_not_recorded_as_present(studio):
    tree, config, made = studio
    known, fresh = tree / made[0], tree / made[1]
    scan(config, full=True)
    write(known, b"edited, then deleted before it was read")
    write(tree / "demo/sequences/sq010/new_notes.txt", b"new, then deleted")

    def deleting(items, *, workers):  # someone deletes the files after the walk listed them
        for path, _ in items:
            os.unlink(path)
        return hash_many(items, workers=workers)

    report = scan(config, full=True, hasher=deleting)
    assert report.counts["added"] == 0 and report.counts["vanished"] == 1
    assert sorted(f.relative for f in report.plan.findings if f.kind.value == "vanished") == sorted(
        [made[0], "demo/sequences/sq010/new_notes.txt"])
    with reader(config) as catalog:
        states = dict(catalog._conn.execute("SELECT path, state FROM files"))
        assert states[made[0]] == "missing" and "demo/sequences/sq010/new_notes.txt" not in states
        assert states[made[1]] == "present" and fresh.exists()
    assert scan(config, full=True).plan.empty


def test_a_rename_is_a_move_that_keeps_the_record_and_its_history(studio):
    tree, config, made = studio
    scan(config)
    old = "demo/sequences/sq010/notes.txt"
    new = "demo/sequences/notes-moved.txt"
    with reader(config) as catalog:
        file_id = catalog._conn.execute("SELECT id FROM files WHERE path = ?", (old,)).fetchone()[0]
    os.rename(tree / old, tree / new)
    report = scan(config)
    assert report.counts["moved"] == 1 and report.counts["added"] == 0 and report.counts["vanished"] == 0
    with reader(config) as catalog:
        conn = catalog._conn
        assert conn.execute("SELECT id FROM files WHERE path = ?", (new,)).fetchone()[0] == file_id
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events WHERE file_id = ? ORDER BY id", (file_id,))]
        assert kinds == ["appeared", "moved"]


def test_a_copied_then_deleted_file_is_a_move_by_content_hash(studio):
    tree, config, made = studio
    scan(config)
    source = tree / made[0]
    target = tree / "demo/sequences/sq010/copy.ma"
    shutil.copy2(source, target)
    source.unlink()
    report = scan(config)
    assert (report.counts["moved"], report.counts["added"], report.counts["vanished"]) == (1, 0, 0)


def test_moving_a_version_folder_moves_its_files_to_the_new_entity(studio):
    tree, config, made = studio
    scan(config)
    folder = tree / "demo/sequences/sq010/sh0010/comp/render"
    os.rename(folder / "v002", folder / "v009")
    for path in (folder / "v009").iterdir():
        path.rename(path.with_name(path.name.replace("_v002.", "_v009.")))
    report = scan(config)
    assert report.counts["moved"] == 9 and report.counts["vanished"] == 0
    with reader(config) as catalog:
        version = catalog.entity_by_uri("bifrost:///version/shot/demo/sq010/sh0010/comp/9")
        assert version is not None and version.files == 9
        old = catalog.entity_by_uri("bifrost:///version/shot/demo/sq010/sh0010/comp/2")
        assert old.files == 0  # kept, with its history, but empty


def test_deleted_files_and_folders_vanish_and_come_back(studio):
    tree, config, made = studio
    scan(config)
    shutil.rmtree(tree / "demo/sequences/sq010/sh0020")
    report = scan(config)
    assert report.counts["vanished"] == 2 * (1 + 9)
    with reader(config) as catalog:
        assert catalog.count_missing() == 20
        assert catalog._conn.execute("SELECT count(*) FROM dirs WHERE path LIKE '%sh0020%'").fetchone()[0] == 0
    make_tree(tree, shots=3, versions=2, frames=10, gap=1005)
    report = scan(config)
    reappeared = [a for a in report.plan.actions if getattr(a, "reappeared", False)]
    assert len(reappeared) == 20  # the records come back with their ids
    with reader(config) as catalog:
        assert catalog.count_missing() == 0


def test_files_in_unlisted_folders_are_not_marked_vanished(studio):
    tree, config, made = studio
    scan(config)
    write(tree / "demo/sequences/sq010/sh0010/new.txt")  # only this folder's mtime changes
    report = scan(config)
    assert report.counts == {**report.counts, "added": 1, "vanished": 0}
    assert report.counts["dirs_listed"] == 1


def test_non_utf8_names_round_trip_through_the_catalog(studio):
    tree, config, made = studio
    raw_name = b"demo/sequences/sq010/caf\xe9_\xff.txt"
    with open(os.fsencode(tree) + b"/" + raw_name, "wb") as handle:
        handle.write(b"latin-1 name")
    report = scan(config)
    assert report.counts["added"] == len(made) + 1
    relative = os.fsdecode(raw_name)
    with reader(config) as catalog:
        records = {r.relative: r for r in catalog.present_records()}
        assert relative in records and records[relative].hash is not None
        path, raw = catalog._conn.execute("SELECT path, raw FROM files WHERE raw != x''").fetchone()
        assert raw == raw_name and path == "demo/sequences/sq010/caf\\xe9_\\xff.txt"
    assert scan(config, full=True).plan.empty
    os.unlink(os.fsencode(tree) + b"/" + raw_name)
    assert scan(config).counts["vanished"] == 1


def test_a_template_change_is_planned_then_applied_as_rematches(studio, tmp_path):
    tree, config, made = studio
    scan(config)
    studio_yaml = tmp_path / "templates" / "studio.yaml"
    text = studio_yaml.read_text().replace("  shot_review:", "  shot_notes: {path: '{project}/sequences/{sequence}/notes.txt'}\n  shot_review:")
    studio_yaml.write_text(text)
    from bifrostd.reconcile.plan import plan_template_change

    _, template_set = load(config)
    with reader(config) as catalog:
        change = plan_template_change(catalog.present_records(), template_set)
    assert [a.record.relative for a in change.newly_managed] == ["demo/sequences/sq010/notes.txt"]
    assert change.refresh == len(made) - 1
    report = scan(config, full=True)
    assert report.counts["rematched"] == 1
    assert scan(config, full=True).plan.empty


@pytest.mark.parametrize("full", [False, True])
def test_an_empty_root_is_taken_for_an_absent_mount_not_for_every_file_deleted(studio, tmp_path, full):
    tree, config, made = studio
    scan(config)
    os.rename(tree, tmp_path / "away")  # the share is not mounted: an empty mount point is left
    tree.mkdir()
    write(tree / "render.log", b"an app writing into the empty mount point")
    report = scan(config, full=full)
    assert report.counts["vanished"] == 0 and report.plan.empty
    assert [(f.kind.value, f.relative) for f in report.plan.findings] == [("root-empty", ".")]
    with reader(config) as catalog:
        assert catalog.status().files == {"present": len(made)}
    shutil.rmtree(tree)
    os.rename(tmp_path / "away", tree)  # mounted again: nothing to do
    assert scan(config, full=True).plan.empty
    shutil.rmtree(tree)
    tree.mkdir()
    (tree / "archive").mkdir()  # emptied on purpose: a folder says the root is there
    assert scan(config, full=full).counts["vanished"] == len(made)


def _sqlite_steps_of_a_rescan(config) -> int:
    """How many SQLite VM steps a rescan of an unchanged tree runs (counted in hundreds)."""
    from bifrostd.reconcile.scan import ScanOptions
    from bifrostd.reconcile.scan import scan as run_scan

    loaded, template_set = load(config)
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    with Catalog.open(loaded.catalog_path, write=True) as catalog:
        catalog._conn.set_progress_handler(count, 100)
        report = run_scan(catalog, template_set, ScanOptions(hash_files=False))
    assert report.plan.empty and report.counts["dirs_listed"] == 0
    return steps[0]


@pytest.mark.parametrize("missing", [False, True])
def test_a_pruned_rescan_costs_per_folder_not_per_record(tmp_path, missing):
    """The same folders holding 5 or 150 frames each: a rescan that lists nothing reads the catalog by folder
    (remembered folders, one index seek per folder that holds records, the few missing records), so 30 times
    the records cost about the same."""
    steps = {}
    for frames in (5, 150):
        base = tmp_path / str(frames)
        tree = base / "projects"
        made = make_tree(tree, shots=3, versions=2, frames=frames, junk=False)
        config = write_config(base, tree)
        if missing:  # one record missing: the view loads the missing ones, not the others
            (tree / made[0]).unlink()
        age_tree(tree)
        scan(config, hash_files=False)
        steps[frames] = _sqlite_steps_of_a_rescan(config)
    assert steps[150] <= steps[5] * 1.2 + 5, steps


def _catalog_rows(config) -> dict[str, list[tuple]]:
    """What a first index recorded, without ids and clock readings: files with their entity and sequence."""
    import sqlite3

    conn = sqlite3.connect(load(config)[0].catalog_path)
    try:
        return {
            "files": conn.execute(
                "SELECT f.root, f.path, f.raw, fo.path, f.size, f.mtime_ns, f.hash, f.template, f.fields, f.frame,"
                " f.state, e.kind, e.uri, s.pattern, s.fields_head, s.fields_tail, s.count FROM files f"
                " JOIN folders fo ON fo.id = f.folder_id"
                " LEFT JOIN entities e ON e.id = f.entity_id LEFT JOIN sequences s ON s.id = f.sequence_id"
                " ORDER BY f.root, f.path").fetchall(),
            "entities": conn.execute("SELECT kind, uri, name, keys FROM entities ORDER BY uri").fetchall(),
            "sequences": conn.execute("SELECT root, pattern, first, last, count, missing FROM sequences"
                                      " ORDER BY root, pattern").fetchall(),
            "events": conn.execute("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind").fetchall(),
            "indexes": conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                    " ORDER BY name").fetchall(),
            "dirs": conn.execute("SELECT root, path, raw, mtime_ns FROM dirs ORDER BY root, path").fetchall(),
        }
    finally:
        conn.close()


def test_a_first_index_loaded_in_bulk_records_what_batch_by_batch_does(tmp_path, monkeypatch):
    from bifrostd.catalog import files

    tree = tmp_path / "projects"
    make_tree(tree, shots=4, versions=3, frames=12, gap=1004)
    age_tree(tree)
    bulk, batched = (write_config(tmp_path / name, tree) for name in ("bulk", "batched"))
    monkeypatch.setattr(files, "BULK_ADDS", 1)
    assert scan(bulk, batch_size=7).counts["added"] > 100
    monkeypatch.setattr(files, "BULK_ADDS", 10**9)
    scan(batched, batch_size=7)
    recorded = _catalog_rows(bulk)
    assert recorded == _catalog_rows(batched)
    assert any(name == "files_folder" for name, _ in recorded["indexes"])
    assert any(count > 1 for *_, count in recorded["files"] if count is not None)  # sequences were counted
    with reader(bulk) as catalog:
        assert catalog.integrity() == "ok"
    assert scan(bulk).plan.empty


def test_a_bulk_load_cut_short_leaves_the_catalog_and_its_indexes_as_they_were(tmp_path, monkeypatch):
    from bifrostd.catalog import files

    tree = tmp_path / "projects"
    made = make_tree(tree, shots=3, versions=2, frames=10)
    age_tree(tree)
    config = write_config(tmp_path, tree)
    with Catalog.open(load(config)[0].catalog_path, write=True):
        pass  # an empty catalog, with every index
    before = _catalog_rows(config)
    monkeypatch.setattr(files, "BULK_ADDS", 1)

    def cut(stage, done, total):
        if stage == "applying" and done >= 10:
            raise KeyboardInterrupt  # as a kill between two batches of the one transaction

    from bifrostd.catalog import Catalog as _Catalog
    from bifrostd.reconcile.scan import ScanOptions
    from bifrostd.reconcile.scan import scan as run_scan

    loaded, template_set = load(config)
    with pytest.raises(KeyboardInterrupt):
        with _Catalog.open(loaded.catalog_path, write=True) as catalog:
            run_scan(catalog, template_set, ScanOptions(batch_size=5), progress=cut)
    after = _catalog_rows(config)
    assert after["files"] == [] and after["indexes"] == before["indexes"] and after["dirs"] == []
    with reader(config) as catalog:
        assert catalog.integrity() == "ok"
    assert scan(config).counts["added"] == len(made)
