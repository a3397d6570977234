"""The catalog issue's speed benchmark: index, rescans and hashing against find and cat, same run.

Usage: ``.venv/bin/python bench/scan.py [--files N] [--runs K] [--no-hash | --hash-only]``.

The studio tree (``bench/studio_tree.py``: paths made by the default
templates, mostly frame sequences) and the big files are built once under
/var/tmp/bifrost-bench and reused. Each figure is the median of ``--runs``
warm-cache runs, and each reference (``find -printf``, ``cat``) is timed in
the same loop as what it is compared with, so load from other processes hits
both alike. Measured:

- ``find -printf '%s %T@ %p\\n'`` over the tree (the reference);
- first index without hashing, into a fresh catalog each run;
- rescan with nothing changed (pruned by folder mtimes), goal < 1.0x find;
- full-walk rescan (``--full``), goal <= 3.0x find;
- hashing big files against ``cat`` of the same files, goal >= 0.8x;
- hashing the tree's small files against a plain one-thread loop that makes
  the same checks as ``bifrostd.observe.hashing`` (``reference_small_hash``),
  goal >= 1.0x.

A table, then as the last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import xxhash
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_tree import BENCH_HOME, bench_template_set, default_tree_path, ensure_tree  # noqa: E402

from bifrostd.catalog import Catalog  # noqa: E402
from bifrostd.observe.hashing import hash_many  # noqa: E402
from bifrostd.reconcile.scan import ScanOptions, scan  # noqa: E402
from bifrostd.observe.walk import walk  # noqa: E402

BIG_DIR = BENCH_HOME / "big"


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(command, shell=True, check=True)


def ensure_big_files(count: int, mib: int) -> list[Path]:
    """Random (incompressible) files, written once; a size mismatch rewrites one."""
    BIG_DIR.mkdir(parents=True, exist_ok=True)
    paths = [BIG_DIR / f"big-{i:02d}.bin" for i in range(count)]
    for path in paths:
        if not path.exists() or path.stat().st_size != mib << 20:
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(os.urandom(1 << 20))
    return paths


def scan_once(db: Path, template_set, **options) -> tuple[float, object]:
    """One ``bifrostctl scan``'s work, timed from opening the catalog to closing it."""
    def run():
        with Catalog.open(db, write=True) as catalog:
            return scan(catalog, template_set, ScanOptions(hash_files=False, **options))
    return timed(run)


def bench_index(tree: Path, runs: int) -> dict[str, object]:
    template_set = bench_template_set(tree)
    find = f"find {tree} -printf '%s %T@ %p\\n' > /dev/null"
    shell(find)()  # warm the page cache
    times: dict[str, list[float]] = {"find": [], "first": [], "rescan": [], "full": []}
    splits: dict[str, list[dict[str, float]]] = {"first": [], "rescan": [], "full": []}
    report = None
    for _ in range(runs):
        state = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
        try:
            times["find"].append(timed(shell(find))[0])
            for label, options in (("first", {}), ("rescan", {}), ("full", {"full": True})):
                seconds, report = scan_once(state / "catalog.db", template_set, **options)
                times[label].append(seconds)
                splits[label].append(report.timings)
        finally:
            shutil.rmtree(state, ignore_errors=True)
    medians = {label: statistics.median(values) for label, values in times.items()}
    files = report.files_seen
    figures: dict[str, object] = {
        "files": files, "dirs": report.dirs_listed, "find_s": medians["find"],
        "first_index_s": medians["first"], "first_index_files_per_s": files / medians["first"],
        "rescan_s": medians["rescan"], "full_rescan_s": medians["full"],
    }
    for label, key in (("first", "first_index"), ("rescan", "rescan"), ("full", "full_rescan")):
        figures[f"{key}_vs_find"] = medians[label] / medians["find"]
        steps = {step for split in splits[label] for step in split}
        figures[f"{key}_steps"] = {s: round(statistics.median(t.get(s, 0.0) for t in splits[label]), 3)
                                   for s in sorted(steps)}
    return figures


def bench_big_hash(paths: list[Path], runs: int) -> dict[str, float]:
    cat = "cat " + " ".join(str(p) for p in paths) + " > /dev/null"
    items = [(p, os.stat(p)) for p in paths]
    shell(cat)()
    total = sum(st.st_size for _, st in items)
    cats, hashes = [], []
    for _ in range(runs):
        cats.append(timed(shell(cat))[0])
        hashes.append(timed(lambda: hash_many(items, workers=2))[0])
    gb = total / 1e9
    cat_gbps, hash_gbps = gb / statistics.median(cats), gb / statistics.median(hashes)
    return {"big_bytes": total, "cat_gbps": cat_gbps, "hash_big_gbps": hash_gbps, "hash_big_vs_cat": hash_gbps / cat_gbps}


OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def reference_small_hash(items: list) -> list[str | None]:
    """The yardstick for small files: Bifrost's checks written as a plain loop, one thread.

    Open by path without following a link or blocking on a FIFO, ``fstat`` the
    descriptor (a regular file with the observed size, mtime, inode and
    device), read size + 1 bytes, close, ``lstat`` the path and compare again;
    a digest only when every check holds.
    """
    digests: list[str | None] = []
    for path, f in items:
        expected = (f.size, f.mtime_ns, f.inode, f.device)
        digest = None
        try:
            fd = os.open(path, OPEN_FLAGS)
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == expected:
                    data = os.read(fd, f.size + 1)
                    digest = xxhash.xxh3_128_hexdigest(data) if len(data) <= f.size else None
            finally:
                os.close(fd)
            after = os.lstat(path)
            if (after.st_size, after.st_mtime_ns, after.st_ino, after.st_dev) != expected:
                digest = None
        except OSError:
            digest = None
        digests.append(digest)
    return digests


def bench_small_hash(tree: Path, runs: int) -> dict[str, float]:
    """Bifrost's ``hash_many`` and the reference loop over the same files, alternating, medians."""
    items = []
    for root in ("projects", "renders"):
        items += [(f"{tree}/{root}/{f.relative}", f) for f in walk(root, tree / root).files]
    outcomes = hash_many(items)  # warms the page cache (and starts worker processes, if it uses them)
    if [o.digest for o in outcomes] != reference_small_hash(items):
        raise SystemExit("hash_many and the reference loop disagree")
    refs, hashes = [], []
    for _ in range(runs):
        refs.append(timed(lambda: reference_small_hash(items))[0])
        hashes.append(timed(lambda: hash_many(items))[0])
    ref_rate, rate = len(items) / statistics.median(refs), len(items) / statistics.median(hashes)
    return {"small_files": len(items), "small_stable": sum(1 for o in outcomes if o.digest),
            "small_ref_files_per_s": ref_rate, "small_files_per_s": rate, "small_vs_ref": rate / ref_rate}


def index_rows(f: dict[str, object]) -> list[tuple[str, str]]:
    def steps(key: str) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in f[f"{key}_steps"].items())

    return [
        ("tree", f"{f['files']:,} files, {f['dirs']:,} folders (default templates)"),
        ("find -printf (reference)", f"{f['find_s']:.3f} s"),
        ("first index, no hashing", f"{f['first_index_s']:.2f} s = {f['first_index_vs_find']:.1f}x find, "
                                    f"{f['first_index_files_per_s']:,.0f} files/s ({steps('first_index')})"),
        ("rescan, nothing changed", f"{f['rescan_s']:.3f} s = {f['rescan_vs_find']:.2f}x find (goal < 1.0)"),
        ("full-walk rescan", f"{f['full_rescan_s']:.2f} s = {f['full_rescan_vs_find']:.2f}x find (goal <= 3.0; "
                             f"{steps('full_rescan')})"),
    ]


def hash_rows(f: dict[str, object]) -> list[tuple[str, str]]:
    return [
        ("cat big files (reference)", f"{f['cat_gbps']:.2f} GB/s over {f['big_bytes'] / 1e9:.2f} GB"),
        ("hash big files", f"{f['hash_big_gbps']:.2f} GB/s = {f['hash_big_vs_cat']:.2f}x cat (goal >= 1.0)"),
        ("small files, one-thread loop (reference)", f"{f['small_ref_files_per_s']:,.0f} files/s over "
                                                     f"{f['small_files']:,} files of 0-4 KiB"),
        ("hash small files", f"{f['small_files_per_s']:,.0f} files/s = {f['small_vs_ref']:.2f}x the loop "
                             f"(goal >= 1.0)"),
    ]


def table(f: dict[str, object]) -> list[tuple[str, str]]:
    rows = (index_rows(f) if "find_s" in f else []) + (hash_rows(f) if "cat_gbps" in f else [])
    return rows + [("load average (1 min, at the end)", f"{f['load_avg_1m']:.2f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--tree", type=Path, help="tree folder (default /var/tmp/bifrost-bench/studio-N)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-files", type=int, default=20)
    parser.add_argument("--big-mib", type=int, default=64)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--no-hash", action="store_true", help="skip the hashing figures")
    only.add_argument("--hash-only", action="store_true", help="only the hashing figures")
    args = parser.parse_args()
    tree = ensure_tree(args.tree or default_tree_path(args.files), args.files).path
    figures = {} if args.hash_only else bench_index(tree, args.runs)
    if not args.no_hash:
        figures |= bench_big_hash(ensure_big_files(args.big_files, args.big_mib), args.runs)
        figures |= bench_small_hash(tree, args.runs)
    figures["runs"] = args.runs
    figures["load_avg_1m"] = os.getloadavg()[0]
    rows = table(figures)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
