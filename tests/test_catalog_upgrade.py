"""Catalogs written at an earlier migration level upgrade in place and keep every record and event."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from sqlite_utils import Database

from bifrostd.authored import SIDECAR_NAME
from bifrostd.catalog import Catalog
from bifrostd.catalog.search import SearchQuery
from bifrostd.catalog.events import EVENT_PATH
from bifrostd.catalog.frame_fields import FIELDS_COLUMN
from bifrostd.catalog.migrations import CATALOG

from studio_tree import age_tree, load, make_tree, scan, write_config

#: The tables an old catalog is given, with the columns every level has (the rest are filled by upgrades).
COPIED = {
    "entities": "id, kind, uri, name, keys, parent_id, created_ns, updated_ns, metadata",
    "sequences": "id, root, pattern, template, entity_id, first, last, count, missing, missing_count, updated_ns",
    "dirs": "root, path, raw, mtime_ns, listed_ns",
    "scans": "id, root, started_ns, finished_ns, status, full, source, fingerprint, counts, findings, duration_s",
}
EVENT_COLUMNS = "id, at_ns, kind, source, root, path, raw, old_path, old_raw, file_id, entity_id, uid, user, scan_id, details"
FILE_COLUMNS = ("f.id, f.root, f.path, f.raw, {dir}, f.size, f.mtime_ns, f.inode, f.device, f.uid, f.hash, "
                "f.template, {fields}, f.entity_id, f.sequence_id, f.frame, f.fingerprint, f.state, "
                "f.first_seen_ns, f.last_seen_ns, f.metadata")


def old_catalog(path, current, *, level: str) -> None:
    """A catalog at migration ``level`` holding what ``current`` holds: written as 0007 stored it (every file
    with its own fields and folder path, every event with its whole path), then brought up to ``level``."""
    conn = sqlite3.connect(path, isolation_level=None)
    CATALOG.apply(Database(conn), stop_before="0008_compact_files")
    conn.execute("ATTACH ? AS current", (str(current),))
    conn.execute("BEGIN")
    for table, columns in COPIED.items():
        conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM current.{table}")
    logged = ", ".join(EVENT_PATH if c == "path" else f"ev.{c}" for c in EVENT_COLUMNS.split(", "))
    conn.execute(f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {logged} "
                 "FROM current.events ev LEFT JOIN current.folders fo ON fo.id = ev.folder_id")
    source = FILE_COLUMNS.format(dir="fo.path", fields=FIELDS_COLUMN)
    conn.execute(f"INSERT INTO files ({FILE_COLUMNS.format(dir='dir', fields='fields').replace('f.', '')}) "
                 f"SELECT {source} FROM current.files f JOIN current.folders fo ON fo.id = f.folder_id "
                 "LEFT JOIN current.sequences s ON s.id = f.sequence_id")
    conn.execute("COMMIT")
    after = [m.name for m in CATALOG._migrations][[m.name for m in CATALOG._migrations].index(level) + 1:]
    CATALOG.apply(Database(conn), stop_before=after)
    conn.close()


def records(path) -> list[tuple]:
    with Catalog.open(path) as catalog:
        return sorted((r.root, r.relative, r.size, r.mtime_ns, r.hash, r.classification, r.fingerprint, r.status)
                      for r in catalog.present_records())


def log(path) -> list[dict]:
    with Catalog.open(path) as catalog:
        return [event.to_json() for event in catalog.events(limit=10**6)]


@pytest.mark.parametrize("level", ["0007_mirror", "0008_compact_files", "0009_event_folders"])
def test_an_older_catalog_upgrades_in_place_and_keeps_its_records(tmp_path, level):
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=2, versions=2, frames=6, gap=1003)
    age_tree(tree)
    config = write_config(tmp_path, tree)
    scan(config)
    current = load(config)[0].catalog_path
    old = tmp_path / "old" / "catalog.db"
    old.parent.mkdir()
    old_catalog(old, current, level=level)
    with Catalog.open(old, write=True) as catalog:
        assert catalog.migrations()[-1] == CATALOG._migrations[-1].name
        assert catalog.integrity() == "ok"
        compacted = catalog._conn.execute("SELECT count(*) FROM files WHERE fields IS NULL").fetchone()[0]
        unmanaged = catalog.unmanaged_by_folder()
    assert len(records(old)) == len(made) and records(old) == records(current)
    assert len(log(old)) == len(made) and log(old) == log(current)
    assert compacted == sum(1 for path in made if ".100" in path)  # every frame file, no other
    with Catalog.open(current) as catalog:
        assert unmanaged == catalog.unmanaged_by_folder()
    moved = shutil.move(old, current)
    assert scan(config, full=True).plan.empty and moved == current  # it holds the tree as the current one does


def test_a_catalog_before_0010_gains_an_empty_index_of_sidecars(tmp_path):
    path = tmp_path / "catalog.db"
    conn = sqlite3.connect(path, isolation_level=None)
    CATALOG.apply(Database(conn), stop_before="0010_authored")
    conn.close()
    with Catalog.open(path, write=True) as catalog:
        assert "0010_authored" in catalog.migrations()
        assert catalog.broken_sidecars() == [] and catalog.authored("projects", "x") is None


def test_a_catalog_before_0011_gains_search_and_its_next_scan_reads_the_sidecars_again(tmp_path):
    """0011_search indexes every entity's name and path at once; the sidecars' words come with the next scan
    (the migration forgets their file records and their folders' mtimes, so the walk finds them new)."""
    tree = tmp_path / "projects"
    make_tree(tree, shots=2, versions=1, frames=2, gap=None)
    shot = next(p for p in sorted(tree.rglob("*")) if p.is_dir() and p.name.startswith("sh"))
    (shot / SIDECAR_NAME).write_text("schema: bifrost.entity.1\ndescription: rooftop chase\ntags: [hero]\n")
    age_tree(tree)
    config = write_config(tmp_path, tree)
    scan(config)
    path = load(config)[0].catalog_path
    conn = sqlite3.connect(path, isolation_level=None)  # back to 0010: as a catalog written before 0011
    conn.execute("DROP TABLE search")
    conn.execute("DROP TABLE entity_links")
    conn.execute("DROP INDEX entities_updated")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0011_search'")
    conn.close()
    with Catalog.open(path, write=True) as catalog:
        assert catalog.migrations()[-1] == "0011_search"
        named = catalog.search(SearchQuery(shot.name))
        assert named and named[0].name == shot.name and not catalog.search(SearchQuery("rooftop"))
    scan(config)
    with Catalog.open(path) as catalog:
        assert [hit.name for hit in catalog.search(SearchQuery("roof"))] == [shot.name]
        assert [hit.name for hit in catalog.search(SearchQuery("", tags=("hero",)))] == [shot.name]
