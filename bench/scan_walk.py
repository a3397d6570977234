"""Walk and hash benchmark: our walk and hashing against find and cat on the same data, same run.

Usage: ``python bench/scan_walk.py [--files N] [--tree PATH] [--runs K]``.
The tree (``bench/studio_tree.py``) and the big files are built once under
/var/tmp/bifrost-bench and reused. Every figure is a median of ``--runs``
warm-cache runs; references (find, cat) are timed in the same loop as ours,
interleaved, so load from other processes hits both alike. The last line
printed is one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_tree import BENCH_HOME, default_tree_path, ensure_tree  # noqa: E402

from bifrostd.hashing import hash_many  # noqa: E402
from bifrostd.scan import walk  # noqa: E402

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


def bench_walk(tree: Path, runs: int) -> dict[str, float]:
    find = f"find {tree} -printf '%s %T@ %p\\n' > /dev/null"
    shell(find)()  # warm the cache
    view = walk("bench", tree).directories
    finds, fulls, rescans = [], [], []
    for _ in range(runs):
        finds.append(timed(shell(find))[0])
        seconds, full = timed(lambda: walk("bench", tree))
        fulls.append(seconds)
        seconds, again = timed(lambda: walk("bench", tree, view))
        rescans.append(seconds)
    entries = len(full.files) + len(full.directories)
    return {
        "files": len(full.files), "dirs": len(full.directories), "findings": len(full.findings),
        "rescan_listed": len(again.listed), "rescan_skipped": len(again.skipped),
        "find_s": statistics.median(finds), "full_walk_s": statistics.median(fulls),
        "rescan_s": statistics.median(rescans), "entries": entries,
    }


def bench_big_hash(paths: list[Path], runs: int) -> dict[str, float]:
    cat = "cat " + " ".join(str(p) for p in paths) + " > /dev/null"
    items = [(p, os.stat(p)) for p in paths]
    shell(cat)()
    total = sum(st.st_size for _, st in items)
    cats, ones, twos = [], [], []
    for _ in range(runs):
        cats.append(timed(shell(cat))[0])
        ones.append(timed(lambda: hash_many(items, workers=1))[0])
        twos.append(timed(lambda: hash_many(items, workers=2))[0])
    gb = total / 1e9
    return {"big_bytes": total, "cat_gbps": gb / statistics.median(cats),
            "hash_1t_gbps": gb / statistics.median(ones), "hash_2t_gbps": gb / statistics.median(twos)}


def bench_small_hash(tree: Path, runs: int, limit: int) -> dict[str, float]:
    files = walk("bench", tree).files[:limit]
    items = [(f"{tree}/{f.relative}", f) for f in files]
    hash_many(items)  # warm the page cache for these files
    seconds = statistics.median(timed(lambda: hash_many(items))[0] for _ in range(runs))
    outcomes = hash_many(items)
    stable = sum(1 for o in outcomes if o.digest)
    return {"small_files": len(items), "small_stable": stable, "small_files_per_s": len(items) / seconds}


def report(figures: dict[str, float]) -> None:
    f = figures
    rows = [
        ("tree", f"{f['files']:,} files, {f['dirs']:,} dirs, {f['findings']} findings"),
        ("find -printf (reference)", f"{f['find_s']:.3f} s  ({f['entries'] / f['find_s']:,.0f} entries/s)"),
        ("full walk", f"{f['full_walk_s']:.3f} s  = {f['full_walk_ratio']:.2f}x find (goal <= 3)"),
        ("no-change rescan", f"{f['rescan_s']:.3f} s  = {f['rescan_ratio']:.2f}x find (goal < 1); "
                             f"listed {f['rescan_listed']}, skipped {f['rescan_skipped']}"),
    ]
    if "cat_gbps" in f:
        rows += [
            ("cat big files (reference)", f"{f['cat_gbps']:.2f} GB/s over {f['big_bytes'] / 1e9:.2f} GB"),
            ("hash big, 1 thread", f"{f['hash_1t_gbps']:.2f} GB/s = {f['hash_1t_vs_cat']:.2f}x cat (goal >= 0.8)"),
            ("hash big, 2 threads", f"{f['hash_2t_gbps']:.2f} GB/s = {f['hash_2t_vs_cat']:.2f}x cat"),
            ("hash small files", f"{f['small_files_per_s']:,.0f} files/s over {f['small_files']:,} (goal >= 100k)"),
        ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--tree", type=Path, help="tree folder (default /var/tmp/bifrost-bench/tree-N)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-files", type=int, default=20)
    parser.add_argument("--big-mib", type=int, default=64)
    parser.add_argument("--small-limit", type=int, default=200_000, help="how many tree files to hash")
    parser.add_argument("--no-hash", action="store_true")
    args = parser.parse_args()
    tree = ensure_tree(args.tree or default_tree_path(args.files), args.files).path
    figures = bench_walk(tree, args.runs)
    figures["full_walk_ratio"] = figures["full_walk_s"] / figures["find_s"]
    figures["rescan_ratio"] = figures["rescan_s"] / figures["find_s"]
    if not args.no_hash:
        figures |= bench_big_hash(ensure_big_files(args.big_files, args.big_mib), args.runs)
        figures |= bench_small_hash(tree, args.runs, args.small_limit)
        figures["hash_1t_vs_cat"] = figures["hash_1t_gbps"] / figures["cat_gbps"]
        figures["hash_2t_vs_cat"] = figures["hash_2t_gbps"] / figures["cat_gbps"]
    figures["runs"] = args.runs
    figures["load_avg_1m"] = os.getloadavg()[0]
    report(figures)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
