"""bifrostctl's global options (-q, -v, --debug), "did you mean" for commands, and progress on a terminal.

Progress is checked the way a person sees it: the installed bifrostctl runs
with its stderr on a pseudo-terminal, and again piped, where it must print
no progress at all.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from click.testing import CliRunner

from bifrostd.cli import cli, main
from bifrostd.observe.hashing import BUFFER_SIZE

from studio_tree import age_tree, make_tree, scan, write, write_config

#: What a progress bar prints: bytes done of a total, and a rate.
BYTES_AND_RATE = re.compile(r"\d+(\.\d+)?[kMG]?/\d+(\.\d+)?[kMG]? \[[\d:]+<[\d:?]+, +\d+(\.\d+)?[kMGT]?B/s")


@pytest.fixture
def studio(tmp_path):
    tree = tmp_path / "projects"
    make_tree(tree, shots=1, versions=2, frames=3)
    write(tree / "demo/plates/plate.exr", os.urandom(3 * BUFFER_SIZE))
    age_tree(tree)
    return tree, write_config(tmp_path, tree)


def with_local_mirror(config, bucket) -> None:
    with config.open("a") as out:
        out.write(f"mirror:\n  targets:\n    local: {{url: 'file://{bucket}'}}\n")


def on_terminal(*command: str, columns: int = 100) -> tuple[int, str, str]:
    """Run ``command`` with stderr on a pseudo-terminal of ``columns``; (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave) as proc:
        os.close(slave)
        screen, out = _read_both(master, proc.stdout.fileno())
        code = proc.wait(timeout=60)
    os.close(master)
    return code, out.decode(), screen.decode(errors="replace")


def _read_both(master: int, stdout: int) -> tuple[bytes, bytes]:
    """Read the terminal and stdout until both are closed (EIO on a terminal whose last writer is gone)."""
    got = {master: bytearray(), stdout: bytearray()}
    open_fds = {master, stdout}
    deadline = time.monotonic() + 120
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                got[fd] += chunk
            else:
                open_fds.discard(fd)
    return bytes(got[master]), bytes(got[stdout])


def piped(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


# -- progress on a terminal, and none when piped ---------------------------------------------------------------


def test_scan_shows_bytes_and_rate_on_a_terminal_and_nothing_when_piped(bifrostctl_bin, studio, tmp_path):
    tree, config = studio
    code, stdout, screen = on_terminal(bifrostctl_bin, "--config", str(config), "scan")
    assert code == 0 and "scanned projects" in stdout
    assert "hashing" in screen and BYTES_AND_RATE.search(screen), screen
    assert re.search(r"walking: .*files/s, [\d.]+[kMG]?B\]", screen), screen  # files/s and bytes found, walking
    assert "Error" not in screen
    write(tree / "demo/plates/plate2.exr", os.urandom(2 * BUFFER_SIZE))
    age_tree(tree)
    done = piped(bifrostctl_bin, "--config", str(config), "scan", "--full")
    assert done.returncode == 0 and done.stderr == "" and "added 1" in done.stdout


def test_quiet_and_json_show_no_progress_even_on_a_terminal(bifrostctl_bin, studio):
    tree, config = studio
    code, stdout, screen = on_terminal(bifrostctl_bin, "--config", str(config), "-q", "scan")
    assert code == 0 and screen == "" and "scanned projects" in stdout
    code, stdout, screen = on_terminal(bifrostctl_bin, "--config", str(config), "scan", "--full", "--json")
    assert code == 0 and screen == "" and json.loads(stdout)["schema"] == "bifrost.scan.1"


def test_mirror_run_and_restore_show_bytes_and_rate_on_a_terminal(bifrostctl_bin, studio, tmp_path):
    tree, config = studio
    with_local_mirror(config, tmp_path / "bucket")
    scan(config)
    code, stdout, screen = on_terminal(bifrostctl_bin, "--config", str(config), "mirror", "run")
    assert code == 0 and "local: ok" in stdout, stdout + screen
    assert "local: uploading" in screen and BYTES_AND_RATE.search(screen), screen
    (tree / "demo/plates/plate.exr").unlink()
    code, stdout, screen = on_terminal(bifrostctl_bin, "--config", str(config), "mirror", "restore", "local",
                                       "--to", str(tmp_path / "elsewhere"))
    assert code == 0 and "downloaded" in stdout, stdout + screen
    assert "restoring" in screen and BYTES_AND_RATE.search(screen), screen
    done = piped(bifrostctl_bin, "--config", str(config), "mirror", "restore", "local", "--to", str(tmp_path / "again"))
    assert done.returncode == 0 and done.stderr == ""


def test_a_terminal_that_reports_no_size_still_gets_a_bar(bifrostctl_bin, studio):
    tree, config = studio
    code, _, screen = on_terminal(bifrostctl_bin, "--config", str(config), "scan", columns=0)
    assert code == 0 and BYTES_AND_RATE.search(screen), screen


def test_commands_without_long_work_never_load_the_progress_library(studio):
    tree, config = studio
    code = ("import sys; from bifrostd.cli import main; main(['--config', sys.argv[1], 'resolve', sys.argv[2]]); "
            "main(['--config', sys.argv[1], 'status']); "
            "print('tqdm' in sys.modules, 'bifrostd.cli.progress' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(config), str(tree / "demo")], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.split()[-2:] == ["False", "False"], done.stdout + done.stderr


# -- -q, -v -------------------------------------------------------------------------------------------------------


def test_quiet_drops_informational_lines_and_keeps_errors(studio):
    tree, config = studio
    runner = CliRunner()
    shown = runner.invoke(cli, ["--config", str(config), "scan", "--dry-run"])
    assert shown.exit_code == 0 and "would change" in shown.stderr and "+ projects:" in shown.stdout
    quiet = runner.invoke(cli, ["--config", str(config), "-q", "scan", "--dry-run"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == shown.stdout
    failed = runner.invoke(cli, ["--config", str(config), "-q", "scan", "--root", "nope"])
    assert failed.exit_code == 2 and "unknown root 'nope'" in failed.stderr


def test_verbose_lists_each_finding(studio):
    tree, config = studio
    os.mkfifo(tree / "demo/plates/pipe")
    runner = CliRunner()
    plain = runner.invoke(cli, ["--config", str(config), "scan"])
    assert plain.exit_code == 0 and "findings: 1 (special-file 1)" in plain.stdout
    assert "projects:demo/plates/pipe" not in plain.stdout
    verbose = runner.invoke(cli, ["--config", str(config), "-v", "scan", "--full"])
    assert verbose.exit_code == 0 and "special-file projects:demo/plates/pipe:" in verbose.stdout


def test_verbose_shows_log_lines_and_very_verbose_one_per_file(studio, tmp_path):
    tree, config = studio
    with_local_mirror(config, tmp_path / "bucket")
    scan(config)
    runner = CliRunner()
    run = runner.invoke(cli, ["--config", str(config), "-vv", "mirror", "run"])
    assert run.exit_code == 0, run.output
    assert "DEBUG bifrostd.mirror: mirror local: projects/demo/plates/plate.exr uploaded" in run.stderr
    default = runner.invoke(cli, ["--config", str(config), "mirror", "run"])
    assert default.exit_code == 0 and default.stderr == ""


def test_quiet_and_verbose_together_is_a_usage_error():
    result = CliRunner().invoke(cli, ["-q", "-v", "status"])
    assert result.exit_code == 2 and "contradict" in result.stderr


# -- --debug and the error boundary ------------------------------------------------------------------------------


def test_an_error_is_one_line_and_debug_adds_its_traceback(tmp_path, capsys):
    missing = str(tmp_path / "nowhere.yaml")
    assert main(["--config", missing, "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err
    assert main(["--debug", "--config", missing, "status"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ConfigError" in err
    assert err.rstrip().splitlines()[-1].startswith("Error: ")  # the message still ends it


def test_debug_as_the_installed_command(bifrostctl_bin, tmp_path):
    missing = str(tmp_path / "nowhere.yaml")
    plain = piped(bifrostctl_bin, "--config", missing, "status")
    debug = piped(bifrostctl_bin, "--debug", "--config", missing, "status")
    assert plain.returncode == debug.returncode == 3
    assert "Traceback" not in plain.stderr and plain.stderr.startswith("Error: ")
    assert "Traceback (most recent call last)" in debug.stderr and "bifrostd/config.py" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1] == plain.stderr.rstrip()


def test_a_bug_shows_its_traceback_with_or_without_debug(monkeypatch, studio):
    tree, config = studio

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("bifrostd.reconcile.scan.scan", broken)
    for options in ([], ["--debug"]):
        with pytest.raises(ZeroDivisionError):
            main([*options, "--config", str(config), "scan"])


# -- did you mean ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "hint"), [("stauts", "Did you mean 'status'?"),
                                             ("mirorr", "Did you mean 'mirror'?"),
                                             ("xyzzy", None)])
def test_a_misspelt_command_gets_a_suggestion(typed, hint):
    result = CliRunner().invoke(cli, [typed])
    assert result.exit_code == 2 and f"No such command '{typed}'." in result.stderr
    assert (hint in result.stderr) if hint else "Did you mean" not in result.stderr


def test_the_suggestion_imports_no_command_module():
    code = ("import sys; from bifrostd.cli import main; code = main(['stauts']); "
            "print(code, sorted(m for m in sys.modules if m.startswith('bifrostd.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Did you mean 'status'?" in done.stderr
    assert done.stdout.split(None, 1) == ["2", "['bifrostd.cli.context']\n"], done.stdout
