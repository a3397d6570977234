"""The whole studio config at once: every section checked, every problem reported together.

Each section has its owner: ``config`` validates the top sections (schema,
templates, state, roots, scan), ``studio_config.daemon_settings`` the ``daemon`` section and
``mirror.targets`` the ``mirror`` section. Asked one after the other, each
raising on its own, they would make an admin fix one section per round trip.
This module reads the file once, asks every owner, and reports every problem
in one error, in file order, each naming file, line, column and dotted key.

Which error (the exit code is part of the command-line API): a
``MirrorTargetError`` (15) when every problem is in the ``mirror`` section,
as a bad mirror target alone has always been; a ``ConfigError`` (3) as soon
as any problem is elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from ..config import Config, in_file_order, invalid_config, read_config
from ..errors import ConfigInvalid, MirrorConfigInvalid
from ..templates.source import SourceProblem

if TYPE_CHECKING:
    from ..mirror.targets import Target
    from .daemon_settings import DaemonSettings


@dataclass(frozen=True, slots=True)
class StudioConfig:
    """A config whose every section is valid, parsed by its owners."""

    config: Config
    daemon: DaemonSettings
    targets: Mapping[str, Target]


def load_studio_config(path: Path, *, cpus: int | None = None) -> StudioConfig:
    """The whole config, every section parsed; raises one error listing every problem of every section."""
    studio, problems = read_studio_config(path, cpus=cpus)
    if problems:
        raise invalid_studio_config(problems)
    return studio


def read_studio_config(path: Path, *, cpus: int | None = None) -> tuple[StudioConfig, list[SourceProblem]]:
    """(the config, every problem of every section, in file order) without raising.

    With problems, each invalid value is replaced by its default and an
    invalid mirror target is left out, so that every section is checked.
    """
    from .daemon_settings import read_daemon_settings

    config, problems = read_config(path, cpus=cpus)
    daemon, daemon_problems = read_daemon_settings(config)
    targets, mirror_problems = _targets(config)
    return StudioConfig(config, daemon, MappingProxyType(targets)), _ordered(problems + daemon_problems + mirror_problems)


def load_for_commands(path: Path, *, cpus: int | None = None) -> Config:
    """The config for ``bifrostctl`` commands: one whose top sections are valid.

    A problem only in ``daemon`` or ``mirror`` does not stop a command that
    doesn't use them (``ls`` and ``resolve`` work while a mirror target is
    being fixed; the mirror commands refuse a bad target). When a command
    can't go on, its error lists every problem of every section, so one edit
    fixes the file.
    """
    config, problems = read_config(path, cpus=cpus)
    if problems:
        raise invalid_studio_config(problems + section_problems(config))
    return config


def mirror_targets(config: Config) -> dict[str, Target]:
    """The config's mirror targets; raises one MirrorTargetError listing every problem of every target, each with
    file, line and key."""
    targets, problems = _targets(config)
    if problems:
        raise MirrorConfigInvalid(in_file_order(problems))
    return targets


def section_problems(config: Config) -> list[SourceProblem]:
    """The problems of the ``daemon`` and ``mirror`` sections, which ``load_config`` leaves to their owners."""
    from .daemon_settings import read_daemon_settings  # a command that reads only the top sections never loads it

    return _ordered(read_daemon_settings(config)[1] + _targets(config)[1])


def invalid_studio_config(problems: list[SourceProblem]) -> ConfigInvalid | MirrorConfigInvalid:
    """The error listing ``problems``: a MirrorConfigInvalid when they are all in the ``mirror`` section."""
    if all(p.key == "mirror" or p.key.startswith("mirror.") for p in problems):
        return MirrorConfigInvalid(in_file_order(problems))
    return invalid_config(problems)


def _targets(config: Config) -> tuple[dict[str, Target], list[SourceProblem]]:
    if not config.mirror:
        return {}, []
    from ..mirror.targets import read_targets

    return read_targets(config.mirror, config.located("mirror"))


def _ordered(problems: list[SourceProblem]) -> list[SourceProblem]:
    return sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))
