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

``config`` keeps the section raw, with its positions; this module owns its
meaning, and reports every problem at once, each naming the config file, the
line and the key's dotted name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..config import Config, invalid_config, parse_duration, parse_size
from ..templates.source import SourceProblem, Where, did_you_mean

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
    settings, problems = read_daemon_settings(config)
    if problems:
        raise invalid_config(problems)
    return settings


def read_daemon_settings(config: Config) -> tuple[DaemonSettings, list[SourceProblem]]:
    """(the settings, every problem of the ``daemon`` section) without raising; an invalid option keeps its default."""
    return _Reader(config).settings()


class _Reader:
    """Reads the raw section, asking the located one where each problem is written."""

    def __init__(self, config: Config) -> None:
        self.raw: Any = config.daemon or {}
        self.node = config.located("daemon")
        self.values: dict[str, Any] = {"full_every": config.scan.full_every}
        self.problems: list[SourceProblem] = []

    def problem(self, keys: tuple[str, ...], message: str, hint: str = "", *, at_key: bool = False) -> None:
        where: Where = self.node.position(keys, key=at_key)
        self.problems.append(SourceProblem(where, ".".join(("daemon", *keys)), message, hint))

    def settings(self) -> tuple[DaemonSettings, list[SourceProblem]]:
        if not isinstance(self.raw, Mapping):
            self.problem((), "must be a mapping")
            return DaemonSettings(**self.values), self.problems
        for key, value in self.raw.items():
            parse = _PARSERS.get(key)
            if parse is None:
                self.problem((str(key),), "unknown option", did_you_mean(str(key), OPTIONS), at_key=True)
            else:
                parse(self, key, value)
        return DaemonSettings(**self.values), self.problems

    def duration(self, key: str, value: Any) -> None:
        try:
            self.values[key] = parse_duration(value)
        except ValueError:
            self.problem((key,), "must be a duration like 500ms, 1s, 15m or 24h")

    def window(self, key: str, value: Any) -> None:
        """A rolling pass's window: a duration, or off (``false``, ``off``, ``none``)."""
        if value is False or value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
            self.values[key] = None
            return
        try:
            seconds = parse_duration(value)
        except ValueError:
            seconds = 0.0
        if seconds < 1:
            self.problem((key,), "must be a duration of at least a second, like 1h or 7d, or off")
        else:
            self.values[key] = seconds

    def count(self, key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem((key,), "must be a positive integer")
        else:
            self.values[key] = value

    def rate(self, key: str, value: Any) -> None:
        try:
            rate = parse_size(value)
        except ValueError:
            rate = 0
        if rate < 64 * 1024:
            self.problem((key,), "must be a rate of at least 64KiB/s, like 10MiB/s")
        else:
            self.values[key] = rate

    def modes(self, key: str, value: Any) -> None:
        modes: dict[str, str] = {}
        if not isinstance(value, Mapping):
            self.problem((key,), "must map root names to {mode: watch|poll}")
            return
        for name, options in value.items():
            if not isinstance(options, Mapping):
                self.problem((key, str(name)), "must be a mapping like {mode: poll}")
                continue
            for option, setting in options.items():
                if option not in ROOT_OPTIONS:
                    self.problem((key, str(name), str(option)), "unknown option", "use mode", at_key=True)
                elif setting not in MODES:
                    self.problem((key, str(name), str(option)), f"must be watch or poll, not {setting!r}")
                else:
                    modes[str(name)] = setting
        self.values["modes"] = modes


_PARSERS: dict[str, Callable[[_Reader, str, Any], None]] = {
    "settle": _Reader.duration, "full_every": _Reader.duration, "poll_every": _Reader.duration,
    "sweep_every": _Reader.window, "scrub_every": _Reader.window,
    "batch_max": _Reader.count, "sweep_rate": _Reader.count,
    "scrub_rate": _Reader.rate,
    "roots": _Reader.modes,
}
OPTIONS = tuple(_PARSERS)
