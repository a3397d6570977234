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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .entities import Entity, Reference, is_reference, parse_reference
    from .keys import Key, KeyType
    from .notations import notation_of
    from .source import SourceProblem, Where
    from .spec import current_os
    from .templateset import Match, TemplateSet, build_template_set, load_template_set

#: Each public name and its module, imported when the name is first asked for: the config reads its YAML
#: through ``source`` and ``loader``, and a command that needs no template set (``daemon status``) loads
#: no more of the engine than that.
_HOMES = {
    "Entity": "entities", "Reference": "entities", "is_reference": "entities", "parse_reference": "entities",
    "Key": "keys", "KeyType": "keys", "notation_of": "notations", "SourceProblem": "source", "Where": "source",
    "Match": "templateset", "TemplateSet": "templateset", "build_template_set": "templateset",
    "current_os": "spec", "load_template_set": "templateset",
}

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
    "notation_of",
    "parse_reference",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
