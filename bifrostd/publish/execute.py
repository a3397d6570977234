"""Carrying out a publish: read the source, plan, claim a version, copy and verify each file, write the sidecar.

The I/O edge around the pure :mod:`.plan`. Per file: a temp name in the
(staging) version folder, copy, fsync, rename, folder fsync
(``atomic_write.AtomicFile``), then the file is read back and its xxh3
compared with the source's as read during the copy; published files are
read-only. The sidecar (``publish:`` block) is written last, then the
whole folder is put in place (see :mod:`.claim`). Any failure undoes the
publish: nothing is left but what was there before.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..atomic_write import AtomicFile, open_folder_fd, write_atomic
from ..catalog.events import owner_name
from ..authored import SIDECAR_NAME, Authored, Publish, PublishedFile, render_sidecar
from ..errors import PublishError, PublishVerifyFailed
from ..observe.hashing import copy_hashed, hash_file
from ..templates.compiled import CompiledTemplate
from ..templates.entities import parse_reference
from ..templates.resolution import resolve_path
from ..templates.templateset import TemplateSet
from .claim import Staging, clean_stale
from .plan import (VERSION, PublishPlan, PublishSource, choose_template, plan_publish, version_folder_template,
                   version_of_entry)

__all__ = ["PublishResult", "current_user", "execute_publish", "prepare_publish", "read_source", "utc_now"]

#: Published files: read-only for everyone (less the umask).
READ_ONLY = 0o444


@dataclass(frozen=True, slots=True)
class PublishResult:
    """A publish done: the plan as carried out (its version may be above the one planned, after a race),
    what the sidecar recorded, and the stale staging folders of killed publishes cleaned on the way."""

    plan: PublishPlan
    publish: Publish
    path: str
    cleaned: tuple[str, ...] = ()
    #: How the catalog learnt of it (``catalog``, ``daemon`` or ``pending``), once recorded.
    recorded: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "path": self.path, "publish": self.publish.to_json(),
                "cleaned": list(self.cleaned), "recorded": self.recorded}


def current_user() -> str:
    """The login name of this process's uid (the uid itself when it has none), as the log names owners."""
    uid = os.getuid()
    return owner_name(uid) or str(uid)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_source(template_set: TemplateSet, given: str, *, listdir: Callable[[str], list[str]] = os.listdir) -> PublishSource:
    """The file, or every frame of the sequence, that ``given`` names (a file, one frame, or ``####``)."""
    answer = resolve_path(template_set, given)
    found = answer.match
    if answer.reason is not None or found is None or found.template is None:
        raise PublishError(f"{given}: {answer.reason or 'no template matches it'}; only a file a template knows "
                           "can be published")
    template = found.template
    frame = template.frame_field
    if frame is None:
        if not os.path.isfile(answer.path):
            raise PublishError(f"{given}: no such file")
        return PublishSource(given, answer.path, found.root, template.name, dict(found.fields),
                             ((None, answer.path),))
    fields = {k: v for k, v in found.fields.items() if k != frame}
    pattern = os.path.join(template_set.root_path(found.root), template.format({**fields, frame: "#"}))
    return PublishSource(given, pattern, found.root, template.name, fields,
                         _frames(template_set, found.root, found.relative, template, fields, listdir))


def _frames(template_set: TemplateSet, root: str, relative: str, template: CompiledTemplate, fields: dict[str, Any],
            listdir: Callable[[str], list[str]]) -> tuple[tuple[int | None, str], ...]:
    """(frame, absolute path) of every frame beside ``relative`` in the same sequence, in frame order."""
    frame = template.frame_field
    assert frame is not None  # called for a sequence's template only
    folder = relative.rpartition("/")[0]
    absolute = os.path.join(template_set.root_path(root), folder)
    try:
        names = listdir(absolute)
    except FileNotFoundError:
        names = []
    frames = []
    for name in names:
        parsed = template.parse(f"{folder}/{name}" if folder else name)
        if parsed is not None and isinstance(parsed.get(frame), int) and all(
                parsed.get(k) == v for k, v in fields.items()):
            frames.append((parsed[frame], os.path.join(absolute, name)))
    if not frames:
        raise PublishError(f"{relative}: no frames of this sequence on disk")
    return tuple(sorted(frames))


def prepare_publish(template_set: TemplateSet, given: str, *, to: str | None = None, comment: str = "",
                    task: str | None = None) -> PublishPlan:
    """The plan of publishing ``given``: the version the next free number, every file and its target.

    ``task`` (a task reference) publishes to that task instead of the source's own: its fields (project,
    shot or asset, task) replace the source's.
    """
    source = read_source(template_set, given)
    if task is not None:
        source = replace(source, fields={**source.fields, **task_fields(template_set, task)})
    target = choose_template(template_set, source, to)
    return plan_publish(template_set, source, target, taken_versions(template_set, target, source), comment=comment)


def taken_versions(template_set: TemplateSet, target: CompiledTemplate, source: PublishSource) -> list[int]:
    """The version numbers whose folders exist beside the one ``source`` would publish to at ``target``:
    whole, in flight or left by a killed publish (each a folder its template reads with the source's fields)."""
    folder_template = version_folder_template(template_set, target, source.fields)
    parent = folder_template.format({**source.fields, VERSION: 1}).rpartition("/")[0]
    try:
        names = os.listdir(Path(template_set.root_path(target.root)) / parent)
    except FileNotFoundError:
        return []
    numbers = (version_of_entry(folder_template, source.fields, parent, name) for name in names)
    return [n for n in numbers if n is not None]


def task_fields(template_set: TemplateSet, reference: str) -> dict[str, Any]:
    """The typed identifying fields of a task reference; PublishError for a reference to anything else."""
    parsed = parse_reference(reference, template_set.entities)
    if parsed.kind != "task":
        raise PublishError(f"--task {reference}: names a {parsed.kind}, not a task")
    return template_set.convert_fields(parsed.fields)


def execute_publish(template_set: TemplateSet, plan: PublishPlan, *, user: str, time_text: str) -> PublishResult:
    """Claim a version (the planned one, or the next free one after a race), copy, verify, record, put in place."""
    root_path = Path(template_set.root_path(plan.root))
    parent = (root_path / plan.folder).parent
    cleaned = tuple(clean_stale(parent))
    if cleaned:  # numbers freed by killed publishes: plan again from what is there now
        target = template_set.template(plan.template)
        plan = plan_publish(template_set, plan.source, target, taken_versions(template_set, target, plan.source),
                            comment=plan.comment)
    staging = Staging.create(parent)
    try:
        plan = _claim(template_set, staging, plan)
        files = tuple(_copy(staging.path, item.source, item.target) for item in plan.items)
        publish = Publish(plan.source.path, plan.template, user, time_text, plan.comment,
                          plan.source.frame_range, files)
        write_atomic(staging.path / SIDECAR_NAME, render_sidecar(Authored(publish=publish)).encode("utf-8"))
        staging.put_in_place()
    except BaseException:
        staging.abandon()
        raise
    finally:
        staging.release()
    return PublishResult(plan, publish, str(root_path / plan.folder), cleaned)


def _claim(template_set: TemplateSet, staging: Staging, plan: PublishPlan) -> PublishPlan:
    """The plan at the first version number from the planned one that this publisher claims."""
    while not staging.claim(plan.folder.rpartition("/")[2]):
        plan = plan.with_version(template_set, plan.version + 1)
    return plan


def _copy(folder: Path, source: str, target: str) -> PublishedFile:
    """Copy ``source`` to ``target`` (relative to ``folder``) atomically, read it back, compare, make it read-only."""
    final = folder / target
    with AtomicFile(open_folder_fd(final.parent, create=True), final.name, mode=READ_ONLY) as out:
        try:
            expected, before = copy_hashed(source, out.write)
        except OSError as exc:
            raise PublishError(f"{source}: cannot be read ({exc.strerror}); nothing was published") from exc
        out.commit(mtime_ns=before.st_mtime_ns)
    _check_unchanged(source, before)
    found = hash_file(final)
    if found != expected:
        raise PublishVerifyFailed(path=str(final), found=found, source=source, expected=expected)
    return PublishedFile(target, before.st_size, expected)


def _check_unchanged(source: str, before: os.stat_result) -> None:
    after = os.stat(source)
    if (after.st_size, after.st_mtime_ns, after.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino):
        raise PublishError(f"{source}: changed while it was being published; save it again and retry; "
                           "nothing was published")
