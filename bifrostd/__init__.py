"""Bifrost: a filesystem-first asset catalog for animation and VFX studios.

The package holds the library (templates, catalog, scan, watch, mirror), the
daemon (``bifrostd``) and the command line (``bifrostctl``). Importing the
package is cheap: heavy modules (fsspec backends, pxr, watchdog) are imported
by the modules that need them, when they need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
