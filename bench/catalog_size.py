"""The catalog's size on disk per file, against a minimal table of the same files built in the same run.

Usage: ``.venv/bin/python bench/catalog_size.py [--files N] [--hash]``.

A first index (no hashing unless ``--hash``) of the bench studio tree
(``bench/studio_tree.py``, built once under /var/tmp/bifrost-bench) into a
fresh catalog, then:

- the catalog's bytes per file: the main database file after
  ``PRAGMA wal_checkpoint(TRUNCATE)``, and a ``VACUUM INTO`` copy of it;
- the copy's bytes per file by table and index (the ``dbstat`` virtual
  table, or page counts where SQLite was built without it);
- the reference: a minimal table ``(root, path, size, mtime_ns, hash,
  template)``, one row per file and one ``UNIQUE (root, path)`` index,
  filled from the catalog's own rows in (root, path) order, and vacuumed;
- the ratio of the two (goal <= 1.5).

A table, then as the last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_tree import bench_template_set, default_tree_path, ensure_tree  # noqa: E402

from bifrostd.catalog import Catalog  # noqa: E402
from bifrostd.reconcile.scan import ScanOptions, scan  # noqa: E402

GOAL = 1.5
REFERENCE_SCHEMA = """
CREATE TABLE files (
    root TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT,
    template TEXT, UNIQUE (root, path)
)
"""


def first_index(db: Path, tree: Path, *, hashed: bool) -> int:
    """Index the tree into a fresh catalog at ``db``; returns the files seen."""
    with Catalog.open(db, write=True) as catalog:
        report = scan(catalog, bench_template_set(tree), ScanOptions(hash_files=hashed))
    return int(report.files_seen)


def checkpointed_size(db: Path) -> int:
    """The main file's size once the write-ahead log is folded into it (what a closed catalog takes)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return db.stat().st_size


def vacuumed_copy(db: Path, copy: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        conn.execute("VACUUM INTO ?", (str(copy),))
    finally:
        conn.close()
    return copy.stat().st_size


def breakdown(db: Path) -> dict[str, int]:
    """Bytes of each table and index, biggest first; ``dbstat`` when SQLite has it, else page counts."""
    conn = sqlite3.connect(db)
    try:
        try:
            rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # no SQLITE_ENABLE_DBSTAT_VTAB: a b-tree's pages from its root
            rows = _page_counts(conn)
    finally:
        conn.close()
    return dict(sorted(rows, key=lambda row: -row[1]))


def _page_counts(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Without ``dbstat``: the sizes are not known per b-tree, only the whole file's (one row, ``*``)."""
    pages, size = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
    return [("*", pages * size)]


def build_reference(catalog: Path, reference: Path) -> int:
    """The minimal table of the catalog's files, vacuumed; returns its size in bytes."""
    source = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    conn = sqlite3.connect(reference)
    try:
        conn.execute(REFERENCE_SCHEMA)
        rows = source.execute("SELECT root, path, size, mtime_ns, hash, template FROM files ORDER BY root, path")
        with conn:
            conn.executemany("INSERT INTO files VALUES (?,?,?,?,?,?)", rows)
        conn.execute("VACUUM")
    finally:
        conn.close()
        source.close()
    return reference.stat().st_size


def measure(tree: Path, work: Path, *, hashed: bool) -> dict[str, object]:
    db, copy, reference = work / "catalog.db", work / "vacuumed.db", work / "reference.db"
    files = first_index(db, tree, hashed=hashed)
    checkpointed = checkpointed_size(db)
    vacuumed = vacuumed_copy(db, copy)
    reference_bytes = build_reference(db, reference)
    parts = breakdown(copy)
    return {
        "files": files, "hashed": hashed,
        "catalog_bytes_per_file": checkpointed / files, "vacuumed_bytes_per_file": vacuumed / files,
        "reference_bytes_per_file": reference_bytes / files,
        "ratio": checkpointed / reference_bytes, "vacuumed_ratio": vacuumed / reference_bytes,
        "parts_bytes_per_file": {name: round(size / files, 1) for name, size in parts.items()},
        "reference_parts_bytes_per_file": {n: round(s / files, 1) for n, s in breakdown(reference).items()},
    }


def rows(f: dict) -> list[tuple[str, str]]:
    out = [
        ("files indexed", f"{f['files']:,}" + (" (hashed)" if f["hashed"] else " (no hashing)")),
        ("catalog, checkpointed", f"{f['catalog_bytes_per_file']:.0f} B/file = {f['ratio']:.2f}x the reference "
                                  f"(goal <= {GOAL})"),
        ("catalog, vacuumed", f"{f['vacuumed_bytes_per_file']:.0f} B/file = {f['vacuumed_ratio']:.2f}x"),
        ("reference (6 columns, UNIQUE (root, path))", f"{f['reference_bytes_per_file']:.0f} B/file"),
    ]
    out += [(f"  {name}", f"{size:.1f} B/file") for name, size in f["parts_bytes_per_file"].items()]
    out += [(f"  reference {name}", f"{size:.1f} B/file") for name, size in f["reference_parts_bytes_per_file"].items()]
    return out + [("load average (1 min, at the end)", f"{f['load_avg_1m']:.2f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--tree", type=Path, help="tree folder (default /var/tmp/bifrost-bench/studio-N)")
    parser.add_argument("--hash", action="store_true", help="hash the files while indexing")
    args = parser.parse_args()
    tree = ensure_tree(args.tree or default_tree_path(args.files), args.files).path
    work = Path(tempfile.mkdtemp(prefix="bifrost-size-"))
    try:
        figures = measure(tree, work, hashed=args.hash)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["load_avg_1m"] = os.getloadavg()[0]
    table = rows(figures)
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
