"""Pausing Python's cyclic garbage collector around bulk work.

Why it exists: matching a walk's paths, planning, and hashing each build
hundreds of thousands of small tuples and objects in one go. Every 700 new
container objects start a collection that traverses the young ones, and
the older generations are scanned again and again as they grow, although
nothing built there forms a cycle; pausing the collector for the duration is
a tenth or more of such work. It lives at the bottom of the layers so any
layer can use it without importing the rest.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored on exit, even on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
