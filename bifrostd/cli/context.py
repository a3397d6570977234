"""State shared by the commands of one ``bifrostctl`` run: the config, loaded on demand, and the global options."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..api import Studio
    from ..catalog import Catalog
    from ..config import Config
    from ..templates import TemplateSet
    from .progress import TerminalProgress


@dataclass(slots=True)
class CliContext:
    config_path: str | None = None
    verbosity: int = 0  # -1 with --quiet, 0 by default, the count of -v
    debug: bool = False
    _config: Config | None = field(default=None)
    _templates: TemplateSet | None = field(default=None)
    _studio: Studio | None = field(default=None)

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def config(self) -> Config:
        """The studio config, once its top sections are valid; a problem only in ``daemon:`` or ``mirror:`` stops
        no command that doesn't use it, but an invalid config's error lists those too (``load_for_commands``)."""
        if self._config is None:
            from ..config import find_config
            from ..studio_config import load_for_commands

            self._config = load_for_commands(find_config(self.config_path))
        return self._config

    def templates(self) -> TemplateSet:
        if self._templates is None:
            self._templates = self.config().load_templates()
        return self._templates

    def studio(self) -> Studio:
        """The Python API's studio over this run's config and template set: the commands that ask what
        pipeline code asks (resolve, path, ls, versions) ask it, so both get one answer."""
        if self._studio is None:
            from ..api import Studio

            self._studio = Studio(self.config(), self.templates())
        return self._studio

    def close(self) -> None:
        """Close what the run opened (the studio's catalog connection)."""
        if self._studio is not None:
            self._studio.close()

    def progress(self, *, as_json: bool = False) -> TerminalProgress:
        """Progress bars for long work: on a terminal only, never with --json or --quiet."""
        from .progress import TerminalProgress

        return TerminalProgress(not as_json and not self.quiet and sys.stderr.isatty())

    def info(self, text: str) -> None:
        """An informational line on stderr (a dry run's summary); --quiet drops it."""
        if not self.quiet:
            from .progress import echo_err

            echo_err(text)

    def daemon_state(self) -> dict[str, Any] | None:
        """The running daemon's live state for ``bifrostctl status`` (None when none runs)."""
        from .daemon_cmds import live_state

        return live_state(self)

    def catalog(self) -> Catalog:
        """The studio's catalog opened for reading, to use as a context manager (``with obj.catalog() as c``)."""
        from ..catalog import Catalog

        return Catalog.open(self.config().catalog_path)
