"""The ``daemon`` section of the studio config, parsed into one frozen value.

::

    daemon:
      settle: 1s            # quiet time before a changed file is hashed and published
      full_every: 24h       # full reconcile of every root (the safety net); default: scan.full_every
      poll_every: 30s       # fast (pruned) rescans of roots that are polled
      batch_max: 20000      # most dirty paths applied in one batch
      sweep_every: 1h       # polled roots: stat every catalogued file once per window (off: never)
      sweep_rate: 500       # ... at most this many files per second
      scrub_every: off      # every root: re-read and re-hash every file once per window (e.g. 7d)
      scrub_rate: 10MiB/s   # ... at most this many bytes per second
      roots:
        projects: {mode: poll}    # watch | poll; default: from the filesystem type

``config.py`` keeps the section raw; the daemon owns its meaning, and
reports a misspelt key with the config file and the key's dotted name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import Config, parse_duration, parse_size
from .errors import ConfigError
from .templates.source import did_you_mean

OPTIONS = ("settle", "full_every", "poll_every", "batch_max", "sweep_every", "sweep_rate", "scrub_every",
           "scrub_rate", "roots")
ROOT_OPTIONS = ("mode",)
MODES = ("watch", "poll")


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    settle: float = 1.0
    full_every: float = 86400.0
    poll_every: float = 30.0
    batch_max: int = 20000
    sweep_every: float | None = 3600.0  # None: no rolling sweep of polled roots
    sweep_rate: int = 500  # files stat-ed per second by the sweep, at most
    scrub_every: float | None = None  # None: no background scrub
    scrub_rate: int = 10 * 1024 * 1024  # bytes re-read per second by the scrub, at most
    modes: Mapping[str, str] = field(default_factory=dict)


def daemon_settings(config: Config) -> DaemonSettings:
    """Parse ``config.daemon``; raises ConfigError listing every problem."""
    raw: Mapping[str, Any] = config.daemon or {}
    problems: list[str] = []
    values: dict[str, Any] = {"full_every": config.scan.full_every}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config.path}: daemon: must be a mapping")
    for key, value in raw.items():
        if key not in OPTIONS:
            hint = did_you_mean(str(key), OPTIONS)
            problems.append(f"daemon.{key}: unknown option" + (f" ({hint})" if hint else ""))
        elif key in ("settle", "full_every", "poll_every"):
            _duration(values, problems, key, value)
        elif key in ("sweep_every", "scrub_every"):
            _window(values, problems, key, value)
        elif key in ("batch_max", "sweep_rate"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"daemon.{key}: must be a positive integer")
            else:
                values[key] = value
        elif key == "scrub_rate":
            _rate(values, problems, key, value)
        else:
            values["modes"] = _modes(value, problems)
    if problems:
        raise ConfigError(f"invalid daemon section in {config.path}:\n" + "\n".join(f"  {p}" for p in problems))
    return DaemonSettings(**values)


def _duration(values: dict[str, Any], problems: list[str], key: str, value: Any) -> None:
    try:
        values[key] = parse_duration(value)
    except ValueError:
        problems.append(f"daemon.{key}: must be a duration like 500ms, 1s, 15m or 24h")


def _window(values: dict[str, Any], problems: list[str], key: str, value: Any) -> None:
    """A rolling pass's window: a duration, or off (``false``, ``off``, ``none``)."""
    if value is False or value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        values[key] = None
        return
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if seconds < 60:
        problems.append(f"daemon.{key}: must be a duration of at least a minute, like 1h or 7d, or off")
    else:
        values[key] = seconds


def _rate(values: dict[str, Any], problems: list[str], key: str, value: Any) -> None:
    try:
        rate = parse_size(value)
    except ValueError:
        rate = 0
    if rate < 64 * 1024:
        problems.append(f"daemon.{key}: must be a rate of at least 64KiB/s, like 10MiB/s")
    else:
        values[key] = rate


def _modes(value: Any, problems: list[str]) -> dict[str, str]:
    modes: dict[str, str] = {}
    if not isinstance(value, Mapping):
        problems.append("daemon.roots: must map root names to {mode: watch|poll}")
        return modes
    for name, options in value.items():
        if not isinstance(options, Mapping):
            problems.append(f"daemon.roots.{name}: must be a mapping like {{mode: poll}}")
            continue
        for option, setting in options.items():
            if option not in ROOT_OPTIONS:
                problems.append(f"daemon.roots.{name}.{option}: unknown option (use mode)")
            elif setting not in MODES:
                problems.append(f"daemon.roots.{name}.mode: must be watch or poll, not {setting!r}")
            else:
                modes[str(name)] = setting
    return modes
