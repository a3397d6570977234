"""Watch benchmark: the real bifrostd on a 200,000-file studio tree.

Usage: ``python bench/watch.py [--files N] [--samples K] [--settle S] [--idle S] [--burst N]``.

Figures:

- **save→visible latency**: a file is written and closed; we poll the
  catalog (read-only, every 2 ms) until its record is there with its hash.
  Reported minus the settle interval (goal: p50 ≤ 0.1 s, p99 ≤ 0.5 s).
- **burst catch-up**: an external process writes ``--burst`` files as fast as
  it can; time from its first write until all are catalogued, and after its
  last write.
- **idle CPU and RSS** of the daemon watching the tree (CPU-seconds from
  /proc over ``--idle`` seconds; goal ≈ 0).

The tree (``bench/studio_tree.py``) is built once under
/var/tmp/bifrost-bench and reused; what the benchmark writes into it is
removed at the end. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_tree import BENCH_HOME, ensure_tree  # noqa: E402

from bifrostd.daemon.loop import TRIM_QUIET  # noqa: E402

BIN = Path(sys.executable).parent
WORK = "bench/sequences/sq999/sh9999/anim/work/maya"  # a shot the tree generator never makes (its cleanup
# removes the whole sequence: a generated one would leave the reused tree short of files)
WRITER = """
import os, sys, time
base, count = sys.argv[1], int(sys.argv[2])
for f in range(100):
    os.makedirs(f"{base}/d{f:03d}", exist_ok=True)
print(time.time(), flush=True)
for i in range(count):
    fd = os.open(f"{base}/d{i % 100:03d}/burst.{i:06d}.exr", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x")
    os.close(fd)
print(time.time(), flush=True)
"""


def write_config(folder: Path, tree: Path, settle: float) -> Path:
    from bifrostd.demo import default_templates_dir

    config = folder / "bifrost.yaml"
    config.write_text(
        "schema: bifrost.config.1\n"
        f"templates: {default_templates_dir()}\n"
        f"state: {folder / 'state'}\n"
        f"roots:\n  projects: {tree / 'projects'}\n  renders: {tree / 'renders'}\n"
        f"daemon:\n  settle: {settle}\n")
    return config


def control(config: Path, op: str) -> dict:
    from bifrostd.config import load_config
    from bifrostd.daemon.control import ControlClient, client_path

    return ControlClient(client_path(load_config(config).state_dir), timeout=10).call(op)


def wait_ready(config: Path, process: subprocess.Popen, timeout: float = 600) -> float:
    from bifrostd.errors import DaemonUnreachable

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"bifrostd exited with {process.returncode}")
        try:
            if control(config, "status")["status"]["phase"] == "watching":
                return time.monotonic() - started
        except DaemonUnreachable:
            pass
        time.sleep(0.1)
    raise SystemExit("bifrostd not ready in time")


def wait_idle(config: Path, timeout: float = 600) -> None:
    """Until the daemon has nothing pending and no rescan waiting."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        queue = control(config, "status")["status"]["queue"]
        if queue["pending"] == 0 and not queue["rescans_waiting"]:
            return
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def catalog(config_folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{config_folder / 'state' / 'catalog.db'}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def latency(conn: sqlite3.Connection, folder: Path, samples: int, settle: float) -> list[float]:
    """Seconds from close() to a hashed record, minus the settle interval, one file at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(samples):
        name = f"sh9999_anim_v{i + 1:03d}.ma"
        relative = f"{WORK}/{name}"
        with open(folder / name, "wb") as handle:
            handle.write(os.urandom(2048))
        closed = time.perf_counter()
        while True:
            row = conn.execute("SELECT hash FROM files WHERE root='projects' AND path=?", (relative,)).fetchone()
            if row and row[0]:
                break
            time.sleep(0.002)
        out.append(time.perf_counter() - closed - settle)
        time.sleep(0.02)
    return out


def burst(conn: sqlite3.Connection, base: Path, count: int, relative: str) -> dict[str, float]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(base), str(count)], stdout=subprocess.PIPE, text=True)
    first = float(writer.stdout.readline())
    last = float(writer.stdout.readline())
    writer.wait()
    writer.stdout.close()
    while True:
        done = conn.execute("SELECT count(*) FROM files WHERE root='renders' AND path >= ? AND path < ? "
                            "AND state='present'", (relative + "/", relative + "0")).fetchone()[0]
        if done >= count:
            break
        time.sleep(0.05)
    end = time.time()
    return {"files": count, "write_s": last - first, "rate": count / (last - first),
            "catch_up_s": end - first, "after_last_write_s": end - last}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--tree", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--settle", type=float, default=0.25)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=50_000)
    args = parser.parse_args()
    tree = ensure_tree(args.tree or BENCH_HOME / f"watch-{args.files}", args.files).path
    work = tempfile.mkdtemp(prefix="bifrost-watch-bench-", dir="/var/tmp")
    folder = Path(work)
    config = write_config(folder, tree, args.settle)
    latency_dir = tree / "projects" / WORK
    burst_rel = "bench/_watch_burst"
    process = subprocess.Popen([str(BIN / "bifrostd"), "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=open(folder / "bifrostd.log", "w"))
    try:
        startup = wait_ready(config, process)
        time.sleep(TRIM_QUIET + 2.0)  # past the one-off hand-back of the startup reconcile's memory
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - t0)
        status = control(config, "status")["status"]
        idle_rss = rss_mb(process.pid)
        watches = sum(r["watches"] for r in status["roots"])
        conn = catalog(folder)
        lat = latency(conn, latency_dir, args.samples, args.settle)
        burst_figures = burst(conn, tree / "renders" / burst_rel, args.burst, burst_rel)
        after_rss = rss_mb(process.pid)
        wait_idle(config)
        time.sleep(TRIM_QUIET + 2.0)  # the daemon hands a burst's memory back once it has been quiet a while
        settled_rss = rss_mb(process.pid)
        overflows = control(config, "status")["status"]["overflows"]
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        shutil.rmtree(tree / "projects" / "bench" / "sequences" / "sq999", ignore_errors=True)
        shutil.rmtree(tree / "renders" / burst_rel, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "bench": "watch", "files": args.files, "watches": watches, "settle_s": args.settle,
        "startup_reconcile_s": round(startup, 2),
        "latency_p50_s": round(statistics.median(lat), 4), "latency_p99_s": round(percentile(lat, 0.99), 4),
        "latency_max_s": round(max(lat), 4), "samples": len(lat),
        "burst_files": burst_figures["files"], "burst_rate": round(burst_figures["rate"]),
        "burst_catch_up_s": round(burst_figures["catch_up_s"], 2),
        "burst_after_last_write_s": round(burst_figures["after_last_write_s"], 2), "burst_overflows": overflows,
        "idle_cpu_cores": round(idle_cpu, 5), "idle_rss_mb": round(idle_rss, 1), "rss_after_burst_mb": round(after_rss, 1),
        "rss_settled_mb": round(settled_rss, 1),
    }
    rows = [
        ("files watched / inotify watches", f"{args.files:,} / {watches:,}"),
        ("startup full reconcile", f"{startup:.2f} s"),
        ("save→visible latency minus settle", f"p50 {figures['latency_p50_s'] * 1000:.1f} ms, "
         f"p99 {figures['latency_p99_s'] * 1000:.1f} ms, max {figures['latency_max_s'] * 1000:.1f} ms "
         f"({len(lat)} saves, settle {args.settle} s)"),
        ("burst", f"{burst_figures['files']:,} files at {burst_figures['rate']:,.0f} files/s, "
         f"{overflows} overflows"),
        ("burst catch-up", f"{burst_figures['catch_up_s']:.2f} s from first write, "
         f"{burst_figures['after_last_write_s']:.2f} s after last"),
        ("idle CPU", f"{idle_cpu * 100:.3f} % of a core over {args.idle:.0f} s"),
        ("RSS", f"{idle_rss:.1f} MB idle, {after_rss:.1f} MB at the burst's catch-up, "
                f"{settled_rss:.1f} MB {TRIM_QUIET + 2:.0f} s after it settled"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
