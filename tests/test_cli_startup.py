"""bifrostctl starts fast: what each quick command imports, checked without timing anything.

Pipeline scripts call ``bifrostctl --version``, ``resolve`` and ``status``
once per question, so a module loaded on their path is paid on every call
(docs/performance.md has the figures). Each test runs one command in a fresh
interpreter and names the modules it must not have loaded.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bifrostd.cli import COMMANDS, cli
from conftest import installed

WORK = "projects/demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v002.ma"

#: Never needed to answer a quick command.
HEAVY = ("fsspec", "s3fs", "gcsfs", "adlfs", "pxr", "watchdog", "interegular", "xxhash", "tqdm", "sqlite_utils",
         "importlib.metadata", "bifrostd.mirror", "bifrostd.reconcile", "bifrostd.observe.watch",
         "bifrostd.templates.check")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("startup") / "studio"
    bifrostctl = installed("bifrostctl")
    subprocess.run([bifrostctl, "init", "--demo", str(folder)], check=True, capture_output=True)
    subprocess.run([bifrostctl, "--config", str(folder), "scan"], check=True, capture_output=True)
    return folder


def loaded_by(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``bifrostctl ARGV``."""
    code = ("import json, sys\nfrom bifrostd.cli import main\ncode = main(sys.argv[1:])\n"
            "print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert code in (0, 13), done.stdout + done.stderr  # 13: no daemon answers `daemon status`
    return set(modules)


def heavy_in(modules: set[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


def test_the_version_is_the_installed_distributions(capsys):
    from bifrostd.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"bifrostctl, version {importlib.metadata.version('bifrostd')}\n"


def test_version_loads_neither_the_studio_nor_the_templates():
    modules = loaded_by("--version")
    assert not heavy_in(modules, (*HEAVY, "yaml", "sqlite3", "bifrostd.config", "bifrostd.templates",
                                  "bifrostd.catalog", "bifrostd.daemon"))


def test_resolve_loads_no_catalog_daemon_or_cloud_module(demo):
    modules = loaded_by("--config", str(demo), "resolve", str(demo / WORK))
    assert not heavy_in(modules, (*HEAVY, "sqlite3", "bifrostd.catalog", "bifrostd.daemon.control"))


def test_status_reads_the_catalog_without_sqlite_utils_or_the_control_client(demo):
    """Without a running daemon there is no socket, so nothing to ask and no client to load."""
    modules = loaded_by("--config", str(demo), "status", "--json")
    assert "bifrostd.catalog.queries" in modules
    assert not heavy_in(modules, (*HEAVY, "bifrostd.daemon.control", "bifrostd.catalog.migrations"))


def test_status_looks_for_the_socket_the_daemon_binds():
    from bifrostd.cli.daemon_cmds import SOCKET_NAME
    from bifrostd.daemon.control import client_path

    assert client_path(Path("state")) == Path("state") / SOCKET_NAME


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_gives_each_command_its_own_short_help(name):
    command = cli.get_command(click.Context(cli), name)
    stand_in = click.Command(name, help=COMMANDS[name][1])
    for limit in range(10, 120):
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit
    assert not command.hidden and not command.deprecated and not command.short_help


@pytest.mark.parametrize("columns", ["80", "50"])
def test_help_lists_the_commands_as_click_would_from_the_commands_themselves(columns):
    ctx = click.Context(cli)
    eager = click.Group("cli", commands={name: cli.get_command(ctx, name) for name in COMMANDS})
    expected = click.HelpFormatter(width=int(columns))
    eager.format_commands(click.Context(eager), expected)
    shown = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": columns}, terminal_width=int(columns))
    assert shown.exit_code == 0 and expected.getvalue() in shown.output


def test_help_imports_no_command_module():
    modules = loaded_by("--help")
    assert sorted(m for m in modules if m.startswith("bifrostd.cli.")) == ["bifrostd.cli.context"]
    assert not heavy_in(modules, (*HEAVY, "yaml", "bifrostd.templates", "bifrostd.catalog"))


def test_daemon_status_reads_the_config_without_the_template_engine(demo):
    modules = loaded_by("--config", str(demo), "daemon", "status")
    assert "bifrostd.templates.loader" in modules  # the config's roots are read as template files' are
    assert not heavy_in(modules, (*HEAVY, "sqlite3", "bifrostd.catalog", "bifrostd.templates.templateset",
                                  "bifrostd.templates.compiled"))


def test_the_template_package_gives_every_public_name_on_first_use():
    import bifrostd.templates as templates

    assert sorted(templates.__all__) == sorted(templates._HOMES)
    for name in templates.__all__:
        value = getattr(templates, name)
        assert getattr(value, "__name__", name) == name and name in dir(templates)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        templates.nothing  # noqa: B018
