"""What a path is, and which path fields name: the template set's answers, without the catalog.

:func:`resolve_path` tells a path's root, template, typed fields and entity,
or why it has none; :func:`format_path` writes the path of a template from
fields. ``bifrostctl resolve`` and ``path`` render these answers and
:class:`bifrostd.api.Studio` returns them as its own values, so the two can't
drift. A reference's path is :func:`.references.resolve_reference`; its
``version=latest`` needs the catalog (``bifrostd.resolver``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ResolveError
from .compiled import CompiledTemplate
from .readings import differing_text
from .placing import place
from .templateset import Match, TemplateSet, join_root

NO_ROOT = "is under no root"
NO_TEMPLATE = "matches no template"
AMBIGUOUS = "matches several templates of equal priority"


@dataclass(frozen=True, slots=True)
class PathResolution:
    """A path as the template set reads it. ``match`` is None when no template matches; a match whose
    ``ambiguous`` is true names the tied templates in ``candidates``, or the one template that reads
    the path two ways with both ``readings`` (``templates check`` rules both out)."""

    input: str
    #: The absolute path on this machine (a relative input is taken from the current folder; a path
    #: written for another OS is given as this machine's path of the same file).
    path: str
    #: The root the path is under (or is), None when under none.
    root: str | None
    match: Match | None

    @property
    def matched(self) -> bool:
        return self.match is not None and not self.match.ambiguous

    @property
    def reason(self) -> str | None:
        """Why the path names no template: under no root, matching none, or matching several; None if matched."""
        if self.match is not None:
            if self.match.readings:
                first, second = self.match.readings[:2]
                return f"reads two ways under template {self.match.candidates[0]!r}: {differing_text(first, second)}"
            return AMBIGUOUS if self.match.ambiguous else None
        return NO_TEMPLATE if self.root is not None else NO_ROOT


def resolve_path(template_set: TemplateSet, path: str) -> PathResolution:
    """Match ``path``, written for any OS (absolute, or relative to the current folder; see :mod:`.placing`).

    The resolution's ``path`` is the file's path on this machine: a Windows
    path read on Linux is answered with the Linux path of the same file.
    """
    placed = place(template_set, path)
    if placed.root is None or placed.relative is None:
        return PathResolution(path, placed.normal, None, None)
    found = template_set.match_relative(placed.root, placed.relative) if placed.relative else None
    here = placed.normal
    if placed.foreign:
        try:
            here = join_root(template_set.root_path(placed.root), placed.relative, template_set.os_name)
        except ResolveError:  # the root has no path on this machine's OS: the path stays as given
            pass
    return PathResolution(path, here, placed.root, found)


@dataclass(frozen=True, slots=True)
class FormattedPath:
    """The path of a template for typed fields, on one OS."""

    template: CompiledTemplate
    fields: dict[str, Any]
    os_name: str
    path: str


def format_path(template_set: TemplateSet, name: str, fields: Mapping[str, Any], *, os_name: str | None = None,
                ignore_unknown: bool = False) -> FormattedPath:
    """The absolute path of template ``name`` from ``fields`` (text or typed values) on ``os_name``.

    A field the template does not use raises FieldValueError naming it (a
    typo would else be dropped unseen), unless ``ignore_unknown``: then it is
    left out, so the fields of one template's match can format another, and
    a None value means no value. Missing and invalid values raise FieldValueError.
    """
    template = template_set.template(name)
    if ignore_unknown:
        fields = {k: v for k, v in fields.items() if k in template.fields and v is not None}
    else:
        template.reject_unknown(fields)
    typed = template_set.convert_fields(dict(fields), template)
    return FormattedPath(template, typed, os_name or template_set.os_name,
                         template_set.format(name, typed, os_name=os_name))
