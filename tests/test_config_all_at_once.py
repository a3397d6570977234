"""A studio config's problems are reported all at once: every section, in file order, with file, line and key."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bifrostd.config import load_config
from bifrostd.studio_config.daemon_settings import DaemonSettings, daemon_settings
from bifrostd.errors import ConfigError, ConfigInvalid, MirrorTargetError
from bifrostd.mirror import parse_targets
from bifrostd.studio_config import load_studio_config, read_studio_config

#: Problems in three sections, written daemon, mirror, scan: each owner finds its own, the report is in file order.
BROKEN = """\
daemon:
  settle: 200ms
  poll_evry: 30s
  batch_max: 0
mirror:
  targets:
    vault:
      url: file:///srv/vault
      bandwidth: fast
      concurency: 2
    offsite:
      url: ftp://backup/studio
scan:
  workers: lots
"""

SHOT = ("project=demo", "sequence=sq010", "shot=sh0100")

#: (the text on the line, its column, the dotted key, the start of the message), in file order.
EXPECTED = [
    ("poll_evry: 30s", 3, "daemon.poll_evry", "unknown option (did you mean 'poll_every'?)"),
    ("batch_max: 0", 14, "daemon.batch_max", "must be a positive integer"),
    ("bandwidth: fast", 18, "mirror.targets.vault.bandwidth", "'fast' is not a size"),
    ("concurency: 2", 7, "mirror.targets.vault.concurency", "unknown option (did you mean 'concurrency'?)"),
    ("url: ftp://", 12, "mirror.targets.offsite.url", "unsupported scheme 'ftp'"),
    ("workers: lots", 12, "scan.workers", "must be a positive integer"),
]


def expected_lines(config: Path, expected=EXPECTED) -> list[str]:
    """Problems of EXPECTED as the error writes them (file:line:column: key: message), their lines found in the file."""
    lines = config.read_text().splitlines()
    out = []
    for text, column, key, message in expected:
        line = next(number for number, written in enumerate(lines, start=1) if written.strip().startswith(text))
        out.append(f"{config}:{line}:{column}: {key}: {message}")
    return out


def assert_listed_in_order(report: str, config: Path, expected=EXPECTED) -> None:
    listed = [line for line in report.splitlines() if line.startswith(f"{config}:")]
    expected = expected_lines(config, expected)
    assert len(listed) == len(expected), report
    for line, wanted in zip(listed, expected):
        assert line.startswith(wanted), (line, wanted)


@pytest.fixture
def broken(tmp_path) -> Path:
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\n" + BROKEN)
    return config


@pytest.fixture
def demo(tmp_path, bifrostctl_bin) -> Path:
    """The demo studio's config (``bifrostctl init --demo``)."""
    subprocess.run([bifrostctl_bin, "init", "--demo", str(tmp_path / "studio")], check=True, capture_output=True)
    return tmp_path / "studio" / "bifrost.yaml"


def test_one_error_lists_every_problem_of_every_section_in_file_order(broken):
    with pytest.raises(ConfigError) as caught:
        load_studio_config(broken, cpus=2)
    assert type(caught.value) is ConfigInvalid and caught.value.exit_code == 3
    assert str(caught.value).startswith("invalid config:\n")
    assert_listed_in_order(str(caught.value), broken)


def test_without_raising_every_section_is_still_checked_and_read(broken):
    studio, problems = read_studio_config(broken, cpus=2)
    assert [p.key for p in problems] == [key for _, _, key, _ in EXPECTED]
    assert studio.daemon.settle == 0.2 and studio.daemon.batch_max == DaemonSettings().batch_max  # its default
    assert dict(studio.targets) == {}  # both targets are wrong, so neither is used


def test_mirror_problems_alone_keep_the_mirror_exit_code(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\n" + BROKEN.split("scan:")[0].replace("poll_evry", "poll_every")
                      .replace("batch_max: 0", "batch_max: 10"))
    with pytest.raises(MirrorTargetError) as caught:
        load_studio_config(config)
    assert caught.value.exit_code == 15
    assert [line.split(": ")[1] for line in str(caught.value).splitlines()[1:]] == [
        "mirror.targets.vault.bandwidth", "mirror.targets.vault.concurency", "mirror.targets.offsite.url"]


def test_a_problem_in_daemon_or_mirror_alone_does_not_stop_loading_the_top_sections(broken):
    broken.write_text(broken.read_text().replace("workers: lots", "workers: 1"))
    config = load_config(broken)  # what bifrostctl's read commands need
    assert config.scan.workers == 1
    with pytest.raises(ConfigError):
        daemon_settings(config)
    with pytest.raises(MirrorTargetError) as caught:
        parse_targets(config.mirror)
    message = str(caught.value)  # without positions: every problem of every target still, by target and option
    for expected in ("mirror target 'vault': bandwidth: 'fast' is not a size",
                     "mirror target 'vault': concurency: unknown option (did you mean 'concurrency'?)",
                     "mirror target 'offsite': url: unsupported scheme 'ftp'"):
        assert expected in message


def test_a_missing_option_is_reported_where_its_target_is_named(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\nmirror:\n  targets:\n    vault:\n      region: eu\n"
                      "daemon:\n  roots:\n    projects: {mode: inotify, sped: 1}\n")
    _, problems = read_studio_config(config)
    assert [str(p) for p in problems] == [
        f"{config}:4:5: mirror.targets.vault.url: required: an fsspec URL such as s3://bucket/prefix, gs://, az:// "
        "or file:///dir",
        f"{config}:8:22: daemon.roots.projects.mode: must be watch or poll, not 'inotify'",
        f"{config}:8:31: daemon.roots.projects.sped: unknown option (use mode)",
    ]


def test_a_section_replaced_in_code_is_not_given_the_positions_of_the_file(broken):
    config, _ = read_studio_config(broken)
    with pytest.raises(ConfigError) as caught:
        daemon_settings(replace(config.config, daemon={"setle": 1}))
    assert f"{broken}:1:1: daemon.setle: unknown option (did you mean 'settle'?)" in str(caught.value)


def test_the_daemon_refuses_to_start_listing_every_problem(demo, bifrostd_bin):
    demo.write_text(demo.read_text() + BROKEN)
    done = subprocess.run([bifrostd_bin, "--config", str(demo)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert_listed_in_order(done.stderr, demo)
    assert not (demo.parent / ".bifrost" / "catalog.db").exists()  # refused before anything was opened


def test_read_commands_run_while_the_daemon_and_mirror_sections_are_broken(demo, bifrostctl_bin):
    demo.write_text(demo.read_text() + BROKEN.replace("workers: lots", "workers: 1"))

    def bifrostctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([bifrostctl_bin, "--config", str(demo), *args], capture_output=True, text=True,
                              timeout=60)

    resolved = bifrostctl("path", "shot_root", *SHOT)
    assert resolved.returncode == 0, resolved.stderr
    check = bifrostctl("templates", "check")  # what a daemon start or reload would refuse, before trying one
    assert check.returncode == 1 and "5 problem(s)" in check.stderr
    assert_listed_in_order(check.stdout, demo, EXPECTED[:-1])
    assert bifrostctl("mirror", "status").returncode == 15


def test_a_commands_error_lists_the_daemon_and_mirror_problems_too(demo, bifrostctl_bin):
    demo.write_text(demo.read_text() + BROKEN)
    done = subprocess.run([bifrostctl_bin, "--config", str(demo), "path", "shot_root", *SHOT], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3 and done.stderr.startswith("Error: invalid config:\n")
    assert_listed_in_order(done.stderr, demo)


def test_a_valid_config_still_loads(demo, bifrostctl_bin):
    demo.write_text(demo.read_text() + "daemon:\n  settle: 200ms\n  roots:\n    projects: {mode: poll}\n"
                    "mirror:\n  targets:\n    vault: {url: 'file:///srv/vault', bandwidth: 50MB/s}\n")
    studio = load_studio_config(demo)
    assert studio.daemon.settle == 0.2 and dict(studio.daemon.modes) == {"projects": "poll"}
    assert studio.targets["vault"].bandwidth == 50_000_000
    assert studio.config == load_config(demo)
    check = subprocess.run([bifrostctl_bin, "--config", str(demo), "templates", "check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
