"""What ``-q``, ``-v`` and ``--debug`` do to log lines: the ``bifrostd`` loggers' level and where lines go.

Without any of them nothing is set up: Python's last-resort handler prints
the library's warnings and errors on stderr, as it always did (and
``logging`` is not even imported by a command that logs nothing).
"""

from __future__ import annotations

import faulthandler
import logging
import sys

__all__ = ["configure"]

#: verbosity (-1 quiet, 0 default, 1 -v, 2 -vv) -> the lowest level shown.
LEVELS = {-1: logging.ERROR, 0: logging.NOTSET, 1: logging.INFO}


class _EchoHandler(logging.Handler):
    """Log lines on stderr, above any progress bar (``progress.echo_err``)."""

    def emit(self, record: logging.LogRecord) -> None:
        from .progress import echo_err

        try:
            echo_err(self.format(record))
        except Exception:  # noqa: BLE001 - as logging.StreamHandler: a broken stderr must not end the command
            self.handleError(record)


def configure(verbosity: int, *, debug: bool) -> None:
    """Set the ``bifrostd`` loggers for one run; safe to call again (a test runs many commands in one process)."""
    logger = logging.getLogger("bifrostd")
    for old in [h for h in logger.handlers if isinstance(h, _EchoHandler)]:
        logger.removeHandler(old)
    level = logging.DEBUG if debug else LEVELS.get(verbosity, logging.DEBUG)
    logger.setLevel(level)
    if level in (logging.INFO, logging.DEBUG):
        handler = _EchoHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    if debug and not faulthandler.is_enabled():
        try:  # a crash in native code (SQLite, xxhash, USD) then prints every thread's Python stack
            faulthandler.enable(sys.stderr)
        except (OSError, ValueError, AttributeError):  # a stderr with no file descriptor (a test's)
            pass
