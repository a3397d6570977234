"""The daemon's log: one line per event, human by default, JSON lines with ``--log-json``.

Credentials never reach the log: messages pass through
:func:`~bifrostd.redaction.redact_credentials`, which masks the password of
any ``scheme://user:password@host`` URL, ``key=value`` pairs whose key names
a secret, and account keys and signatures (mirror targets are fsspec URLs
with options; a careless log call must not leak them).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from ..redaction import redact_credentials

_FIELDS = ("root", "path", "count", "duration_s", "reason", "event")


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        name = record.name.removeprefix("bifrostd.")
        line = f"{stamp} {record.levelname:<7} {name}: {redact_credentials(record.getMessage())}"
        if record.exc_info:
            line += "\n" + redact_credentials(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any structured fields passed as ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                    "logger": record.name, "msg": redact_credentials(record.getMessage())}
        for name in _FIELDS:
            if hasattr(record, name):
                document[name] = getattr(record, name)
        if record.exc_info:
            document["exc"] = redact_credentials(self.formatException(record.exc_info))
        return json.dumps(document, default=str, ensure_ascii=False)


def setup_logging(*, json_lines: bool, stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Route the daemon's and watchdog's records to ``stream`` (stderr: journald reads it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
