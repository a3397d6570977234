"""bifrostctl reaches a running daemon while bifrost.yaml is invalid: status, a refused reload, stop."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import installed, wait_until, write_config

REFUSED = "reload refused, keeping the running config: "


@pytest.mark.parametrize("breakage", [
    pytest.param("scan:\n  workers: lots\n", id="an-invalid-value"),
    pytest.param("scan: [unclosed\n  workers: : :\n", id="not-yaml"),
])
def test_status_reload_and_stop_while_the_config_is_invalid(studio, daemon_factory, breakage):
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().replace("state: .bifrost", "state: ./state/here"))
    d = daemon_factory(config)
    good = config.read_text()
    config.write_text(good + breakage)
    assert d.ctl("status", check=False).returncode == 3  # what needs the config still says it is invalid

    status = d.ctl("daemon", "status", "--json", check=False)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["phase"] == "watching"

    reload = d.ctl("daemon", "reload", check=False)
    assert reload.returncode == 3, reload.stderr
    assert reload.stderr.startswith(f"Error: {REFUSED}") and "Traceback" not in reload.stderr
    assert str(config) in reload.stderr  # the problems name the file (and line)
    assert any(REFUSED in line["msg"] for line in d.log_lines())
    assert d.process.poll() is None  # still running, on the old config

    stop = d.ctl("daemon", "stop", check=False)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("stopped")
    assert d.process.wait(timeout=30) == 0


def test_a_valid_reload_is_still_taken(studio, daemon_factory):
    config = studio / "bifrost.yaml"
    d = daemon_factory(config)
    write_config(studio, "  settle: 300ms\n")
    done = d.ctl("daemon", "reload")
    assert done.returncode == 0 and "reload requested" in done.stdout
    wait_until(lambda: any(line["msg"].startswith("reloaded ") for line in d.log_lines()), what="the reload")
    assert d.stop() == 0


def test_a_config_that_does_not_say_where_the_state_folder_is(studio):
    def ask() -> subprocess.CompletedProcess:
        return subprocess.run([installed("bifrostctl"), "--config", str(config), "daemon", "status"],
                              capture_output=True, text=True, timeout=60)

    config = studio / "bifrost.yaml"
    config.write_text("state: [not, a, path]\nroots: {\n")
    done = ask()
    assert done.returncode == 3 and done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    assert "state" in done.stderr and str(config) in done.stderr
    config.unlink()
    gone = ask()
    assert gone.returncode == 3 and gone.stderr.startswith("Error: ") and "does not exist" in gone.stderr
