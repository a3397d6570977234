"""Progress of long commands on a terminal: one bar per stage with files, bytes, rate and time left.

Bars are drawn by tqdm on stderr, and only there: a command whose stderr is
not a terminal (piped, in a script, under systemd), asked for ``--json`` or
``--quiet``, shows none and never imports tqdm; nor does any command that has
no long work (``resolve``, ``status``, ``--version`` stay as fast as they were).
Lines written while a bar is shown go through :func:`echo_err`, which lifts
the bar for them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

import click

from ..progress import ByteProgress, Step

__all__ = ["TerminalProgress", "echo_err"]


class TerminalProgress(ByteProgress):
    """A progress callback for ``bifrostd.progress`` producers; draws nothing unless ``enabled``."""

    shown = 0  # bars on the terminal now, in this process

    def __init__(self, enabled: bool, *, file: Any = None) -> None:
        self.enabled = enabled
        self.file = file
        self._bar: Any = None
        self._kind: tuple[str, bool] | None = None  # (stage, counts bytes) of the bar shown
        self._shown_count: tuple[int | None, int | None] | None = None

    def labelled(self, label: str) -> ByteProgress:
        """The same bar, its stages named ``label: stage`` (one mirror target among several)."""
        return _Labelled(self, label)

    def step(self, step: Step) -> None:
        if not self.enabled:
            return
        bar = self._bar_for(step)
        shown: tuple[int | None, int | None]
        text: str | None
        if step.total_bytes is not None:  # a byte bar, its files alongside
            value, shown = step.done_bytes or 0, (step.done, step.total)
            text = _count_text(step.done, step.total)
        else:  # a file bar, with the bytes found so far when they are counted (walking)
            value, shown = step.done, (step.done_bytes, None)
            text = None if step.done_bytes is None else bar.format_sizeof(step.done_bytes, "B", 1024)
        if text is not None and shown != self._shown_count:
            self._shown_count = shown
            bar.set_postfix_str(text, refresh=False)
        if bar.total is not None and value > bar.total:
            value = bar.total  # a file that grew while it was read: never show more than 100 %
        bar.update(value - bar.n)
        if step.total is not None and step.done >= step.total:
            bar.refresh()  # a stage's last step is drawn whatever the time since the last: its totals and rate

    def clear(self) -> None:
        """Take the bar off the terminal (before the command prints its result)."""
        if self._bar is not None:
            self._bar.close()
            TerminalProgress.shown -= 1
        self._bar, self._kind, self._shown_count = None, None, None

    def _bar_for(self, step: Step) -> Any:
        kind = (step.stage, step.total_bytes is not None)
        if self._bar is not None and kind == self._kind:
            if self._bar.total != _total(step):  # a total learnt at the end (a walk's)
                self._bar.total = _total(step)
            return self._bar
        self.clear()
        self._bar, self._kind = _new_bar(step, self.file or sys.stderr), kind
        TerminalProgress.shown += 1
        return self._bar


class _Labelled(ByteProgress):
    def __init__(self, inner: TerminalProgress, label: str) -> None:
        self.inner, self.label = inner, label

    def step(self, step: Step) -> None:
        self.inner.step(replace(step, stage=f"{self.label}: {step.stage}"))


def _total(step: Step) -> int | None:
    return step.total_bytes if step.total_bytes is not None else step.total


def _count_text(done: int, total: int | None) -> str:
    return f"{done:,}/{total:,} files" if total is not None else f"{done:,} files"


def _new_bar(step: Step, file: Any) -> Any:
    tqdm = _tqdm()
    common = {"desc": step.stage, "file": file, "leave": False, "mininterval": 0.1, "smoothing": 0,
              **_width(file)}
    if step.total_bytes is not None:
        return tqdm(total=step.total_bytes, unit="B", unit_scale=True, unit_divisor=1024, **common)
    return tqdm(total=step.total, unit=" files", **common)


def _width(file: Any) -> dict[str, Any]:
    """Follow the terminal's size; one that reports none (0 x 0: a bare pty) is taken as 80 x 24 (tqdm would
    draw nothing on it)."""
    try:
        size = os.get_terminal_size(file.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns and size.lines else {"ncols": 80, "nrows": 24}


def _tqdm() -> Any:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: every update comes from the command's own thread
    return tqdm


def echo_err(text: str) -> None:
    """A line on stderr, drawn above any progress bar shown (the bar is redrawn below it)."""
    if TerminalProgress.shown:
        _tqdm().write(text, file=sys.stderr)
    else:
        click.echo(text, err=True)
