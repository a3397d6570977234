"""Racing real processes: each target is started in its own spawned process and released at once."""

from __future__ import annotations

import multiprocessing
from typing import Any, Callable, Sequence


def race(target: Callable[..., None], argsets: Sequence[tuple[Any, ...]], *, timeout: float = 120) -> None:
    """Run ``target(*args, start)`` in one process per args, all released by one event; each must exit 0."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=target, args=(*args, start)) for args in argsets]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout)
        assert worker.exitcode == 0
