"""The systemd units: systemd's own checker accepts them, and they say what admins rely on.

Nothing here runs systemd as PID 1, so the units are never started; what
starting them does is argued in docs/daemon.md ("systemd") from systemd's
documented rules, and the behaviour behind them (the timer's pass on a
daemon host, the exit codes) is tested end to end in tests/daemon.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bifrostd.errors import all_error_classes

from conftest import REPO, installed

UNITS = REPO / "systemd"
NAMES = ("bifrostd.service", "bifrost-mirror.service", "bifrost-mirror.timer")
USAGE = 2  # argparse's exit for a bad command line: the unit's own ExecStart
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values in order (keys may repeat), per systemd.syntax(7): '#'/';' comments,
    a trailing backslash continues the line."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def units() -> dict[str, dict[str, dict[str, list[str]]]]:
    return {name: parse_unit(UNITS / name) for name in NAMES}


def runnable_copies(folder: Path) -> list[Path]:
    """The units with ExecStart pointing at this environment's scripts (verify checks they exist)."""
    copies = []
    for name in NAMES:
        text = re.sub(r"/opt/bifrost/venv/bin/(\w+)", lambda m: installed(m[1]), (UNITS / name).read_text())
        (folder / name).write_text(text)
        copies.append(folder / name)
    return copies


def verify(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, paths)], capture_output=True, text=True,
                          cwd=paths[0].parent, timeout=60)


def about(done: subprocess.CompletedProcess, names: tuple[str, ...]) -> list[str]:
    """Lines of systemd-analyze's output that concern these units (it may also mention the host's own)."""
    return [line for line in (done.stdout + done.stderr).splitlines() if any(name in line for name in names)]


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    done = verify(runnable_copies(tmp_path))
    assert done.returncode == 0 and not about(done, NAMES), done.stdout + done.stderr


@needs_systemd_analyze
def test_systemd_analyze_verify_would_tell_a_misspelt_or_unparseable_setting(tmp_path):
    """The check above can fail: verify only warns (exit 0) about these, so the test reads its output."""
    (daemon, mirror, timer) = runnable_copies(tmp_path)
    daemon.write_text(daemon.read_text().replace("RestartSec=5s", "RestartSec=5s\nRestartPreventExitStatus=3 three"))
    mirror.write_text(mirror.read_text().replace("[Service]", "[Service]\nConflict=bifrostd.service"))
    done = verify([daemon, mirror, timer])
    assert "three" in "\n".join(about(done, ("bifrostd.service",))), done.stderr
    assert "Conflict" in "\n".join(about(done, ("bifrost-mirror.service",))), done.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", ["bifrostd.service", "bifrost-mirror.service"])
def test_the_services_stay_hardened(tmp_path, name):
    """systemd's offline exposure score (0 to 10, lower is tighter): 1.8 and 1.9 today; 2.5 allows a little slack."""
    copy = {p.name: p for p in runnable_copies(tmp_path)}[name]
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--threshold=25", "--no-pager", str(copy)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    if "--offline" in done.stderr and "unrecognized" in done.stderr:  # systemd < 250
        pytest.skip("this systemd-analyze has no offline security review")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_nothing_the_timer_starts_conflicts_with_the_daemon(units):
    """Starting a unit stops the units it conflicts with (systemd.unit(5), Conflicts=), in either direction:
    a Conflicts= between them would stop bifrostd at every timer tick."""
    for name in NAMES:
        for section in units[name].values():
            assert not any("bifrostd" in value for value in section.get("Conflicts", [])), name
            assert not any("bifrost-mirror" in value for value in section.get("Conflicts", [])), name
    assert units["bifrost-mirror.service"]["Unit"]["After"][-1].split()[-1] == "bifrostd.service"  # ordering only
    assert "Requires" not in units["bifrost-mirror.service"]["Unit"]
    assert "Wants" not in units["bifrost-mirror.service"]["Unit"] or not any(
        "bifrostd" in v for v in units["bifrost-mirror.service"]["Unit"]["Wants"])


def test_the_timer_runs_only_due_targets(units):
    (command,) = units["bifrost-mirror.service"]["Service"]["ExecStart"]
    assert command.split()[-3:] == ["mirror", "run", "--due"]
    assert units["bifrost-mirror.service"]["Service"]["Type"] == ["oneshot"]
    assert units["bifrost-mirror.timer"]["Install"]["WantedBy"] == ["timers.target"]


def test_both_services_read_the_same_optional_credentials_file(units):
    files = [units[name]["Service"].get("EnvironmentFile") for name in ("bifrostd.service", "bifrost-mirror.service")]
    assert files[0] == files[1] and len(files[0]) == 1, files
    (path,) = files[0]
    assert path.startswith("-/etc/bifrost/"), path  # '-': a host without the file starts all the same
    for doc in ("daemon.md", "mirror.md"):
        assert path[1:] in (REPO / "docs" / doc).read_text(), f"docs/{doc} does not name {path[1:]}"


def test_both_services_share_the_state_folder(units):
    for key in ("StateDirectory", "StateDirectoryMode", "User", "Group", "UMask"):
        assert units["bifrostd.service"]["Service"][key] == units["bifrost-mirror.service"]["Service"][key], key


def test_the_daemon_is_not_restarted_for_errors_a_restart_cannot_mend(units):
    service = units["bifrostd.service"]["Service"]
    assert service["Restart"] == ["on-failure"]
    codes = {int(code) for value in service["RestartPreventExitStatus"] for code in value.split()}
    lasting = {cls.exit_code for cls in all_error_classes() if not cls.restart_mends}
    assert codes == lasting | {USAGE}
    mended = {cls.exit_code for cls in all_error_classes() if cls.restart_mends} - {USAGE}
    assert not codes & mended, "a restart mends these (a busy catalog, a daemon still stopping)"


def test_the_daemon_tells_systemd_when_it_is_ready_and_alive(units):
    service = units["bifrostd.service"]["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] and service["TimeoutStartSec"] == ["1h"]  # READY=1 comes after the full reconcile
