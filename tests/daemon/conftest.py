"""Fixtures for daemon tests: a demo studio, and the real ``bifrostd`` run as a subprocess.

Tests that watch live changes need the host's inotify. On a host where it
can't be used (the instance or watch limit taken by other programs, a sandbox
without it) they are skipped with the reason, instead of failing with a
timeout: tests marked ``inotify``, and every test that starts the daemon.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import tempfile
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
IN_CREATE = 0x100


@functools.cache
def inotify_problem() -> str | None:
    """Why this host's inotify can't watch a folder for this user, or None when it can."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        return _limit(ctypes.get_errno(), "inotify_init1")
    try:
        with tempfile.TemporaryDirectory() as folder:
            if libc.inotify_add_watch(fd, os.fsencode(folder), IN_CREATE) < 0:
                return _limit(ctypes.get_errno(), "inotify_add_watch")
    finally:
        os.close(fd)
    return None


def _limit(code: int, call: str) -> str:
    limit = {errno.EMFILE: "fs.inotify.max_user_instances", errno.ENOSPC: "fs.inotify.max_user_watches"}.get(code)
    return f"this host's inotify is unusable: {call} failed with {os.strerror(code)}" + (
        f" ({limit} reached)" if limit else "")


def needs_inotify(item: pytest.Item) -> bool:
    return item.get_closest_marker("inotify") is not None or (
        HERE in item.path.parents and "daemon_factory" in getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = inotify_problem() if any(needs_inotify(item) for item in items) else None
    if problem is None:
        return
    for item in items:
        if needs_inotify(item):
            item.add_marker(pytest.mark.skip(reason=problem))


def installed(command: str) -> str:
    """The console script installed next to the interpreter running the tests."""
    path = BIN / command
    return str(path) if path.exists() else shutil.which(command) or command


def write_config(studio: Path, daemon: str = "  settle: 200ms\n") -> Path:
    config = studio / "bifrost.yaml"
    text = config.read_text().split("\ndaemon:")[0]
    config.write_text(text.rstrip("\n") + "\ndaemon:\n" + daemon)
    return config


def demo_studio(target: Path, *, settle_short: bool = True) -> Path:
    """``bifrostctl init --demo TARGET``, with a short settle interval unless ``settle_short`` is False."""
    subprocess.run([installed("bifrostctl"), "init", "--demo", str(target)], check=True, capture_output=True)
    if settle_short:
        write_config(target)
    return target


@pytest.fixture
def studio(tmp_path) -> Path:
    """The demo studio (``bifrostctl init --demo``) with a short settle interval."""
    return demo_studio(tmp_path / "studio")


@contextmanager
def tmpfs_at(folder: Path, size: str, *, name: str = "bifrost-test", options: str = "") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (made if needed) for the block; skips where mounting is not allowed."""
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", name, str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte; returns the filler file (delete it to free the disk)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # big writes, then the last pages, then the last bytes
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 GiB tmpfs (bursts on it are not limited by the disk); skips where mounting is not allowed."""
    with tmpfs_at(tmp_path / "tmpfs", "1g") as target:
        yield target


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


class Bifrostd:
    """A running ``bifrostd --log-json`` and ``bifrostctl`` against the same config; ``command`` replaces the
    installed ``bifrostd`` (e.g. ``python -c ...`` to start it with a package made unimportable)."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, wait: bool = True,
                 command: list[str] | None = None) -> None:
        self.config = config
        self.log_path = config.parent / f"bifrostd-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "NOTIFY_", "WATCHDOG_"))}
        self.process = subprocess.Popen([*(command or [installed("bifrostd")]), "--config", str(config), "--log-json"],
                                        stdout=self._log, stderr=subprocess.STDOUT, env={**environ, **(env or {})})
        if wait:
            wait_until(self.ready, timeout=60, what="bifrostd to be ready")

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([installed("bifrostctl"), "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=60)
        if check and done.returncode not in (0, 1):
            raise AssertionError(f"bifrostctl {' '.join(args)} -> {done.returncode}: {done.stderr}")
        return done

    def ctl_json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.ctl(*args, "--json").stdout)

    def status(self) -> dict[str, Any] | None:
        done = self.ctl("daemon", "status", "--json", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"bifrostd exited with {self.process.returncode}:\n{self.log()}")
        status = self.status()
        return bool(status and status["phase"] == "watching")

    def idle(self) -> bool:
        """Nothing pending, no rescan waiting."""
        status = self.status()
        return bool(status and status["queue"]["pending"] == 0 and not status["queue"]["rescans_waiting"])

    def files(self, folder: Path) -> dict[str, dict[str, Any]]:
        """Catalogued files under ``folder`` (absolute), by path relative to its root, via ``bifrostctl ls``."""
        return {f["path"]: f for f in self.ctl_json("ls", str(folder))["files"]}

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code


@pytest.fixture
def daemon_factory():
    running: list[Bifrostd] = []

    def start(config: Path, **kwargs: Any) -> Bifrostd:
        process = Bifrostd(config, **kwargs)
        running.append(process)
        return process

    yield start
    for process in running:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()
        if not process._log.closed:
            process._log.close()


def catalogued(studio: Path, root: str, folder: str = "") -> dict[str, Any]:
    """Files under ``folder`` straight from the catalog, read-only (works while the template set is invalid)."""
    from bifrostd.catalog import Catalog
    from bifrostd.catalog.queries import files_under

    with Catalog.open(studio / ".bifrost" / "catalog.db") as catalog:
        return {row.relative: row for row in files_under(catalog._conn, root, folder, limit=10**7)}
