"""What a question costs pipeline code: the Python API in-process vs a ``bifrostctl`` subprocess per question.

Makes the demo studio (``bifrostctl init --demo``, then ``scan``) in a
temporary folder, then times, each as the median of ``--runs``:

- ``Studio.open()``: config and template set, once per process;
- ``--calls`` ``studio.resolve(path)`` over the demo's managed files, in turn;
- ``--calls`` ``studio.path(template, fields)`` with the fields those paths resolved to;
- ``--calls`` ``studio.latest(task, template=...)``, which reads the catalog;
- ``--subprocesses`` ``bifrostctl resolve PATH`` runs, what a script pays without the API.

Prints a table, and as the last line one JSON object with the figures and
the ratio of a subprocess's cost to an in-process resolve.
Usage: ``.venv/bin/python bench/api.py [--calls 1000] [--subprocesses 10] [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bifrostd import Studio  # noqa: E402

BIFROSTCTL = str(Path(sys.executable).parent / "bifrostctl")


def make_demo(folder: Path) -> Path:
    subprocess.run([BIFROSTCTL, "init", "--demo", str(folder)], check=True, capture_output=True)
    subprocess.run([BIFROSTCTL, "--config", str(folder), "scan"], check=True, capture_output=True)
    return folder / "bifrost.yaml"


def managed_paths(studio: Studio, folder: Path) -> list[str]:
    """Every file of the demo studio that a template matches."""
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file() and ".bifrost" not in p.parts)
    return [path for path in files if studio.resolve(path) is not None]


def median_seconds(work: Callable[[], Any], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def in_cycle(items: list[Any], count: int) -> list[Any]:
    return [items[i % len(items)] for i in range(count)]


def measure(config: Path, calls: int, subprocesses: int, runs: int) -> dict[str, Any]:
    open_s = median_seconds(lambda: Studio.open(config), runs)
    studio = Studio.open(config)
    paths = in_cycle(managed_paths(studio, config.parent), calls)
    matches = [studio.resolve(p) for p in paths]
    formats = [(m.template, m.fields) for m in matches]
    tasks = in_cycle(sorted({e.uri for e in studio.entities("task")}), calls)
    resolve_s = median_seconds(lambda: [studio.resolve(p) for p in paths], runs)
    path_s = median_seconds(lambda: [studio.path(t, f) for t, f in formats], runs)
    latest_s = median_seconds(lambda: [studio.latest(t) for t in tasks], runs)
    studio.close()
    command = [BIFROSTCTL, "--config", str(config), "resolve"]
    sub_s = median_seconds(lambda: [subprocess.run([*command, p], check=True, capture_output=True)
                                    for p in paths[:subprocesses]], runs)
    per_sub = sub_s / subprocesses
    return {
        "managed_paths": len(set(paths)), "calls": calls, "subprocesses": subprocesses, "open_ms": open_s * 1e3,
        "resolve_us": resolve_s / calls * 1e6, "path_us": path_s / calls * 1e6, "latest_us": latest_s / calls * 1e6,
        "subprocess_ms": per_sub * 1e3, "resolve_calls_1000_s": resolve_s * 1000 / calls,
        "subprocess_calls_10_s": per_sub * 10, "subprocess_over_resolve": round(per_sub / (resolve_s / calls)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--subprocesses", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        r = measure(make_demo(Path(folder) / "studio"), args.calls, args.subprocesses, args.runs)
    print(f"demo studio, {r['managed_paths']} managed paths; median of {args.runs} runs")
    print(f"{'question':<40} {'per call':>12} {'calls':>7} {'total':>10}")
    rows = [("Studio.open()", r["open_ms"] * 1e3, 1), ("studio.resolve(path)", r["resolve_us"], args.calls),
            ("studio.path(template, fields)", r["path_us"], args.calls),
            ("studio.latest(task) (catalog)", r["latest_us"], args.calls),
            ("bifrostctl resolve PATH (subprocess)", r["subprocess_ms"] * 1e3, args.subprocesses)]
    for name, per_call_us, count in rows:
        print(f"{name:<40} {per_call_us:>9,.1f} µs {count:>7,} {per_call_us * count / 1e6:>8.3f} s")
    print(f"one subprocess costs as much as {r['subprocess_over_resolve']:,} in-process resolves")
    print(json.dumps({"bench": "api", "runs": args.runs,
                      **{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}}))


if __name__ == "__main__":
    main()
