"""What checking a catalog's integrity costs: ``PRAGMA quick_check`` and ``integrity_check`` on a big catalog.

Usage: ``.venv/bin/python bench/catalog_check.py [--files N] [--tree-files M] [--runs K]``.

The catalog is made by a real scan (no hashing) of the bench studio tree
(``bench/studio_tree.py``, ``--tree-files`` files, built once under
/var/tmp/bifrost-bench), then grown to ``--files`` records by copying its
file rows (and their events) under other folders, so a million-record
catalog needs no million files on disk. Each check is timed warm (the file in the page cache) and
cold (its pages dropped with ``posix_fadvise``; the disk's own cache may
still answer), median of ``--runs``. The catalog is kept for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_tree import BENCH_HOME, bench_template_set, default_tree_path, ensure_tree  # noqa: E402

from bifrostd.catalog import Catalog  # noqa: E402
from bifrostd.reconcile.scan import ScanOptions, scan  # noqa: E402


def build_catalog(db: Path, tree: Path, files: int) -> None:
    with Catalog.open(db, write=True) as catalog:
        scan(catalog, bench_template_set(tree), ScanOptions(hash_files=False))
    conn = sqlite3.connect(db)
    seed = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    events = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    folders = conn.execute("SELECT max(id) FROM folders").fetchone()[0]
    copy = 0
    while conn.execute("SELECT count(*) FROM files").fetchone()[0] < files:
        copy += 1
        conn.execute("BEGIN")
        conn.execute(  # the seed's folders under another top folder
            "INSERT INTO folders (root, path) SELECT root, ?1 || path FROM folders WHERE id <= ?2",
            (f"copy{copy}/", folders))
        conn.execute(  # the same rows there: new paths, new ids, the same shape of data
            "INSERT INTO files (root, path, raw, folder_id, size, mtime_ns, inode, device, uid, hash, template, "
            "fields, entity_id, sequence_id, frame, fingerprint, state, first_seen_ns, last_seen_ns) "
            "SELECT f.root, ?2 || f.path, f.raw, c.id, f.size, f.mtime_ns, f.inode + ?1, f.device, f.uid, f.hash, "
            "f.template, f.fields, f.entity_id, f.sequence_id, f.frame, f.fingerprint, f.state, f.first_seen_ns, "
            "f.last_seen_ns FROM files f JOIN folders o ON o.id = f.folder_id "
            "JOIN folders c ON c.root = o.root AND c.path = ?2 || o.path WHERE f.id <= ?3",
            (copy * 10**9, f"copy{copy}/", seed))
        conn.execute(  # and their 'appeared' events: a real catalog holds one per file at least
            "INSERT INTO events (at_ns, kind, source, root, path, raw, file_id, entity_id, uid, user, scan_id) "
            "SELECT at_ns, kind, source, root, ?1 || path, raw, NULL, entity_id, uid, user, scan_id "
            "FROM events WHERE id <= ?2", (f"copy{copy}/", events))
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def drop_cache(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed_check(db: Path, pragma: str, *, cold: bool) -> float:
    if cold:
        drop_cache(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size=-65536")  # the catalog's own setting (connection.PRAGMAS)
    start = time.perf_counter()
    answer = conn.execute(pragma).fetchall()
    seconds = time.perf_counter() - start
    conn.close()
    assert answer == [("ok",)], answer
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="records in the catalog")
    parser.add_argument("--tree-files", type=int, default=100_000, help="files in the tree scanned first")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tree = default_tree_path(args.tree_files)
    ensure_tree(tree, args.tree_files)
    db = BENCH_HOME / f"catalog-{args.files}.db"
    if not db.exists():
        build_catalog(db, tree, args.files)
    conn = sqlite3.connect(db)
    records = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    conn.close()
    figures: dict[str, float | int] = {"records": records, "bytes": db.stat().st_size}
    for name, pragma in (("quick_check", "PRAGMA quick_check"), ("integrity_check", "PRAGMA integrity_check")):
        for cold in (False, True):
            runs = [timed_check(db, pragma, cold=cold) for _ in range(args.runs)]
            figures[f"{name}_{'cold' if cold else 'warm'}_s"] = round(statistics.median(runs), 3)
    print(f"catalog: {records:,} records, {figures['bytes'] / 2**20:,.0f} MiB")
    for key, value in figures.items():
        if key.endswith("_s"):
            print(f"  {key:24} {value:8.3f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
