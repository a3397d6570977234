"""One daemon per state folder: the second is refused with the holder's pid, in-process and across processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bifrostd.errors import DaemonRunning
from bifrostd.catalog.state_lock import StateLock, holder_pid


def test_second_lock_is_refused_naming_the_pid(tmp_path):
    with StateLock(tmp_path, pid=4242):
        assert holder_pid(tmp_path) == 4242
        with pytest.raises(DaemonRunning) as caught:
            StateLock(tmp_path).acquire()
        assert "pid 4242" in str(caught.value) and str(tmp_path) in str(caught.value)
        assert caught.value.exit_code == 12
    assert holder_pid(tmp_path) is None
    with StateLock(tmp_path):
        assert holder_pid(tmp_path) == os.getpid()


def test_a_killed_holder_leaves_a_file_but_no_lock(tmp_path):
    code = ("import sys, os, time; from bifrostd.catalog.state_lock import StateLock; StateLock(sys.argv[1]).acquire(); "
            "print(os.getpid(), flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(holder.stdout.readline())
        with pytest.raises(DaemonRunning, match=f"pid {pid}"):
            StateLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert (tmp_path / "bifrostd.pid").read_text().strip() == str(pid)
    with StateLock(tmp_path) as lock:
        assert (tmp_path / "bifrostd.pid").read_text().strip() == str(lock.pid)


def test_lock_creates_the_state_folder(tmp_path):
    with StateLock(tmp_path / "a" / "state"):
        assert (tmp_path / "a" / "state" / "bifrostd.pid").exists()


@pytest.mark.parametrize("umask", [0, 0o022, 0o077])
def test_the_state_folder_and_the_lock_are_the_groups_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        StateLock(tmp_path / "state").acquire().release()
    finally:
        os.umask(old)
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "state" / "bifrostd.pid").stat().st_mode & 0o777 == 0o640
