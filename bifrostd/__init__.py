"""Bifrost: a filesystem-first asset catalog for animation and VFX studios.

The package holds the library (templates, catalog, scan, watch, mirror), the
daemon (``bifrostd``) and the command line (``bifrostctl``). Pipeline code uses
the Python API, :mod:`bifrostd.api`: ``from bifrostd import Studio``.

Importing the package is cheap: heavy modules (fsspec backends, pxr, watchdog)
are imported by the modules that need them, when they need them, and
``Studio`` loads :mod:`bifrostd.api` only when first asked for.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Studio", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Studio":
        from .api import Studio

        return Studio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Studio"})
