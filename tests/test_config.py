"""The studio config: discovery order, validation with positions, root overrides."""

from __future__ import annotations

import pytest

from bifrostd.config import find_config, load_config, parse_duration
from bifrostd.errors import ConfigError


def test_discovery_order(tmp_path, monkeypatch):
    here = tmp_path / "bifrost.yaml"
    here.write_text("schema: bifrost.config.1\n")
    other = tmp_path / "other.yaml"
    other.write_text("schema: bifrost.config.1\n")
    monkeypatch.chdir(tmp_path)
    assert find_config(environ={}) == here
    assert find_config(environ={"BIFROST_CONFIG": str(other)}) == other
    assert find_config(str(here), environ={"BIFROST_CONFIG": str(other)}) == here
    with pytest.raises(ConfigError, match="from \\$BIFROST_CONFIG"):
        find_config(environ={"BIFROST_CONFIG": str(tmp_path / "missing.yaml")})


def test_relative_paths_are_relative_to_the_file_on_this_os_only(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: s\n"
                      "roots:\n  projects: {linux: ./projects, windows: '.\\projects', mac: ./projects}\n")
    loaded = load_config(config)
    assert loaded.templates == tmp_path / "t" and loaded.catalog_path == tmp_path / "s" / "catalog.db"
    assert loaded.root_overrides["projects"]["linux"] == str(tmp_path / "projects")
    assert loaded.root_overrides["projects"]["windows"] == ".\\projects"


def test_problems_name_line_and_key(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\nscan:\n  workrs: 2\n  full_every: soon\nmirorr: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:3:3: scan.workrs: unknown option (did you mean 'workers'?)" in text
    assert f"{config}:4:15: scan.full_every" in text
    assert "mirorr: unknown section (did you mean 'mirror'?)" in text


@pytest.mark.parametrize(("text", "seconds"), [(30, 30.0), ("30s", 30.0), ("15m", 900.0), ("24h", 86400.0), ("7d", 604800.0), ("250ms", 0.25)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_root_problems_are_reported_like_in_template_files(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\nroots:\n  projects: {linux: ./p, windos: x, mac: ''}\n  renders: 5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:3:26: roots.projects.windos: unknown operating system (did you mean 'windows'?)" in text
    assert f"{config}:3:42: roots.projects.mac: a root path is a non-empty string" in text
    assert f"{config}:4:12: roots.renders: must be a path or a mapping of OS to path" in text


def test_a_root_override_must_name_a_root_the_templates_define(tmp_path, small_set_dir, bifrostctl_bin):
    import shutil
    import subprocess

    shutil.copytree(small_set_dir, tmp_path / "t")
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: s\nroots:\n  projekts: ./projects\n")
    loaded = load_config(config)
    with pytest.raises(ConfigError) as caught:
        loaded.load_templates()
    assert f"{config}:5:3: roots.projekts: no template file defines this root (did you mean 'projects'?)" in str(
        caught.value)
    template_set, problems = loaded.build_templates()
    assert [p.key for p in problems] == ["roots.projekts"]
    done = subprocess.run([bifrostctl_bin, "--config", str(config), "templates", "check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "roots.projekts" in done.stdout


def test_a_studio_folder_given_as_config_means_its_bifrost_yaml(tmp_path):
    (tmp_path / "bifrost.yaml").write_text("schema: bifrost.config.1\n")
    assert find_config(tmp_path) == (tmp_path / "bifrost.yaml").resolve()
    assert find_config(environ={"BIFROST_CONFIG": str(tmp_path)}) == (tmp_path / "bifrost.yaml").resolve()
    (tmp_path / "templates").mkdir()
    with pytest.raises(ConfigError, match="templates/bifrost.yaml .from --config. does not exist"):
        find_config(tmp_path / "templates")


def test_the_command_line_takes_a_studio_folder_as_config(tmp_path, bifrostctl_bin):
    import subprocess

    subprocess.run([bifrostctl_bin, "init", str(tmp_path / "studio")], check=True, capture_output=True)
    done = subprocess.run([bifrostctl_bin, "--config", str(tmp_path / "studio"), "templates", "check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_scan_workers_are_bounded_by_the_machine(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\nscan:\n  workers: 40\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, cpus=2)
    assert (f"{config}:3:12: scan.workers: 40 is more than the 2 CPUs of this machine "
            "(each worker hashes on its own CPU; at most 2)") in str(caught.value)
    assert load_config(config, cpus=40).scan.workers == 40
    config.write_text("schema: bifrost.config.1\n")
    assert load_config(config, cpus=1).scan.workers == 1 and load_config(config, cpus=8).scan.workers == 2


def test_every_problem_of_the_file_is_reported_at_once(tmp_path):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.2\ntemplates: 5\nroots: []\nscan:\n  workers: 3\n  hash: maybe\n"
                      "state: !custom x\nmirror: !custom {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, cpus=2)
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(": ")[1] for line in lines] == [
        "schema", "templates", "roots", "scan.workers", "scan.hash", "state", "state", "mirror"]


#: 7 lines of YAML aliases expanding to 5.3 million values, inside an otherwise valid config.
CONFIG_BOMB = "schema: bifrost.config.1\nmirror:\n  x0: &x0 [a, a, a, a, a, a, a, a, a]\n" + "".join(
    f"  x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * 9)}]\n" for n in range(1, 7))

_BOUNDED_LOAD = """
import resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
from bifrostd.config import load_config
from bifrostd.errors import ConfigError
start = time.process_time()
try:
    load_config(Path(sys.argv[1]))
except ConfigError as error:
    print(time.process_time() - start)
    print(error)
"""


def test_an_alias_bomb_in_the_config_is_refused_quickly(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "bifrost.yaml"
    config.write_text(CONFIG_BOMB)
    child = subprocess.run([sys.executable, "-c", _BOUNDED_LOAD, str(config)], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    seconds, *message = child.stdout.splitlines()
    assert float(seconds) < 2
    assert f"{config}:8:7: this value holds 597,871 values once YAML anchors and aliases" in "\n".join(message)


@pytest.mark.parametrize(("text", "expected"), [
    ("state: state/here\nscan: {workers: lots}\n", "state/here"),  # valid YAML, an invalid config
    ("state: state/here\nroots: {\n", "state/here"),  # not YAML: the line is read
    ("state: 'quoted here'  # a comment\nroots: [\n", "quoted here"),
    ('state: "/abs/state"\nroots: [\n', "/abs/state"),
    ("roots: {\n", ".bifrost"),  # no state key: the default beside the file
    ("schema: bifrost.config.1\n", ".bifrost"),
    ("  state: nested/is/not/it\nroots: {\n", ".bifrost"),
])
def test_the_state_folder_is_found_in_a_config_that_is_invalid(tmp_path, text, expected):
    from bifrostd.config import locate_state_dir

    config = tmp_path / "bifrost.yaml"
    config.write_text(text)
    found = locate_state_dir(config)
    assert found == (tmp_path / expected).resolve() if expected != ".bifrost" else found == tmp_path / ".bifrost"


@pytest.mark.parametrize("text", ["state: [a, b]\n", "state: [a, b\nroots: {\n", "state: {x: 1}\n", "state:\n"])
def test_a_state_key_that_is_no_path_is_a_config_error(tmp_path, text):
    from bifrostd.config import locate_state_dir

    config = tmp_path / "bifrost.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match="state"):
        locate_state_dir(config)


def test_a_root_override_moves_the_root_and_keeps_the_templates_indexes(tmp_path, small_set_dir, small_set):
    config = tmp_path / "bifrost.yaml"
    config.write_text(f"schema: bifrost.config.1\ntemplates: {small_set_dir}\nroots:\n  projects: ./projects\n")
    moved, problems = load_config(config).with_root_overrides(small_set)
    work = "demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v002.ma"
    assert not problems and moved._indexes is small_set._indexes  # built once, for either set
    assert moved.match(f"{tmp_path}/projects/{work}").fields["version"] == 2
    assert moved.match(f"/mnt/projects/{work}") is None and small_set.match(f"/mnt/projects/{work}") is not None
