"""Shared fixtures. Tests run on real files in tmp_path; the environment is cleaned of BIFROST_*;
a test that leaves a thread or a child process running fails (see leaks.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import leaks

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "templates"
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pytest_configure(config):
    config.pluginmanager.register(leaks.FixtureOwnership(), "bifrost-fixture-ownership")


@pytest.fixture(autouse=True)
def no_leaks(pytestconfig):
    """Fail a test that leaves a thread or a child process running (or a child exited but never reaped).

    Only what the test started counts: whatever ran before it, and whatever a
    session or module fixture started, is excluded. Stragglers get
    ``leaks.GRACE`` seconds to end.
    """
    before = leaks.snapshot()
    yield
    fixtures = pytestconfig.pluginmanager.get_plugin("bifrost-fixture-ownership")
    threads, kids = leaks.wait_for_leaks(before | fixtures.owned)
    if threads or kids:
        pytest.fail(leaks.report(threads, kids), pytrace=False)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("BIFROST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def small_set_dir(tmp_path) -> Path:
    """A copy of the small template set that a test may edit."""
    target = tmp_path / "templates"
    shutil.copytree(DATA / "small", target)
    return target


@pytest.fixture
def small_set(small_set_dir):
    from bifrostd.templates import load_template_set

    return load_template_set(small_set_dir)


#: Runs as root, loads the interpreter and the modules a test needs, then drops
#: to nobody for good before running the test's code: the subject really runs
#: unprivileged, even where the interpreter's own files (a pyenv build under
#: /root) are out of nobody's reach.
_AS_NOBODY = """
import grp, os, pwd, sys, importlib
for name in sys.argv[1].split(","):
    if name:
        importlib.import_module(name)
os.setgroups([])
os.setgid(grp.getgrnam("nogroup").gr_gid)
os.setuid(pwd.getpwnam("nobody").pw_uid)
assert os.geteuid() != 0 and os.getegid() != 0
code = sys.argv[2]
sys.argv = sys.argv[2:]
exec(compile(code, "<as-nobody>", "exec"), {"__name__": "__main__"})
"""


def run_as_nobody(code: str, *args: str, preload: tuple[str, ...] = (), cwd: Path | None = None, timeout: float = 60):
    """Run ``code`` in a child Python that has dropped root for nobody/nogroup.

    ``preload`` names modules imported before the drop; ``args`` become
    ``sys.argv[1:]`` of ``code``.
    """
    import subprocess

    command = [sys.executable, "-c", _AS_NOBODY, ",".join(preload), code, *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout)


def can_drop_to_nobody() -> bool:
    import grp
    import pwd

    try:
        pwd.getpwnam("nobody"), grp.getgrnam("nogroup")
    except KeyError:
        return False
    return os.geteuid() == 0


def installed(command: str) -> str:
    """An installed console script of the interpreter running the tests."""
    path = BIN / command
    return str(path) if path.exists() else shutil.which(command) or command


def scanned_demo(folder: Path) -> Path:
    """The demo studio (``bifrostctl init --demo FOLDER``), scanned in process; its config's path."""
    from bifrostd.cli import main

    subprocess.run([installed("bifrostctl"), "init", "--demo", str(folder)], check=True, capture_output=True)
    config = folder / "bifrost.yaml"
    assert main(["--config", str(config), "scan"]) == 0
    return config


def ctl_in_process(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    """``bifrostctl --config CONFIG ARGS`` run in this process: (exit code, stdout, stderr)."""
    from bifrostd.cli import main

    code = main(["--config", str(config), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def bifrostctl_bin() -> str:
    return installed("bifrostctl")


@pytest.fixture
def bifrostd_bin() -> str:
    return installed("bifrostd")
