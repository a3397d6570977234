"""The docs describe what exists: every command is documented and has help; the exit-code table is true."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from bifrostd.cli import cli
from bifrostd.errors import all_error_classes

DOCS = Path(__file__).resolve().parent.parent / "docs"


def all_commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        full = f"{prefix}{name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from all_commands(command, full + " ")


COMMANDS = list(all_commands(cli))


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help_and_is_documented(name, command):
    assert command.help and command.help.strip(), f"{name} has no help"
    if not isinstance(command, click.Group):
        assert f"### `{name}" in (DOCS / "cli.md").read_text(), f"docs/cli.md does not document '{name}'"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_read_commands_take_json(name, command):
    writes = {"init", "daemon reload", "daemon stop", "mirror run", "mirror restore"}
    if isinstance(command, click.Group) or name in writes:
        return
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--json" in options, f"{name} lacks --json"


def test_exit_code_table_lists_every_error_class():
    text = (DOCS / "cli.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.*) \|$", text, re.M))
    for cls in all_error_classes():
        assert f"`{cls.__name__}`" in rows.get(str(cls.exit_code), ""), f"{cls.__name__} ({cls.exit_code}) missing"
