"""``bifrostctl``: the command line. Thin: parse, call the library, render.

Subcommands are imported on first use (``LazyGroup``), so ``bifrostctl resolve``
never pays for the catalog, the daemon or cloud backends. One error boundary,
:func:`main`, maps :class:`~bifrostd.errors.BifrostError` to ``Error: ...`` on
stderr and the error's exit code; any other exception is a bug and shows a
traceback. ``--debug`` adds the traceback of a ``BifrostError`` (with the error
underneath it) and of an interrupt; ``-q``/``-v`` set how much else stderr
gets (``verbosity``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from .. import __version__
from ..errors import BifrostError
from .context import CliContext

#: command name -> ("module:attribute" relative to this package, the first sentence of its help). ``--help``
#: lists the commands from here, importing none of them; a test holds each sentence to the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setup_cmds:init", "Write DIRECTORY/bifrost.yaml and DIRECTORY/templates/ (the default studio templates)."),
    "templates": ("templates_cmds:templates",
                  "Check the studio's template set, plan a change of it against the catalog, and move the tree to "
                  "follow it."),
    "resolve": ("templates_cmds:resolve",
                "Resolve PATHs to template, fields and entity, or bifrost:/// references to paths."),
    "path": ("templates_cmds:path_command", "Format the path of TEMPLATE from key=value fields."),
    "scan": ("catalog_cmds:scan", "Walk the roots, hash new and changed files, and bring the catalog up to date."),
    "status": ("catalog_cmds:status",
               "Counts per entity kind, files and bytes, the last scan, drift in brief, templates in use."),
    "drift": ("catalog_cmds:drift",
              "Where disk and expectations differ: unmanaged and missing files, frame gaps, stale matches."),
    "forget": ("catalog_cmds:forget", "Stop expecting files deleted on purpose: remove their missing records."),
    "log": ("catalog_cmds:log_command",
            "The activity log, newest first: what appeared, changed, moved or vanished, and who owns it."),
    "catalog": ("catalog_file_cmds:catalog", "Check the catalog file for damage, or rebuild it from the tree."),
    "ls": ("entity_cmds:ls_command",
           "List the entities under an entity (a bifrost:/// reference), or the files under a folder."),
    "versions": ("entity_cmds:versions",
                 "The versions at or below an entity (a task, shot or asset), with files, frame ranges and gaps."),
    "create": ("production_cmds:create",
               "Create entities: the folders the templates give each one (its skeleton), and its sidecar."),
    "skeleton": ("production_cmds:skeleton",
                 "Hold entities made with create (those with a sidecar) to their folder skeleton: check, or fix."),
    "shots": ("edit_cmds:shots",
              "Shots from the edit: import a cut (OTIO, CMX 3600 EDL) as shots and frame ranges."),
    "show": ("entity_cmds:show", "One entity: its fields, what it holds, and what people authored about it (its sidecar)."),
    "publish": ("publish_cmds:publish",
                "Copy a work file, or a frame sequence, to the next free version of its publish template."),
    "version": ("publish_cmds:version",
                "Deprecate or undeprecate a published version (version=latest skips deprecated ones)."),
    "search": ("finding_cmds:search",
               "Find entities by the words of their names, paths, descriptions, publish comments and tags."),
    "tag": ("finding_cmds:tag", "Add tags to an entity, in its sidecar (each a word without spaces)."),
    "untag": ("finding_cmds:untag", "Remove tags from an entity's sidecar."),
    "link": ("finding_cmds:link", "Link an entity to other entities (a shot uses an asset), in its sidecar."),
    "unlink": ("finding_cmds:unlink", "Remove an entity's links to other entities from its sidecar."),
    "mirror": ("mirror_cmds:mirror", "Mirror catalogued files to buckets, check the buckets, and restore from them."),
    "usd": ("usd_cmds:usd",
            "USD layers: inspect one (layer stack, variants, arcs, asset paths), resolve or relativize its paths."),
    "daemon": ("daemon_cmds:daemon",
               "Ask the running bifrostd for its state, or to reload or stop (exit code 13 when none runs)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported when first invoked."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attribute = self.lazy[name][0].split(":")
            module = importlib.import_module(f"{__name__}.{module_name}")
            return getattr(module, attribute)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, with each lazy command stood in for by a command holding its help sentence: click
        shortens that as it would the whole help (its first sentence, cut to the terminal's width)."""
        stand_ins = {name: click.Command(name, help=text) for name, (_, text) in self.lazy.items()}
        click.Group.format_commands(click.Group(commands={**self.commands, **stand_ins}), ctx, formatter)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, with "did you mean" for a misspelt command, from the names alone (nothing imported)."""
        name = click.utils.make_str(args[0])
        if not ctx.resilient_parsing and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3)
            hint = "" if not close else (f" Did you mean {close[0]!r}?" if len(close) == 1 else
                                         f" (Did you mean one of: {', '.join(repr(c) for c in close)}?)")
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="Studio config file or folder (default: $BIFROST_CONFIG, ./bifrost.yaml, "
                   "/etc/bifrost/bifrost.yaml).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no informational lines on stderr; errors still.")
@click.option("-v", "--verbose", count=True,
              help="More detail: each finding, and log lines (-vv: also one per file moved).")
@click.option("--debug", is_flag=True,
              help="Show the traceback of an error or an interrupt, not only its message; log everything.")
@click.version_option(__version__, prog_name="bifrostctl")  # the package's own: importlib.metadata costs 40 ms
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, quiet: bool, verbose: int, debug: bool) -> None:
    """Ask Bifrost about the studio: resolve paths and references, scan, drift, versions, mirrors."""
    if quiet and verbose:
        raise click.UsageError("-q/--quiet and -v/--verbose contradict each other: give one", ctx)
    obj = ctx.ensure_object(CliContext)  # main() passes one in, to read --debug after an error
    obj.config_path, obj.verbosity, obj.debug = config_path, -1 if quiet else verbose, debug
    if quiet or verbose or debug or f"{__name__}.verbosity" in sys.modules:  # the last: undo an earlier run's
        from .verbosity import configure

        configure(obj.verbosity, debug=debug)


def main(argv: list[str] | None = None) -> int:
    """Run ``bifrostctl``; returns (and exits with) the exit code."""
    obj = CliContext(None)
    try:
        result = cli.main(args=argv, prog_name="bifrostctl", standalone_mode=False, obj=obj)
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort as exc:
        interrupt = exc.__cause__ or exc.__context__  # click's Abort stands for the KeyboardInterrupt
        if obj.debug and interrupt is not None:  # where was it? (what was slow, or stuck)
            _print_traceback(interrupt)
        click.echo("Aborted.", err=True)
        code = 130
    except BifrostError as exc:
        if obj.debug:
            _print_traceback(exc)
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except BrokenPipeError:
        code = 0
    else:
        code = result if isinstance(result, int) else 0
    finally:
        obj.close()
    if argv is None:
        sys.exit(code)
    return code


def _print_traceback(error: BaseException) -> None:
    import traceback  # only for --debug: the usual run does not load it

    traceback.print_exception(error)
