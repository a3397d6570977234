"""Following the template files: the check worker (a child process), vouching for a checked set, and a walk
cut short by a reload being put back."""

from __future__ import annotations

import sys

import pytest

from bifrostd.daemon.live_templates import CheckWorker, Verdict, vouched_set

from .conftest import wait_until

#: A stand-in child: answers each request with the location it was given as a fingerprint, "slow" ones late,
#: and exits on "die". The real child is run by the last test.
FAKE = """
import json, sys, time
for line in sys.stdin:
    location = json.loads(line)["location"]
    if location == "die":
        sys.exit(3)
    if location.startswith("slow"):
        time.sleep(0.5)
    print(json.dumps({"fingerprint": location, "problems": []}), flush=True)
"""


def answer(worker: CheckWorker, timeout: float = 20.0) -> Verdict:
    return wait_until(worker.verdict, timeout=timeout, interval=0.01, what="the worker's answer")


@pytest.fixture
def worker():
    made = CheckWorker([sys.executable, "-c", FAKE])
    yield made
    made.stop()


def test_the_newest_request_wins_and_a_stale_answer_is_dropped(worker):
    worker.request("slow-one")
    assert worker.busy and worker.fileno() is not None
    worker.request("two")  # an edit while the first check runs
    worker.request("three")  # and another: only the newest is checked next
    assert answer(worker) == Verdict("three")
    assert not worker.busy and worker.fileno() is None and worker.verdict() is None


def test_a_child_that_dies_answers_invalid_and_is_started_again(worker):
    worker.request("die")
    verdict = answer(worker)
    assert not verdict.valid and "exit code 3" in verdict.problems[0]
    worker.request("again")
    assert answer(worker) == Verdict("again")


def test_a_check_that_takes_too_long_is_stopped():
    now = [0.0]
    worker = CheckWorker([sys.executable, "-c", "import time; time.sleep(60)"], limit=300, clock=lambda: now[0])
    try:
        worker.request("anything")
        assert worker.verdict() is None
        now[0] = 301.0
        verdict = worker.verdict()
        assert not verdict.valid and "longer than 300 s" in verdict.problems[0]
        assert not worker.busy
    finally:
        worker.stop()


def test_a_verdict_vouches_only_for_the_files_it_read(studio):
    from bifrostd.config import load_config

    config = load_config(studio / "bifrost.yaml")
    worker = CheckWorker()  # the real child: the full check, overlap proofs included
    try:
        worker.request(config.templates)
        verdict = answer(worker, timeout=120)
        assert verdict.valid
        template_set, problems = vouched_set(verdict, config)
        assert problems == [] and template_set.fingerprint == verdict.fingerprint
        assert template_set.root_path("renders") == str(studio / "renders")  # with the config's root paths
        shots = config.templates / "shots.yaml"
        shots.write_text(shots.read_text() + "\n# edited after the check\n")
        assert vouched_set(verdict, config) == (None, [])  # changed since: to be checked again
        shots.write_text(shots.read_text() + "  broken:\n    root: projects\n    path: '{nope}.txt'\n")
        worker.request(config.templates)
        verdict = answer(worker, timeout=120)
        assert not verdict.valid and any("nope" in p for p in verdict.problems)
        assert vouched_set(verdict, config) == (None, list(verdict.problems))
    finally:
        worker.stop()


def test_a_reload_cuts_a_walk_short_and_the_walk_is_put_back(studio):
    from bifrostd.catalog import Catalog
    from bifrostd.daemon.loop import Daemon

    now = [1000.0]
    daemon = Daemon(studio / "bifrost.yaml", environ={}, clock=lambda: now[0])
    daemon.start()
    try:
        daemon.phase = "watching"
        daemon.reload_requested = True
        assert daemon.rescan("renders", full=True, reason="overflow", since=990.0) is False
        assert daemon.schedule.requested() == {"renders": "overflow"}
        daemon.schedule.next_full = now[0]  # a periodic full reconcile falls due meanwhile: cut short too
        daemon._maybe_full()
        assert daemon.schedule.requested() == {"projects": "periodic", "renders": "overflow"}
        assert not daemon.schedule.full_due(now[0]) and daemon.counts["full_reconciles"] == 0

        daemon.reloading.maybe_reload()
        now[0] += 1
        daemon._maybe_rescans()  # no event since: both roots are quiet, so both are walked now
        assert daemon.schedule.requested() == {} and daemon.counts["rescans"] == 2
        with Catalog.open(studio / ".bifrost" / "catalog.db") as catalog:
            statuses = [row[0] for row in catalog._conn.execute("SELECT status FROM scans ORDER BY id")]
        assert statuses[-3:] == ["interrupted", "done", "done"]

        beating = daemon._beating_scandir

        def reload_arrives(folder):  # SIGHUP once projects is walked, while renders is (the last root)
            daemon.reload_requested = daemon.reload_requested or daemon.counts["rescans"] == 3
            return beating(folder)

        daemon._beating_scandir = reload_arrives
        daemon.schedule.next_full = now[0]
        daemon._maybe_full()
        assert daemon.schedule.requested() == {"renders": "periodic"}  # projects was walked, renders goes again
        assert daemon.counts["full_reconciles"] == 0 and daemon.counts["rescans"] == 3
    finally:
        daemon.close()


def test_the_daemon_stops_its_checker(studio):
    from bifrostd.daemon.loop import Daemon

    daemon = Daemon(studio / "bifrost.yaml", environ={})
    daemon.start()
    process = daemon.live.worker._process
    assert process is not None and process.poll() is None  # proving the set in use
    daemon.close()
    assert process.poll() is not None  # killed and reaped, not left behind
