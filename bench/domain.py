"""What a domain operation costs against the plain tool doing the same I/O: publishing a frame sequence vs ``cp -r``,
and searching a large catalog (FTS5) vs a plain ``LIKE`` query.

Makes the demo studio (``bifrostctl init --demo``, then ``scan``) in a
temporary folder, writes ``--frames`` frames of ``--size`` bytes each as a
render (``shot_render``, sq010/sh0200 lighting v001 beauty) and scans them,
then times, each run on a fresh version (the median of ``--runs``, the three
interleaved run by run so a shared machine's load falls on all alike):

- ``Studio.publish(frame)``: the next version of ``shot_publish_render``, each
  frame copied under a temp name, fsynced, renamed, read back and compared
  by xxh3, made read-only, the sidecar written, the folder put in place and
  recorded in the catalog;
- ``cp -r`` of the same frame folder to a new folder beside it (no fsync,
  no verification): the floor of moving the bytes;
- ``cp -r`` then ``sync -f`` of the target, the nearest plain equivalent of
  what publish makes durable.

Creating: on a demo studio of its own, each run in a new sequence (median of ``--runs``,
interleaved likewise):

- ``Studio.create(rows=CSV)`` of ``--shots`` shots (their skeletons: the
  shot's folder, ``color``, ``editorial``, ``plates`` and its folder in the
  renders root; and a sidecar each, with a frame range), planned whole first,
  then made and catalogued;
- ``mkdir -p`` of the same folders (from the plan), in a tree beside it;
- ``mkdir -p`` of them plus writing each shot's sidecar text with ``cat``-like
  plain writes (no lock, no fsync), the nearest plain equivalent;

and, once, rebuilding the catalog: ``bifrostctl scan`` into an empty catalog
of the studio holding those shots' sidecars (every sidecar read and indexed,
with its entity), against ``find -name .bifrost-entity.yaml -exec cat`` of
the same files.

Search: a synthetic catalog (``bench/synthetic_catalog.py``: ``--search-shots``
shots per sequence, 2 projects × 25 sequences × 5 tasks × 4 versions × 12
frames; 80 shots make 104,052 entities and 960,000 files, a fifth of the
shots and versions with a sidecar) is written through ``Catalog.apply`` and
``Catalog.index_sidecar``; then ``Catalog.search`` answers a mix of queries
(search-as-you-type prefixes, two words, a word with a kind or tag filter),
each timed in process, p50 and p99 over ``--queries`` runs; the reference is
the nearest plain SQL, ``SELECT uri FROM entities WHERE uri LIKE '%word%'
LIMIT 50``, over the same words in the same run.

Prints a table, and as the last line one JSON object with the figures.
Usage: ``.venv/bin/python bench/domain.py [--frames 1000] [--size 65536] [--runs 5] [--shots 1000]
[--search-shots 80] [--queries 2000] [--skip-publish] [--skip-create] [--skip-search]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bifrostd import Studio  # noqa: E402

BIFROSTCTL = str(Path(sys.executable).parent / "bifrostctl")
RENDER = "renders/demo/sequences/sq010/sh0200/lighting/render/v001/beauty"


def make_studio(folder: Path, frames: int, size: int) -> Path:
    """The demo studio with a render of ``frames`` frames, scanned; returns the render folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "bifrostd.cli", "init", "--demo", str(folder)], check=True,
                   capture_output=True, env=env)
    render = folder / RENDER
    render.mkdir(parents=True, exist_ok=True)
    block = os.urandom(size)
    for frame in range(1001, 1001 + frames):
        (render / f"sh0200_lighting_beauty_v001.{frame}.exr").write_bytes(block[frame % 7:] + block[:frame % 7])
    subprocess.run([sys.executable, "-m", "bifrostd.cli", "--config", str(folder), "scan"], check=True,
                   capture_output=True, env=env)
    return render


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def interleaved(runs: int, works: dict[str, Callable[[int], Any]]) -> dict[str, list[float]]:
    """Each run times every work once, in turn, so load from others on a shared machine falls on all alike."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for run in range(runs):
        for name, work in works.items():
            times[name].append(timed(partial(work, run)))
    return times


def create_figures(studio_dir: Path, scratch: Path, shots: int, runs: int) -> dict[str, Any]:
    """Create ``shots`` shots from a CSV per run, against ``mkdir -p`` of the same folders; then a rebuild."""
    from bifrostd.authored import Authored, FrameRange, render_sidecar

    sidecar = render_sidecar(Authored("", FrameRange(1001, 1096, 8, 8))).encode()

    def rows(run: int) -> Path:
        path = scratch / f"shots{run}.csv"
        lines = ["kind,project,sequence,shot,frames,handles"]
        lines += [f"shot,demo,sq{900 + run},sh{n:04d},1001-1096,8" for n in range(10, 10 + shots)]
        path.write_text("\n".join(lines) + "\n")
        return path

    with Studio.open(studio_dir) as studio:
        plans = {run: studio.create(rows=rows(run), dry_run=True).plans for run in range(runs)}

        def plain(run: int, write_sidecars: bool) -> None:
            base = scratch / f"{'plain' if write_sidecars else 'mkdir'}{run}"
            folders = [str(base / f.root / f.relative) for plan in plans[run] for f in plan.folders if not f.exists]
            for start in range(0, len(folders), 2000):
                subprocess.run(["mkdir", "-p", *folders[start:start + 2000]], check=True)
            if write_sidecars:
                for plan in plans[run]:
                    (base / plan.root / plan.relative / ".bifrost-entity.yaml").write_bytes(sidecar)

        times = interleaved(runs, {
            "create": lambda run: studio.create(rows=scratch / f"shots{run}.csv"),
            "mkdir": lambda run: plain(run, False),
            "mkdir_sidecars": lambda run: plain(run, True),
        })
    catalog = studio_dir / ".bifrost" / "catalog.db"
    for leftover in studio_dir.joinpath(".bifrost").glob("catalog.db*"):
        leftover.unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rebuild = timed(lambda: subprocess.run([sys.executable, "-m", "bifrostd.cli", "--config", str(studio_dir), "scan"],
                                           check=True, capture_output=True, env=env))
    cat = timed(lambda: subprocess.run(f"find '{studio_dir}' -name .bifrost-entity.yaml -exec cat {{}} + > /dev/null",
                                       shell=True, check=True))
    assert catalog.exists()
    return {"shots": shots, **{f"{name}_s": round(statistics.median(t), 4) for name, t in times.items()},
            "create_runs_s": [round(t, 4) for t in times["create"]],
            "rebuild_scan_s": round(rebuild, 4), "find_cat_sidecars_s": round(cat, 4),
            "sidecars": runs * shots}


def create_section(args: argparse.Namespace) -> dict[str, Any]:
    """Create shots from a CSV on a demo studio of its own; prints its table."""
    base = Path(tempfile.mkdtemp(prefix="bifrost-bench-create-"))
    try:
        make_studio(base / "studio", 10, 1024)
        created = create_figures(base / "studio", base, args.shots, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{created['shots']} shots from a CSV (skeleton and sidecar each), median of {args.runs} runs")
    print(f"{'operation':<34} {'seconds':>9} {'x mkdir -p':>11}")
    for name, key in (("create (Studio.create, rows=CSV)", "create_s"), ("mkdir -p of the same folders", "mkdir_s"),
                      ("mkdir -p + plain sidecar writes", "mkdir_sidecars_s")):
        print(f"{name:<34} {created[key]:>9.3f} {created[key] / created['mkdir_s']:>11.2f}")
    print(f"rebuild: scan into an empty catalog {created['rebuild_scan_s']:.3f} s "
          f"({created['sidecars']:,} sidecars and the demo's files); find -exec cat of the sidecars "
          f"{created['find_cat_sidecars_s']:.3f} s\n")
    return {**created, "create_vs_mkdir": round(created["create_s"] / created["mkdir_s"], 2),
            "create_vs_mkdir_sidecars": round(created["create_s"] / created["mkdir_sidecars_s"], 2)}


#: The search mix: (words, filters); the last word is a prefix, as typed in a search box.
SEARCHES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("sh01", {}), ("sq0", {}), ("anim", {}), ("roof", {}), ("night chase", {}), ("hero", {"kind": "shot"}),
    ("sh0420 li", {}), ("dragon", {"tags": ("fire",)}), ("review", {"user": "ana"}), ("proj01 sq120 sh", {}),
)


def percentile(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def search_figures(base: Path, shots: int, queries: int) -> dict[str, Any]:
    """Build the synthetic catalog, then time Catalog.search and the LIKE reference, interleaved."""
    import sqlite3

    from bifrostd.catalog import Catalog
    from bifrostd.catalog.search import SearchQuery
    from synthetic_catalog import Shape, build

    path = base / "catalog.db"
    started = time.perf_counter()
    built = build(path, Shape(projects=2, sequences=25, shots=shots, versions=4, frames=12))
    build_s = time.perf_counter() - started
    fts: list[float] = []
    like: list[float] = []
    hits: list[int] = []
    by_query: dict[str, list[float]] = {}
    plain = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with Catalog.open(path) as catalog:
        for n in range(queries):
            words, filters = SEARCHES[n % len(SEARCHES)]
            query = SearchQuery(words, **filters)
            fts.append(timed(lambda q=query: hits.append(len(catalog.search(q)))))
            by_query.setdefault(f"{words} {filters or ''}".strip(), []).append(fts[-1])
            like.append(timed(lambda w=words: plain.execute("SELECT uri FROM entities WHERE uri LIKE ? LIMIT 50",
                                                            (f"%{w.split()[-1]}%",)).fetchall()))
    plain.close()
    return {**built, "build_s": round(build_s, 1), "queries": queries,
            "search_p50_ms": round(percentile(fts, 0.5) * 1000, 3), "search_p99_ms": round(percentile(fts, 0.99) * 1000, 3),
            "like_p50_ms": round(percentile(like, 0.5) * 1000, 3), "like_p99_ms": round(percentile(like, 0.99) * 1000, 3),
            "search_mean_hits": round(statistics.mean(hits), 1),
            "search_p50_ms_by_query": {k: round(statistics.median(v) * 1000, 3) for k, v in by_query.items()}}


def print_search(figures: dict[str, Any]) -> None:
    print(f"search: {figures['entities']:,} entities, {figures['files']:,} files, {figures['sidecars']:,} sidecars "
          f"(built in {figures['build_s']} s), {figures['queries']} queries")
    print(f"{'query':<34} {'p50 ms':>9} {'p99 ms':>9}")
    print(f"{'Catalog.search (FTS5, bm25)':<34} {figures['search_p50_ms']:>9.3f} {figures['search_p99_ms']:>9.3f}")
    print(f"{'LIKE %word% on entities.uri':<34} {figures['like_p50_ms']:>9.3f} {figures['like_p99_ms']:>9.3f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per frame")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1000, help="shots created per run from a CSV")
    parser.add_argument("--search-shots", type=int, default=80, help="shots per sequence of the search catalog")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--skip-publish", action="store_true")
    parser.add_argument("--skip-create", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if not args.skip_publish:
        figures.update(publish_figures(args))
    if not args.skip_create:
        figures["create"] = create_section(args)
    if not args.skip_search:
        base = Path(tempfile.mkdtemp(prefix="bifrost-bench-search-"))
        try:
            found = search_figures(base, args.search_shots, args.queries)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print_search(found)
        figures["search"] = found
    print(json.dumps(figures))
    return figures


def publish_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Publish of a frame sequence against cp -r and cp -r && sync -f; prints its table."""
    base = Path(tempfile.mkdtemp(prefix="bifrost-bench-domain-"))
    try:
        render = make_studio(base / "studio", args.frames, args.size)
        first = str(render / "sh0200_lighting_beauty_v001.1001.exr")
        copies = base / "copies"
        copies.mkdir()
        with Studio.open(base / "studio") as studio:
            times = interleaved(args.runs, {
                "publish": lambda run: studio.publish(first, comment=f"bench {run}"),
                "cp": lambda run: subprocess.run(["cp", "-r", str(render), str(copies / f"cp{run}")], check=True),
                "cp_sync": lambda run: subprocess.run(
                    f"cp -r '{render}' '{copies}/sync{run}' && sync -f '{copies}/sync{run}'", shell=True, check=True),
            })
            versions = [v.number for v in studio.versions("bifrost:///task/shot/demo/sq010/sh0200/lighting")
                        if v.publish is not None]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    publish, cp, cp_sync = (statistics.median(times[name]) for name in ("publish", "cp", "cp_sync"))
    publish_runs, cp_runs, cp_sync_runs = times["publish"], times["cp"], times["cp_sync"]
    megabytes = args.frames * args.size / 1e6
    rows = [("publish (Studio.publish)", publish), ("cp -r", cp), ("cp -r && sync -f", cp_sync)]
    print(f"{args.frames} frames of {args.size:,} bytes ({megabytes:.1f} MB), median of {args.runs} runs")
    print(f"{'operation':<26} {'seconds':>9} {'MB/s':>8} {'x cp -r':>8}")
    for name, seconds in rows:
        print(f"{name:<26} {seconds:>9.3f} {megabytes / seconds:>8.1f} {seconds / cp:>8.2f}")
    figures = {"frames": args.frames, "frame_bytes": args.size, "runs": args.runs,
               "publish_s": round(publish, 4), "cp_r_s": round(cp, 4), "cp_r_sync_s": round(cp_sync, 4),
               "publish_vs_cp_r": round(publish / cp, 2), "publish_vs_cp_r_sync": round(publish / cp_sync, 2),
               "publish_runs_s": [round(t, 4) for t in publish_runs], "cp_r_runs_s": [round(t, 4) for t in cp_runs],
               "cp_r_sync_runs_s": [round(t, 4) for t in cp_sync_runs], "versions_published": versions}
    return figures


if __name__ == "__main__":
    main()
