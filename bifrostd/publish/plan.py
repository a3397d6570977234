"""Planning a publish: which template, which version number, which files go where. Pure: values in, a plan out.

How the publish template is chosen (docs/cli.md, ``publish``): a
*publish template* is a template that defines a ``version`` and has
``publish`` in its name (``shot_publish_maya``, ``asset_publish_usd``).
The source's own fields (project, shot, task, name, extension...) must
format it, with a new version number, and it must have a frame key exactly
when the source has one. So ``shot_work_maya`` (``ext: ma``) goes to
``shot_publish_maya``, never to ``shot_publish_usd`` (whose extension key
refuses ``ma``). None fits: refused; several fit: refused, listing them,
and ``--to TEMPLATE`` picks one (any template defining a version).

The version's folder is the folder template (one defining a ``version``)
whose path is the closest folder above the target's files
(``shot_publish_root``: ``.../anim/publish/v003``). The next number is one
above every number taken in that folder's parent, complete or not, so a
publish never reuses the number of one that failed or is in flight (and a
gap left by a deleted version stays a gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import FieldValueError, PublishError
from ..sequences import collapse, format_ranges
from ..templates.compiled import CompiledTemplate
from ..templates.templateset import TemplateSet

__all__ = ["PublishItem", "PublishPlan", "PublishSource", "check_frames", "choose_template", "next_version",
           "plan_publish", "version_folder_template", "version_of_entry"]

#: The field that numbers versions in the templates a publish writes (the default sets' ``{version}``).
VERSION = "version"


@dataclass(frozen=True, slots=True)
class PublishSource:
    """What is published: one file, or the frames of one sequence (``frame`` None for a single file).

    ``fields`` are the source template's fields without the frame; ``files``
    are (frame, absolute path) in frame order.
    """

    given: str
    #: The file's absolute path, or the sequence's (``####`` for the frame).
    path: str
    root: str
    template: str
    fields: Mapping[str, Any]
    files: tuple[tuple[int | None, str], ...]

    @property
    def frames(self) -> tuple[int, ...]:
        return tuple(frame for frame, _ in self.files if frame is not None)

    @property
    def frame_range(self) -> str:
        """The frames as ranges (``1001-1100``), empty for a single file."""
        found = collapse(self.frames)
        return "" if found is None else (f"{found.first}-{found.last}" if found.first != found.last
                                         else str(found.first))


@dataclass(frozen=True, slots=True)
class PublishItem:
    """One file to publish: the source's absolute path, and the target relative to the version folder."""

    source: str
    target: str
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """A publish computed without side effects; :func:`bifrostd.publish.execute_publish` carries it out.

    ``version`` is the number planned: a racing publish that claims it first
    moves the execution to the next free one (the result says which).
    """

    source: PublishSource
    template: str
    root: str
    #: The version folder, root-relative, for ``version``.
    folder: str
    version: int
    items: tuple[PublishItem, ...]
    comment: str = ""

    def with_version(self, template_set: TemplateSet, version: int) -> PublishPlan:
        """The same plan for another version number (after losing a race for this one)."""
        return plan_publish(template_set, self.source, template_set.template(self.template), [version - 1],
                            comment=self.comment)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.path, "source_template": self.source.template, "template": self.template,
                "root": self.root, "folder": self.folder, "version": self.version,
                "frames": self.source.frame_range, "comment": self.comment,
                "files": [{"source": i.source, "target": i.target} for i in self.items]}


def next_version(taken: Iterable[int]) -> int:
    """One above every version number taken (complete, incomplete or in flight); 1 when none is."""
    return max(taken, default=0) + 1


def choose_template(template_set: TemplateSet, source: PublishSource, to: str | None = None) -> CompiledTemplate:
    """The publish template of ``source``: ``to`` when given (checked), else the one publish template that fits."""
    if to is not None:
        target = template_set.template(to)
        problem = _misfit(template_set, source, target)
        if problem:
            raise PublishError(f"{source.given}: cannot be published to {to!r}: {problem}")
        return target
    fitting = [t for t in template_set.templates.values()
               if "publish" in t.name and t.name != source.template and not _misfit(template_set, source, t)]
    if not fitting:
        raise PublishError(f"{source.given}: no publish template fits a {source.template} file (a template defining "
                           "a version, with 'publish' in its name, that its fields format); name one with --to TEMPLATE")
    if len(fitting) > 1:
        names = ", ".join(sorted(t.name for t in fitting))
        raise PublishError(f"{source.given}: several publish templates fit ({names}); pick one with --to TEMPLATE")
    return fitting[0]


def _misfit(template_set: TemplateSet, source: PublishSource, target: CompiledTemplate) -> str:
    """Why ``target`` cannot take ``source`` (empty when it can)."""
    if target.entity != "version":
        return "it does not define a version"
    if (target.frame_field is None) != (not source.frames):
        return "one is a frame sequence and the other is not"
    try:
        _target_path(target, source.fields, 1, source.frames[0] if source.frames else None)
        version_folder_template(template_set, target, source.fields)
    except (FieldValueError, PublishError) as exc:
        return str(exc)
    return ""


def version_folder_template(template_set: TemplateSet, target: CompiledTemplate,
                            fields: Mapping[str, Any]) -> CompiledTemplate:
    """The folder template of the version ``target``'s files sit in: the closest one above them."""
    sample = _target_path(target, fields, 1, 1)
    best: tuple[int, CompiledTemplate] | None = None
    for candidate in template_set.templates.values():
        if candidate.entity != "version" or candidate.root != target.root or candidate is target:
            continue
        try:
            folder = candidate.format({**fields, VERSION: 1})
        except FieldValueError:
            continue
        if sample.startswith(folder + "/") and (best is None or len(folder) > best[0]):
            best = (len(folder), candidate)
    if best is None:
        raise PublishError(f"template {target.name!r} puts its files in no version folder (a template defining a "
                           "version whose path is a folder above them), so a version can't be claimed")
    return best[1]


def _target_path(target: CompiledTemplate, fields: Mapping[str, Any], version: int, frame: int | None) -> str:
    values = {**fields, VERSION: version}
    if target.frame_field is not None:
        values[target.frame_field] = frame
    return target.format(values)


def check_frames(source: PublishSource) -> None:
    """Refuse a sequence with frames missing between its first and last: a publish is whole or not made."""
    found = collapse(source.frames)
    if found is not None and found.missing:
        raise PublishError(f"{source.given}: {found.missing_count} frame(s) missing between {found.first} and "
                           f"{found.last} ({format_ranges(found.missing)}); render them and publish again; "
                           "nothing was published")


def plan_publish(template_set: TemplateSet, source: PublishSource, target: CompiledTemplate, taken: Iterable[int],
                 *, comment: str = "") -> PublishPlan:
    """The publish of ``source`` to ``target`` at the next version above ``taken``."""
    check_frames(source)
    version = next_version(taken)
    folder_template = version_folder_template(template_set, target, source.fields)
    folder = folder_template.format({**source.fields, VERSION: version})
    items = tuple(PublishItem(path, _target_path(target, source.fields, version, frame)[len(folder) + 1:], frame)
                  for frame, path in source.files)
    return PublishPlan(source, target.name, target.root, folder, version, items, comment)


def version_of_entry(folder_template: CompiledTemplate, fields: Mapping[str, Any], parent: str,
                     name: str) -> int | None:
    """The version number of the folder ``name`` in ``parent`` when it is a version folder of these fields."""
    found = folder_template.parse(f"{parent}/{name}" if parent else name)
    if found is None or not isinstance(found.get(VERSION), int):
        return None
    same = all(found.get(k) == v for k, v in fields.items() if k in found and k != VERSION)
    return found[VERSION] if same else None
