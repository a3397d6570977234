"""The error hierarchy of Bifrost, and the exit codes the CLI maps them to.

Each error's docstring is its message template, formatted with the error's
arguments: a recurring message is a class whose template names its fields
(``CatalogMissing(path=...)``), so a raise site passes the facts, not prose;
a family whose messages are one-offs (``ResolveError``) has the template
``{}`` and takes the finished message. Any class given one finished message
instead of its fields shows that message as is (an error's text relayed by
the daemon). Its ``exit_code`` is part of the command-line API that studio
scripts rely on (documented in docs/cli.md). Per-file problems during a scan
or a mirror run are *findings* in a result, not exceptions.

::

    BifrostError (2)
    ├── ConfigError (3) *                 studio config unreadable or invalid
    │   └── ConfigInvalid (3) *           one or more problems, each with file:line:col
    ├── TemplateError (4) *               template set invalid
    │   ├── TemplateSetInvalid (4) *      one or more problems, each with file:line:col
    │   ├── FieldValueError (5) *         a value that can't be formatted or would escape a root
    │   └── ImportSourceInvalid (19) *    a foreign configuration 'templates import' cannot read
    ├── ResolveError (6)                  a path or reference that can't be resolved
    │   └── ReferenceIncomplete (6)       a reference that names no whole entity
    ├── CatalogError (7)
    │   ├── CatalogLocationError (8) *    catalog on a network filesystem
    │   ├── CatalogMissing (7)            no catalog yet; 'bifrostctl scan' builds it
    │   ├── CatalogBusy (9)               another writer holds the catalog
    │   ├── CatalogCorrupt (17) *         the catalog file is damaged; 'bifrostctl catalog rebuild'
    │   └── SearchUnavailable (24) *      this Python's SQLite has no FTS5, which search needs
    ├── SearchError (2)                   a search that can't run: an unknown saved search, a bad --since
    ├── ScanError (10)
    ├── DaemonError (11)
    │   ├── DaemonRequestInvalid (2)      a control request the daemon cannot read
    │   ├── DaemonStopping (11)           the daemon is stopping and did not do what was asked
    │   ├── DaemonRunning (12)            a daemon already holds the state folder
    │   └── DaemonUnreachable (13)        no daemon answers on the control socket
    ├── MirrorError (14)
    │   └── MirrorTargetError (15)        unknown or misconfigured target
    │       └── MirrorConfigInvalid (15)  problems in the mirror section only, each with file:line:col
    ├── PackageMissing (16) *             a Python package a feature needs is not installed
    ├── AuthoredError (18)                authored data (sidecars) could not be read or written
    │   ├── AuthoredRefused (18)          tag/link: a tag with spaces, a link to no entity; nothing was written
    │   └── SidecarBroken (18)            a sidecar fails its schema; nothing was written
    ├── MigrationError (20)               a migration of the tree cannot start or go on
    │   └── MigrationPending (20)         an unfinished migration's journal: --resume or --rollback
    └── ProductionError (21)              a production command cannot do what it planned
        ├── CreateRefused (21)            create: an unknown group, a missing root folder, a symlink in the way
        ├── PublishError (21)             a publish or a version change refused; nothing was changed
        │   └── PublishVerifyFailed (22)  a published file read back differs from its source; the publish was undone
        ├── EditRefused (21)              shots import: refused names, or a shrink over rendered frames without --force
        └── EditUnreadable (23)           shots import: an edit file that cannot be read or parsed; nothing was changed

Exit codes 0 (success) and 1 (findings: drift, nothing matched) are not
errors; 2 is the generic error and click's usage error.

Errors marked * have ``restart_mends`` False: a daemon that exits with one
fails the same way at every start until someone edits the config or the
templates, moves the state folder or installs a package. The unit
systemd/bifrostd.service lists their codes (and 2, a usage error in the
unit's own command line) in ``RestartPreventExitStatus=``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BifrostError(Exception):
    """{}"""

    exit_code: int = 2  # per class; a DaemonError relayed from the daemon carries the code it was given
    #: Whether a daemon that exits with this error may start fine later (a busy catalog, another daemon still
    #: stopping); False when nothing changes until someone fixes something (see the module docstring).
    restart_mends: ClassVar[bool] = True

    def __init__(self, *args: Any, **fields: Any) -> None:
        super().__init__(*args)
        self.args = args
        #: The named facts the template is formatted with (``path``, ``pid``...).
        self.fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.fields), self.__dict__

    @property
    def message(self) -> str:
        template = type(self).__doc__ or "{}"
        try:
            return template.strip().format(*self.args, **self.fields)
        except (IndexError, KeyError):  # a finished message given instead of the fields
            return " ".join(str(a) for a in self.args)

    def __str__(self) -> str:
        return self.message


class ConfigError(BifrostError):
    """{}"""

    exit_code = 3
    restart_mends = False


class ConfigInvalid(ConfigError):
    """invalid config:\n{listing}"""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(listing="\n".join(str(p) for p in self.problems))


class TemplateError(BifrostError):
    """{}"""

    exit_code = 4
    restart_mends = False


class TemplateSetInvalid(TemplateError):
    """The template set has {count} problem(s):\n{listing}"""

    exit_code = 4

    def __init__(self, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(count=len(self.problems), listing="\n".join(str(p) for p in self.problems))


class FieldValueError(TemplateError):
    """{}"""

    exit_code = 5


class ImportSourceInvalid(TemplateError):
    """{source} cannot be imported:\n{listing}"""

    exit_code = 19

    def __init__(self, source: str, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(source=source, listing="\n".join(str(p) for p in self.problems))


class ResolveError(BifrostError):
    """{}"""

    exit_code = 6


class ReferenceIncomplete(ResolveError):
    """{uri!r}: incomplete reference for a {kind}"""


class CatalogError(BifrostError):
    """{}"""

    exit_code = 7


class CatalogMissing(CatalogError):
    """no catalog at {path} yet; run 'bifrostctl scan' to build it"""


class CatalogLocationError(CatalogError):
    """The catalog {path} is on a {fstype} filesystem; SQLite's locking does not work there. Put the state folder on a local disk."""

    exit_code = 8
    restart_mends = False


class CatalogBusy(CatalogError):
    """{}"""

    exit_code = 9


class CatalogCorrupt(CatalogError):
    """The catalog {path} is damaged ({why}). Stop bifrostd if it runs and run 'bifrostctl catalog rebuild': it moves the file aside (kept) and scans the roots into a new catalog. Files, entities and sequences come back from the tree; the activity log and the mirror's record of each bucket do not (the next mirror run sends every file again)."""

    exit_code = 17
    restart_mends = False


class SearchUnavailable(CatalogError):
    """This Python's sqlite3 module (SQLite {version}) was built without FTS5, which the catalog's search needs. Run Bifrost on a Python whose SQLite has FTS5 (python.org, distribution and uv builds of CPython do); the check: sqlite3.connect(':memory:').execute('CREATE VIRTUAL TABLE t USING fts5(x)') must not raise"""

    exit_code = 24
    restart_mends = False


class SearchError(BifrostError):
    """{}"""


class ScanError(BifrostError):
    """{}"""

    exit_code = 10


class DaemonError(BifrostError):
    """{}"""

    exit_code = 11


class DaemonRequestInvalid(DaemonError):
    """{}"""

    exit_code = 2  # a usage error, as for a command line


class DaemonStopping(DaemonError):
    """the daemon is stopping; nothing was done"""


class DaemonRunning(DaemonError):
    """Another bifrostd (pid {pid}) already runs on the state folder {state_dir}."""

    exit_code = 12


class DaemonUnreachable(DaemonError):
    """No bifrostd answers on {socket}: {why}"""

    exit_code = 13


class MirrorError(BifrostError):
    """{}"""

    exit_code = 14


class MirrorTargetError(MirrorError):
    """{}"""

    exit_code = 15


class MirrorConfigInvalid(MirrorTargetError):
    """invalid config:\n{listing}"""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(listing="\n".join(str(p) for p in self.problems))


class PackageMissing(BifrostError):
    """{feature} needs the Python package {package}, which is not installed ({why}); install it with: {command}"""

    exit_code = 16
    restart_mends = False


class AuthoredError(BifrostError):
    """{}"""

    exit_code = 18


class AuthoredRefused(AuthoredError):
    """{}"""


class SidecarBroken(AuthoredError):
    """{file} is broken, so nothing was written to it; mend it by hand (or move it aside) and retry:\n{listing}"""

    def __init__(self, file: str, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(file=file, listing="\n".join(str(p) for p in self.problems))


class MigrationError(BifrostError):
    """{}"""

    exit_code = 20


class MigrationPending(MigrationError):
    """A migration of the tree was interrupted ({journal}: {moves} moves, {command}). Finish it with 'bifrostctl templates migrate --resume', or undo it with 'bifrostctl templates migrate --rollback', before anything else moves the tree."""


class ProductionError(BifrostError):
    """{}"""

    exit_code = 21


class CreateRefused(ProductionError):
    """{}"""


class PublishError(ProductionError):
    """{}"""


class PublishVerifyFailed(PublishError):
    """{path} read back with xxh3 {found}, but its source {source} has {expected}: the copy is damaged (a failing disk, or a file changed while it was published); the publish was undone, nothing was kept"""

    exit_code = 22


class EditRefused(ProductionError):
    """{}"""


class EditUnreadable(ProductionError):
    """cannot read the edit {path}: {reason}; nothing was changed"""

    exit_code = 23


def _rebuild(cls: type[BifrostError], args: tuple[Any, ...], fields: dict[str, Any]) -> BifrostError:
    """An error unpickled (from a worker process) with its arguments and fields as raised."""
    error = BifrostError.__new__(cls)
    BifrostError.__init__(error, *args, **fields)
    return error


def error_class(exit_code: int) -> type[BifrostError]:
    """The most general error class with ``exit_code`` (DaemonError for a code no class has): how a client
    raises an error the daemon answered with, with the daemon's message."""
    return next((cls for cls in all_error_classes() if cls.exit_code == exit_code), DaemonError)


def all_error_classes() -> list[type[BifrostError]]:
    """Every error class, root first (used by docs and the exit-code test)."""
    seen: list[type[BifrostError]] = []
    stack: list[type[BifrostError]] = [BifrostError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
