"""The state folder: a full disk is a clear error, and what Bifrost creates there is no one else's to read."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import can_drop_to_nobody, run_as_nobody

from .conftest import fill, installed, tmpfs_at, wait_until

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount, nobody)")


def set_state(studio: Path, state: Path) -> None:
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().replace("state: .bifrost", f"state: {state}"))


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last block."""
    with tmpfs_at(tmp_path / "full", "64k", name="bifrost-full") as target:
        fill(target)
        yield target


@ROOT_ONLY
def test_a_full_state_disk_is_a_clear_error(studio, full_disk):
    set_state(studio, full_disk)
    done = subprocess.run([installed("bifrostd"), "--config", str(studio)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 11, done.stderr
    assert "Traceback" not in done.stderr
    assert f"the disk holding the state folder {full_disk} is full" in done.stderr
    scan = subprocess.run([installed("bifrostctl"), "--config", str(studio), "scan"], capture_output=True,
                          text=True, timeout=60)
    assert scan.returncode == 7 and "Traceback" not in scan.stderr
    assert scan.stderr.startswith("Error: ") and f"the catalog {full_disk}/catalog.db is full" in scan.stderr


def modes(folder: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.lstat().st_mode)) for p in [folder, *folder.iterdir()]}


def test_a_scan_under_umask_022_makes_a_private_state_folder(studio):
    done = subprocess.run([installed("bifrostctl"), "--config", str(studio), "scan"], capture_output=True,
                          text=True, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    assert modes(studio / ".bifrost") == {".bifrost": "0o750", "catalog.db": "0o640", "catalog.db.lock": "0o640",
                                          "catalog.db.sound": "0o640"}


def test_a_daemon_under_umask_022_keeps_its_files_to_its_group(studio, daemon_factory):
    old = os.umask(0o022)  # the daemon inherits it, as from a shell or cron
    try:
        d = daemon_factory(studio / "bifrost.yaml")
    finally:
        os.umask(old)
    state = studio / ".bifrost"
    wait_until(lambda: (state / "catalog.db-shm").exists(), what="the catalog's -shm file")
    found = modes(state)
    assert found == {".bifrost": "0o750", "catalog.db": "0o640", "catalog.db-wal": "0o640",
                     "catalog.db-shm": "0o640", "catalog.db.lock": "0o640", "bifrostd.pid": "0o640",
                     "bifrostd.sock": "0o660"}, found
    assert d.stop() == 0


@ROOT_ONLY
@pytest.mark.skipif(not can_drop_to_nobody(), reason="needs the nobody user")
def test_another_user_cannot_read_the_catalog():
    base = Path(tempfile.mkdtemp(prefix="bifrost-private-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        studio = base / "studio"
        subprocess.run([installed("bifrostctl"), "init", "--demo", str(studio)], check=True, capture_output=True)
        subprocess.run([installed("bifrostctl"), "--config", str(studio), "scan"], check=True, capture_output=True,
                       preexec_fn=lambda: os.umask(0o022))
        state = studio / ".bifrost"
        code = ("import sys\ntry:\n    open(sys.argv[1], 'rb').read(16)\nexcept PermissionError:\n"
                "    print('refused')\nelse:\n    print('read')\n")
        assert run_as_nobody(code, str(state / "catalog.db")).stdout.strip() == "refused"
        os.chmod(state, 0o751)  # even with a way through the folder, the file itself is the group's
        assert run_as_nobody(code, str(state / "catalog.db")).stdout.strip() == "refused"
        assert run_as_nobody(code, str(studio / "bifrost.yaml")).stdout.strip() == "read"  # the test can tell
    finally:
        shutil.rmtree(base)
