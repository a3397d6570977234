"""``bifrostctl``: the command line. Thin: parse, call the library, render.

Subcommands are imported on first use (``LazyGroup``), so ``bifrostctl resolve``
never pays for the catalog, the daemon or cloud backends. One error boundary,
:func:`main`, maps :class:`~bifrostd.errors.BifrostError` to ``Error: ...`` on
stderr and the error's exit code; any other exception is a bug and shows a
traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ..errors import BifrostError
from .context import CliContext

#: command name -> "module:attribute", relative to this package.
COMMANDS: dict[str, str] = {
    "init": "setup_cmds:init",
    "templates": "templates_cmds:templates",
    "resolve": "templates_cmds:resolve",
    "path": "templates_cmds:path_command",
    "scan": "catalog_cmds:scan",
    "status": "catalog_cmds:status",
    "drift": "catalog_cmds:drift",
    "forget": "catalog_cmds:forget",
    "log": "catalog_cmds:log_command",
    "ls": "entity_cmds:ls_command",
    "versions": "entity_cmds:versions",
    "mirror": "mirror_cmds:mirror",
    "daemon": "daemon_cmds:daemon",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported when first invoked."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attribute = self.lazy[name].split(":")
            module = importlib.import_module(f"{__name__}.{module_name}")
            return getattr(module, attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="Studio config file or folder (default: $BIFROST_CONFIG, ./bifrost.yaml, "
                   "/etc/bifrost/bifrost.yaml).")
@click.version_option(package_name="bifrostd", prog_name="bifrostctl")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Ask Bifrost about the studio: resolve paths and references, scan, drift, versions, mirrors."""
    ctx.obj = CliContext(config_path)


def main(argv: list[str] | None = None) -> int:
    """Run ``bifrostctl``; returns (and exits with) the exit code."""
    try:
        result = cli.main(args=argv, prog_name="bifrostctl", standalone_mode=False)
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except BifrostError as exc:
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except BrokenPipeError:
        code = 0
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code
