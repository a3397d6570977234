"""On a host whose inotify is unusable, the tests that need it are skipped with the reason, not timed out.

The host is made in a new user namespace, where the inotify instance limit is
ours to set to 0 (as a sandbox or a machine whose instances are all taken
would have it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NO_INOTIFY = "echo 0 > /proc/sys/user/max_inotify_instances && exec \"$@\""


def run_without_inotify(*command: str) -> subprocess.CompletedProcess[str]:
    probe = subprocess.run(["unshare", "-Ur", "sh", "-c", NO_INOTIFY, "sh", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"can't make a user namespace without inotify here: {probe.stderr.strip()}")
    return subprocess.run(["unshare", "-Ur", "sh", "-c", NO_INOTIFY, "sh", *command],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_daemon_tests_are_skipped_with_the_reason_where_inotify_is_unusable():
    found = run_without_inotify(sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                                "tests/daemon/test_e2e.py::test_changes_are_reflected_through_bifrostctl",
                                "tests/daemon/test_watch.py", "tests/daemon/test_settle.py")
    assert found.returncode == 0, found.stdout + found.stderr
    summary = found.stdout.strip().splitlines()[-1]
    assert " failed" not in summary and " error" not in summary, summary
    assert " passed" in summary, summary  # the settle tests need no inotify and still run
    skipped = [line for line in found.stdout.splitlines() if line.startswith("SKIPPED")]
    assert any("test_e2e.py" in line for line in skipped) and any("test_watch.py" in line for line in skipped)
    assert all("inotify_init1 failed" in line and "fs.inotify.max_user_instances reached" in line
               for line in skipped), skipped
