"""The Python API for pipeline code: ``from bifrostd import Studio``.

Scripts in Maya, Houdini, Nuke, Blender and on the farm ask where things are
thousands of times; this answers in-process, in microseconds, what
``bifrostctl resolve``, ``path``, ``versions`` and ``ls`` answer (the same
library functions, so the answers can't drift)::

    studio = Studio.open()                      # the config bifrostctl would use
    match = studio.resolve(path)                # template, typed fields, entity; None if unmanaged
    studio.path("shot_work_maya", {**match.fields, "version": 4})
    studio.latest("bifrost:///task/shot/demo/sq010/sh0100/anim", template="shot_work_maya")

It reads the catalog directly and read-only, never blocking the daemon that
writes it. The two calls that write, ``publish`` and ``deprecate``, write
the studio tree, and record what they wrote in the catalog themselves only
when no daemon holds it (else its watcher does). Importing it loads neither the daemon, the cloud backends
(fsspec), pxr, watchdog nor click; the catalog's modules load on the first
question that needs the catalog.

The public API is the names in ``__all__``; every other module and name in
``bifrostd`` is private and may change in any release. The API follows
semantic versioning with the package version (``bifrostd.__version__``):
a minor release may add names, parameters and fields; only a major release
removes or changes one. Errors are :class:`BifrostError` subclasses, and
their families are exported here for ``except`` clauses.
"""

from __future__ import annotations

from ..authored import Authored, Deprecation, FrameRange, Link, Publish, PublishedFile
from ..errors import (BifrostError, CatalogError, ConfigError, FieldValueError, ProductionError, PublishError,
                      ResolveError, TemplateError)
from .studio import Studio
from .values import Entity, Fields, File, FrameSequence, Listing, Match, Unresolved, Version

__all__ = [
    "Authored",
    "BifrostError",
    "CatalogError",
    "ConfigError",
    "Deprecation",
    "Entity",
    "FieldValueError",
    "Fields",
    "File",
    "FrameRange",
    "FrameSequence",
    "Link",
    "Listing",
    "Match",
    "ProductionError",
    "Publish",
    "PublishError",
    "PublishedFile",
    "ResolveError",
    "Studio",
    "TemplateError",
    "Unresolved",
    "Version",
]


