"""What a domain operation costs against the plain tool doing the same I/O: publishing a frame sequence vs ``cp -r``.

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

Then, on the same studio, each run in a new sequence (median of ``--runs``,
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

Prints a table, and as the last line one JSON object with the figures.
Usage: ``.venv/bin/python bench/domain.py [--frames 1000] [--size 65536] [--shots 1000] [--runs 5]``
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per frame")
    parser.add_argument("--shots", type=int, default=1000, help="shots created per run from a CSV")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
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
        created = create_figures(base / "studio", base, args.shots, args.runs)
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
    print(f"\n{created['shots']} shots from a CSV (skeleton and sidecar each), median of {args.runs} runs")
    print(f"{'operation':<34} {'seconds':>9} {'x mkdir -p':>11}")
    for name, key in (("create (Studio.create, rows=CSV)", "create_s"), ("mkdir -p of the same folders", "mkdir_s"),
                      ("mkdir -p + plain sidecar writes", "mkdir_sidecars_s")):
        print(f"{name:<34} {created[key]:>9.3f} {created[key] / created['mkdir_s']:>11.2f}")
    print(f"rebuild: scan into an empty catalog {created['rebuild_scan_s']:.3f} s "
          f"({created['sidecars']:,} sidecars and the demo's files); find -exec cat of the sidecars "
          f"{created['find_cat_sidecars_s']:.3f} s")
    figures["create"] = {**created, "create_vs_mkdir": round(created["create_s"] / created["mkdir_s"], 2),
                         "create_vs_mkdir_sidecars": round(created["create_s"] / created["mkdir_sidecars_s"], 2)}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
