"""The daemon's pure parts: its config section, its schedule (injected clock), its log lines."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bifrostd.config import Config, ScanSettings
from bifrostd.studio_config.daemon_settings import DaemonSettings, daemon_settings
from bifrostd.daemon.log import setup_logging
from bifrostd.reconcile.dirty import collapse
from bifrostd.errors import ConfigError
from bifrostd.daemon.timers import DaemonTimers, Rescan
from bifrostd.observe.settle import Dirty


def config(daemon) -> Config:
    return Config(path=Path("/etc/bifrost/bifrost.yaml"), templates=Path("t"), state_dir=Path("s"),
                  scan=ScanSettings(full_every=3600.0), daemon=daemon)


def test_defaults_take_full_every_from_the_scan_section():
    assert daemon_settings(config({})) == DaemonSettings(full_every=3600.0)


def test_every_option_parses():
    settings = daemon_settings(config({"settle": "500ms", "full_every": "12h", "poll_every": 10, "batch_max": 50,
                                       "sweep_every": "2h", "sweep_rate": 200, "scrub_every": "7d",
                                       "scrub_rate": "20MiB/s", "roots": {"projects": {"mode": "poll"}}}))
    assert settings == DaemonSettings(settle=0.5, full_every=43200.0, poll_every=10.0, batch_max=50,
                                      sweep_every=7200.0, sweep_rate=200, scrub_every=7 * 86400.0,
                                      scrub_rate=20 * 2**20, modes={"projects": "poll"})


def test_the_sweep_is_on_and_the_scrub_off_unless_asked_and_off_turns_either_off():
    assert (daemon_settings(config({})).sweep_every, daemon_settings(config({})).scrub_every) == (3600.0, None)
    for off in (False, "off", None):
        assert daemon_settings(config({"sweep_every": off})).sweep_every is None
    with pytest.raises(ConfigError) as caught:
        daemon_settings(config({"sweep_every": "soon", "scrub_rate": "1KiB/s", "sweep_rate": 0}))
    for expected in ("daemon.sweep_every: must be a duration", "daemon.scrub_rate: must be a rate of at least 64KiB/s",
                     "daemon.sweep_rate: must be a positive integer"):
        assert expected in str(caught.value)


def test_every_problem_is_reported_with_its_key():
    with pytest.raises(ConfigError) as caught:
        daemon_settings(config({"setle": 1, "poll_every": "often", "batch_max": 0,
                                "roots": {"projects": {"mode": "inotify", "speed": 1}, "renders": "poll"}}))
    text = str(caught.value)
    assert "/etc/bifrost/bifrost.yaml" in text
    for expected in ("daemon.setle: unknown option (did you mean 'settle'?)", "daemon.poll_every: must be a duration",
                     "daemon.batch_max: must be a positive integer", "daemon.roots.projects.mode: must be watch or poll",
                     "daemon.roots.projects.speed: unknown option", "daemon.roots.renders: must be a mapping"):
        assert expected in text


def test_requested_rescans_wait_for_a_quiet_root():
    schedule = DaemonTimers(full_every=100, poll_every=10, settle=1.0, now=0.0)
    schedule.request("projects", "overflow", now=5.0)
    schedule.request("projects", "overflow", now=5.5)  # coalesced
    assert schedule.due_rescans(5.6, {"projects": 5.5}) == []
    assert schedule.due_rescans(6.6, {"projects": 5.5}) == [Rescan("projects", True, "overflow", 5.0)]
    assert schedule.due_rescans(7.0, {"projects": 5.5}) == []


def test_a_root_that_never_goes_quiet_is_rescanned_after_max_wait():
    schedule = DaemonTimers(full_every=100, poll_every=10, settle=1.0, now=0.0, max_wait=30.0)
    schedule.request("renders", "overflow", now=0.0)
    assert schedule.due_rescans(29.0, {"renders": 28.9}) == []
    assert schedule.due_rescans(30.0, {"renders": 29.9}) == [Rescan("renders", True, "overflow", 0.0)]


def test_rescans_cut_short_are_put_back_as_they_were_asked_for():
    schedule = DaemonTimers(full_every=100, poll_every=10, settle=1.0, now=0.0, max_wait=30.0)
    schedule.poll({"nas"}, now=0.0)
    schedule.request("renders", "overflow", now=0.0)
    due = schedule.due_rescans(30.0, {"renders": 29.9})  # never quiet: due after max_wait
    assert due == [Rescan("renders", True, "overflow", 0.0), Rescan("nas", False, "poll")]
    schedule.put_back(due)  # a reload arrived before they were walked
    assert schedule.requested() == {"renders": "overflow"}
    assert schedule.due_rescans(30.5, {"renders": 30.4}) == due  # still past max_wait: due at once, poll included
    schedule.request("renders", "root moved", now=31.0)
    schedule.put_back([Rescan("renders", True, "overflow", 0.0)])
    assert schedule.requested() == {"renders": "root moved"}  # one request per root: the newer one stays


def test_a_step_grows_to_fill_its_budget_and_shrinks_at_once_when_slow():
    from bifrostd.daemon.timers import StepSizer

    sizer = StepSizer(budget=0.5, least=200, most=20000)
    assert sizer.size == 200
    sizer.done(200, 0.01)  # fast: grows, but only twofold per step
    assert sizer.size == 400
    for _ in range(10):
        sizer.done(sizer.size, sizer.size * 0.0001)
    assert sizer.size == 5000  # 0.1 ms per item fills 0.5 s with 5,000
    sizer.done(5000, 10.0)  # a slow step (big files to hash): back to what fits, never below least
    assert sizer.size == 250
    sizer.done(250, 60.0)
    assert sizer.size == 200
    sizer.done(0, 0.0)  # an empty step says nothing about the pace
    assert sizer.size == 200
    sizer.most = 50  # batch_max below least, by config: batch_max wins
    assert sizer.size == 50


def test_polls_and_full_reconciles_come_due():
    schedule = DaemonTimers(full_every=100, poll_every=10, settle=1.0, now=0.0)
    schedule.poll({"nas"}, now=0.0)
    assert schedule.due_rescans(9.9, {}) == []
    assert schedule.due_rescans(10.0, {}) == [Rescan("nas", False, "poll")]
    schedule.polled("nas", 10.0)
    assert schedule.next_wake(10.0) == 1.0  # the template check comes first
    assert schedule.templates_due(1.0) and not schedule.templates_due(1.5)
    assert not schedule.full_due(99.0) and schedule.full_due(100.0)
    schedule.full_done(100.0)
    assert schedule.next_full == 200.0 and schedule.due_rescans(105.0, {}) == []


def test_dirty_folders_swallow_what_is_under_them():
    dirty = [Dirty("r", "a/b", True), Dirty("r", "a/b/c", True), Dirty("r", "a/b/c/f.exr"), Dirty("r", "a/bc.exr"),
             Dirty("r", "x/y.ma"), Dirty("r", "x/y.ma")]
    assert collapse(dirty) == (["a/bc.exr", "x/y.ma"], ["a/b"])


def test_log_lines_mask_credentials():
    stream = io.StringIO()
    handler = setup_logging(json_lines=False, stream=stream)
    try:
        logging.getLogger("bifrostd").info("target %s", "s3://AKIA:wJalrXUt@bucket/path?sig=abc")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "wJalrXUt" not in stream.getvalue() and "sig=abc" not in stream.getvalue()


def test_json_log_lines():
    stream = io.StringIO()
    handler = setup_logging(json_lines=True, stream=stream)
    try:
        logging.getLogger("bifrostd").info("root %s: walked", "projects", extra={"root": "projects", "count": 3})
        logging.getLogger("bifrostd").warning("password=swordfish in a message")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "root projects: walked" and first["root"] == "projects" and first["count"] == 3
    assert first["level"] == "info" and first["logger"] == "bifrostd"
    assert "swordfish" not in second["msg"]


def test_control_requests_run_on_the_loop_and_are_withdrawn_when_it_is_busy(studio):
    import threading
    import time

    from bifrostd.daemon.loop import Daemon
    from bifrostd.errors import DaemonError

    daemon = Daemon(studio / "bifrost.yaml", environ={})
    ran: list[str] = []
    with pytest.raises(DaemonError, match="busy"):
        daemon.on_loop(lambda: ran.append("late"), timeout=0.05)  # no loop is running
    daemon._maybe_requests()
    assert ran == []  # withdrawn: never run behind the asker's back

    answers: list[object] = []
    asker = threading.Thread(target=lambda: answers.append(daemon.on_loop(lambda: threading.get_ident(), timeout=10)))
    asker.start()
    while not daemon._requests:
        time.sleep(0.001)
    daemon._maybe_requests()
    asker.join()
    assert answers == [threading.get_ident()]  # it ran on the loop's thread

    failed: list[BaseException] = []

    def ask() -> None:
        try:
            daemon.on_loop(lambda: ran.append("stopping"), timeout=10)
        except DaemonError as exc:
            failed.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    while not daemon._requests:
        time.sleep(0.001)
    daemon.close()
    asker.join()
    assert ran == [] and "stopping" in str(failed[0])
    ask()  # asked after the stop: refused at once
    assert ran == [] and len(failed) == 2 and "stopping" in str(failed[1])


def test_a_file_is_young_while_written_but_a_future_mtime_does_not_hold_it_back(tmp_path):
    import os
    import time

    from bifrostd.reconcile.dirty import observe_dirty

    now = time.time_ns()
    for name, mtime in (("fresh.ma", now), ("old.ma", now - 60 * 10**9), ("skewed.ma", now + 2 * 3600 * 10**9)):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, ns=(mtime, mtime))
    batch = observe_dirty("projects", str(tmp_path), [Dirty("projects", n) for n in ("fresh.ma", "old.ma", "skewed.ma")],
                    settle_ns=10**9, now_ns=lambda: now)
    assert [d.relative for d in batch.young] == ["fresh.ma"]
    assert sorted(s.relative for s in batch.observations.files) == ["old.ma", "skewed.ma"]


def test_memory_is_handed_back_after_a_quiet_spell_and_waiting_paths_never_make_the_loop_spin(studio):
    from bifrostd.daemon.loop import TRIM_QUIET, Daemon
    from bifrostd.observe.settle import Dirty

    now = [1000.0]
    daemon = Daemon(studio / "bifrost.yaml", environ={}, clock=lambda: now[0])
    daemon.start()
    try:
        def nothing_else_due() -> None:  # root checks and template checks are not what this is about
            daemon._roots_checked, daemon.schedule.next_templates = now[0], now[0] + 60

        nothing_else_due()
        daemon._worked = now[0]  # a big batch just ended
        assert daemon.next_wake() <= now[0] + TRIM_QUIET
        now[0] += TRIM_QUIET + 1
        nothing_else_due()
        daemon.settler.touch(Dirty("projects", "demo/new.ma"), now[0])  # a save arrived meanwhile
        assert daemon.next_wake() > now[0]  # its deadline wakes the loop, not the overdue trim
        daemon._maybe_trim()
        assert daemon._worked is not None  # not while paths wait
        daemon.settler.take(now[0] + 60)
        daemon._maybe_trim()
        assert daemon._worked is None  # handed back once they were taken
    finally:
        daemon.close()
