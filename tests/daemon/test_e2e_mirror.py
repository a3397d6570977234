"""The daemon runs mirror targets on a worker thread: indexing goes on meanwhile, reload picks up
targets, SIGTERM stops a run between files, and status shows the worker. The systemd timer's pass
leaves a running daemon alone; a target whose backend package is missing fails alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import installed, wait_until


def add_target(studio: Path, folder: Path, **settings) -> None:
    config = studio / "bifrost.yaml"
    text = config.read_text()
    target = {"url": folder.as_uri(), "schedule": "1h", "concurrency": 1, **settings}
    config.write_text(text.rstrip("\n") + "\nmirror:\n  targets:\n    vault: " + json.dumps(target) + "\n")


def settled_files(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 3600
    for n in range(count):
        path = folder / f"plate_{n:03d}.bin"
        path.write_bytes(os.urandom(size))
        os.utime(path, (old, old))


def test_reload_adds_a_target_and_the_run_happens_off_the_main_loop(studio, daemon_factory, tmp_path):
    settled_files(studio / "projects" / "demo" / "plates", 40, 32 * 1024)
    d = daemon_factory(studio / "bifrost.yaml")
    assert d.status()["mirror"]["state"] == "idle" and d.status()["mirror"]["last"] == {}
    # 1.25 MiB at 256 KiB/s (after a 1 s burst): a run of a few seconds
    add_target(studio, tmp_path / "vault", bandwidth="256KiB")
    assert d.ctl("daemon", "reload").returncode == 0  # no restart: the worker takes the new targets
    wait_until(lambda: d.status()["mirror"]["state"] == "running", what="the mirror run to start")
    assert d.status()["mirror"]["target"] == "vault"
    new = studio / "projects" / "demo" / "saved_during_the_run.txt"
    new.write_text("an artist saves while the mirror uploads")
    wait_until(lambda: "saved_during_the_run.txt" in json.dumps(d.ctl_json("ls", str(new.parent))), timeout=10,
               what="the new file to be indexed")
    assert d.status()["mirror"]["state"] == "running"  # indexed while the run was still going
    wait_until(lambda: "vault" in d.status()["mirror"]["last"], timeout=60, what="the run to finish")
    last = d.status()["mirror"]["last"]["vault"]
    assert last["status"] == "ok" and last["counts"]["uploaded"] >= 40, last
    assert d.status()["mirror"]["next_due"] > time.time() + 3000  # the next one in an hour
    assert "mirror     idle" in d.ctl("daemon", "status").stdout
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().replace('"concurrency": 1', '"concurency": 1'))
    refused = d.ctl("daemon", "reload", check=False)  # the daemon's refusal is the command's answer
    assert refused.returncode == 15 and "reload refused" in refused.stderr and "concurency" in refused.stderr
    wait_until(lambda: any("reload refused" in e["message"] and "concurency" in e["message"]
                           for e in d.status()["errors"]), what="the misspelt option to refuse the reload")
    assert d.stop() == 0


def test_sigterm_stops_a_mirror_run_between_files(studio, daemon_factory, tmp_path):
    settled_files(studio / "projects" / "demo" / "plates", 60, 64 * 1024)
    add_target(studio, tmp_path / "vault", bandwidth="128KiB")  # ~30 s for everything
    d = daemon_factory(studio / "bifrost.yaml")
    vault = tmp_path / "vault"
    # the demo's own small files go first: wait for plates themselves, not the run's file count
    wait_until(lambda: len(list(vault.rglob("plate_*.bin"))) >= 3, timeout=60, what="a few plates to be mirrored")
    started = time.monotonic()
    assert d.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert "mirror vault: stopped" in d.log_path.read_text()
    mirrored = list(vault.rglob("plate_*.bin"))
    assert 3 <= len(mirrored) < 60


def test_mirror_run_while_the_daemon_holds_the_catalog_asks_its_worker(studio, daemon_factory, tmp_path):
    settled_files(studio / "projects" / "demo" / "plates", 5, 1024)
    add_target(studio, tmp_path / "vault")
    d = daemon_factory(studio / "bifrost.yaml")
    wait_until(lambda: "vault" in d.status()["mirror"]["last"], timeout=60, what="the first, scheduled run")
    first = d.status()["mirror"]["last"]["vault"]["at"]
    late = studio / "projects" / "demo" / "plates" / "late.bin"
    late.write_bytes(b"saved after the scheduled run")
    os.utime(late, (time.time() - 3600,) * 2)
    wait_until(lambda: d.ctl_json("mirror", "status")["targets"][0]["pending_files"] == 1, what="the file pending")
    asked = d.ctl_json("mirror", "run")  # the next scheduled run is an hour away
    assert asked == {"schema": "bifrost.mirror-run-requested.1", "requested": ["vault"], "via": "daemon"}
    wait_until(lambda: d.status()["mirror"]["last"]["vault"]["at"] > first, timeout=30, what="the asked-for run")
    assert d.status()["mirror"]["last"]["vault"]["counts"]["uploaded"] == 1
    assert (tmp_path / "vault" / "projects" / "demo" / "plates" / "late.bin").read_bytes().startswith(b"saved")
    assert d.ctl("mirror", "run", "--due").stdout.startswith("bifrostd holds the catalog and runs the mirror")
    unknown = d.ctl("mirror", "run", "nowhere", check=False)
    assert unknown.returncode != 0 and "nowhere" in unknown.stderr
    assert d.stop() == 0


def test_the_daemon_holds_back_a_mass_deletion_until_a_run_is_asked_for_with_allow_deletions(
        studio, daemon_factory, tmp_path):
    plates = studio / "projects" / "demo" / "plates"
    settled_files(plates, 5, 1024)
    add_target(studio, tmp_path / "vault", delete="mirror", max_delete=2)
    d = daemon_factory(studio / "bifrost.yaml")
    wait_until(lambda: "vault" in d.status()["mirror"]["last"], timeout=60, what="the first, scheduled run")
    mirrored = tmp_path / "vault" / "projects" / "demo" / "plates"
    assert len(list(mirrored.iterdir())) == 5
    for path in plates.iterdir():
        path.unlink()
    wait_until(lambda: d.ctl_json("status")["files"].get("missing") == 5, what="the deletions to be catalogued")
    first = d.status()["mirror"]["last"]["vault"]["at"]
    d.ctl_json("mirror", "run")
    wait_until(lambda: d.status()["mirror"]["last"]["vault"]["at"] > first, timeout=30, what="the asked-for run")
    last = d.status()["mirror"]["last"]["vault"]
    assert last["status"] == "incomplete" and "5 deletions held back" in last["error"], last
    assert len(list(mirrored.iterdir())) == 5
    assert "deletions held back" in d.log_path.read_text()
    asked = d.ctl_json("mirror", "run", "vault", "--allow-deletions")
    assert asked["requested"] == ["vault"]
    wait_until(lambda: d.status()["mirror"]["last"]["vault"]["status"] == "ok", timeout=30, what="the allowed run")
    assert d.status()["mirror"]["last"]["vault"]["counts"] == {"deleted": 5}
    assert list(mirrored.iterdir()) == []
    assert d.stop() == 0


def timer_command(config: Path) -> list[str]:
    """What bifrost-mirror.timer starts, from the unit itself, pointed at this environment and this config."""
    unit = Path(__file__).resolve().parents[2] / "systemd" / "bifrost-mirror.service"
    (line,) = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=").split()
    assert command[:3] == ["/opt/bifrost/venv/bin/bifrostctl", "--config", "/etc/bifrost/bifrost.yaml"], command
    return [installed("bifrostctl"), "--config", str(config), *command[3:]]


def test_the_mirror_timer_on_a_daemon_host_exits_0_and_leaves_the_daemon_alone(studio, daemon_factory, tmp_path):
    settled_files(studio / "projects" / "demo" / "plates", 3, 1024)
    add_target(studio, tmp_path / "vault")
    d = daemon_factory(studio / "bifrost.yaml")
    wait_until(lambda: "vault" in d.status()["mirror"]["last"], timeout=60, what="the first, scheduled run")
    before = d.status()
    runs_before = d.ctl_json("mirror", "status")["targets"][0]["last_run"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    for _ in range(2):  # two timer ticks
        done = subprocess.run(timer_command(studio / "bifrost.yaml"), capture_output=True, text=True, timeout=60,
                              env=environ)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("bifrostd holds the catalog and runs the mirror schedule itself"), done.stdout
    after = d.status()
    assert d.process.poll() is None
    assert (after["pid"], after["started"]) == (before["pid"], before["started"])
    assert after["mirror"]["last"] == before["mirror"]["last"] and after["counts"]["errors"] == 0
    assert d.ctl_json("mirror", "status")["targets"][0]["last_run"] == runs_before  # no run of its own
    new = studio / "projects" / "demo" / "after_the_timer.txt"
    new.write_text("still indexed")
    wait_until(lambda: "after_the_timer.txt" in json.dumps(d.ctl_json("ls", str(new.parent))), what="a new save")
    assert d.stop() == 0


def test_the_mirror_timer_with_no_targets_configured_exits_0_with_or_without_the_daemon(studio, daemon_factory):
    config = studio / "bifrost.yaml"
    alone = subprocess.run(timer_command(config), capture_output=True, text=True, timeout=60)
    assert (alone.returncode, alone.stdout, alone.stderr) == (0, "", ""), alone.stderr
    d = daemon_factory(config)
    beside = subprocess.run(timer_command(config), capture_output=True, text=True, timeout=60)
    assert beside.returncode == 0 and beside.stdout.startswith("bifrostd holds the catalog"), beside.stderr
    assert d.process.poll() is None and d.stop() == 0


def test_a_target_whose_backend_package_is_missing_fails_each_run_while_the_daemon_keeps_indexing(
        studio, daemon_factory):
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().rstrip("\n") + "\nmirror:\n  targets:\n    offsite: "
                      + json.dumps({"url": "s3://studio-backup/bifrost", "schedule": "1h"}) + "\n")
    # An honest ImportError: the interpreter is told s3fs can't be imported, as when it is not installed.
    without_s3fs = [sys.executable, "-c", "import sys; sys.modules['s3fs'] = None; from bifrostd.daemon.loop import main; main()"]
    d = daemon_factory(config, command=without_s3fs)
    wait_until(lambda: "offsite" in d.status()["mirror"]["last"], timeout=60, what="the first, scheduled run")
    last = d.status()["mirror"]["last"]["offsite"]
    assert last["status"] == "failed", last
    assert "needs the Python package s3fs, which is not installed" in last["error"]
    assert f"{sys.executable} -m pip install 's3fs>=" in last["error"]
    assert "offsite: mirror target 'offsite' (s3://) needs the Python package s3fs" in d.ctl("daemon", "status").stdout
    assert "s3fs, which is not installed" in d.log()
    status = d.ctl_json("mirror", "status")["targets"][0]
    assert status["last_error"]["error"].startswith("PackageMissing: mirror target 'offsite' (s3://) needs"), status
    assert status["next_run_ns"] > time.time_ns() + 3000 * 10**9  # the failed run counts: not retried in a loop
    new = studio / "projects" / "demo" / "saved_meanwhile.txt"
    new.write_text("indexed all the same")
    wait_until(lambda: "saved_meanwhile.txt" in json.dumps(d.ctl_json("ls", str(new.parent))), what="a new save")
    assert d.process.poll() is None
    assert d.stop() == 0
