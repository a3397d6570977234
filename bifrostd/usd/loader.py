"""Importing usd-core's ``pxr`` when a USD feature first needs it, with the install hint when it is missing."""

from __future__ import annotations

import functools
import importlib
import sys
from types import ModuleType

from ..errors import PackageMissing

__all__ = ["INSTALL", "pxr"]

#: How to enable USD support, as every message says it.
INSTALL = "pip install 'bifrostd[usd]'"


@functools.cache  # a module once imported stays; a failure is not cached (cache_clear() forgets the modules)
def pxr(name: str) -> ModuleType:
    """``pxr.<name>`` (``Sdf``, ``UsdUtils``...), or PackageMissing (exit 16) saying how to install usd-core."""
    try:
        # Usd first: before usd-core 26 the wheels are not monolithic, and Sdf alone can't load the .usda/.usdc
        # file formats ("Failed to load plugin 'usd': libusd_kind...so: cannot open shared object file").
        importlib.import_module("pxr.Usd")
        return importlib.import_module(f"pxr.{name}")
    except ImportError as error:
        raise PackageMissing(feature="USD support", package="usd-core", why=error,
                             command=f"{sys.executable} -m {INSTALL}") from error
