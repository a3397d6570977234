"""What one ``bifrostctl`` call costs before it does any work: start-up of the quick commands against ``python -c pass``.

Makes the demo studio (``bifrostctl init --demo``, then ``scan``) in a
temporary folder, then runs, in turn, ``--runs`` rounds of: ``python -c pass``
(the interpreter's own start-up, the reference), ``bifrostctl --version``,
``--help``, ``resolve PATH`` (one work file of the demo), ``status`` and
``daemon status`` (no daemon runs: exit code 13). Every command of a round
runs once, so a change in the machine's load reaches all of them alike.

Prints a table of medians, each with its ratio to ``python -c pass`` (the
median of the rounds' ratios), and as the last line one JSON object with the
figures. The commands run this checkout's code (``PYTHONPATH``), from
compiled bytecode as an installed package would.
Usage: ``.venv/bin/python bench/startup.py [--runs 9]``
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("BIFROST_")},
       "PYTHONPATH": str(REPO)}
CTL = [sys.executable, "-m", "bifrostd.cli"]
WORK = "projects/demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v002.ma"


def make_demo(folder: Path) -> Path:
    subprocess.run([*CTL, "init", "--demo", str(folder)], check=True, capture_output=True, env=ENV)
    subprocess.run([*CTL, "--config", str(folder), "scan"], check=True, capture_output=True, env=ENV)
    return folder


def commands(studio: Path) -> dict[str, list[str]]:
    config = ["--config", str(studio)]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "bifrostctl --version": [*CTL, "--version"],
        "bifrostctl --help": [*CTL, "--help"],
        "bifrostctl resolve PATH": [*CTL, *config, "resolve", str(studio / WORK)],
        "bifrostctl status": [*CTL, *config, "status"],
        "bifrostctl daemon status": [*CTL, *config, "daemon", "status"],
    }


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 13):  # 13: no daemon answers `daemon status`
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def measure(studio: Path, runs: int) -> dict[str, dict[str, float]]:
    """Per command: the median seconds, and the median of its ratio to ``python -c pass`` in each round."""
    table = commands(studio)
    for command in table.values():  # warm-up: bytecode, page cache
        seconds(command)
    rounds = [{name: seconds(command) for name, command in table.items()} for _ in range(runs)]
    reference = "python -c pass"
    return {name: {"median_s": statistics.median(r[name] for r in rounds),
                   "ratio": statistics.median(r[name] / r[reference] for r in rounds)} for name in table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    compileall.compile_dir(REPO / "bifrostd", quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(make_demo(Path(folder) / "studio"), args.runs)
    load = os.getloadavg()
    print(f"median of {args.runs} rounds; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"Python {sys.version.split()[0]}")
    print(f"{'command':<28} {'median':>10} {'vs python -c pass':>18}")
    for name, figure in figures.items():
        print(f"{name:<28} {figure['median_s'] * 1e3:>7.0f} ms {figure['ratio']:>17.2f}x")
    print(json.dumps({"bench": "startup", "runs": args.runs, "load": [round(x, 2) for x in load],
                      "python": sys.version.split()[0],
                      **{name: {k: round(v, 4) for k, v in figure.items()} for name, figure in figures.items()}}))


if __name__ == "__main__":
    main()
