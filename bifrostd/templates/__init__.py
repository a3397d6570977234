"""The template engine: YAML template sets compiled once, matching paths and formatting them.

Public API::

    load_template_set(location) -> TemplateSet      # raises TemplateSetInvalid
    build_template_set(location) -> (TemplateSet, problems)
    TemplateSet.match(path) -> Match | None
    TemplateSet.format(name, fields, os_name=None) -> str

The overlap proof (``bifrostd.templates.check``) imports interegular and is
only loaded by ``bifrostctl templates check`` and the daemon's reload.
"""

from __future__ import annotations

from .entities import Entity, Reference, is_reference, parse_reference
from .keys import Key, KeyType
from .source import SourceProblem, Where
from .templateset import Match, TemplateSet, build_template_set, current_os, load_template_set

__all__ = [
    "Entity",
    "Key",
    "KeyType",
    "Match",
    "SourceProblem",
    "Reference",
    "TemplateSet",
    "Where",
    "build_template_set",
    "current_os",
    "is_reference",
    "load_template_set",
    "parse_reference",
]
