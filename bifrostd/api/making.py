"""Writing the studio tree: creating entities, importing an edit, publishing and deprecating versions,
tagging and linking (each through its own room, the catalog following)."""

from __future__ import annotations

import os as _os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..authored import Link
from ..errors import (ResolveError)

if TYPE_CHECKING:
    from ..production.create import CreateReport
    from ..production.edit_import import EditImport
    from ..production.tagging import AuthoredChange
    from ..publish import DeprecationResult, PublishPlan, PublishResult

from .base import StudioBase


class Making(StudioBase):
    """Writing the studio tree (mixed into :class:`~bifrostd.api.Studio`)."""

    def create(self, *references: str, description: str | None = None, frames: str | None = None,
               handles: str | None = None, tags: Sequence[str] = (), rows: str | _os.PathLike[str] | None = None,
               dry_run: bool = False) -> CreateReport:
        """Make entities: for each ``bifrost:///`` reference (and each row of a CSV or JSON file ``rows``), the
        folders the templates fix for it and its sidecar, with the authored values given.

        Everything is planned first: a value its key refuses raises
        FieldValueError (naming the key and its rule) before anything is
        made. Existing folders are left alone. With ``dry_run`` nothing is
        made and the report holds the plans. A failure part way (CreateRefused)
        takes back what this call made. The catalog follows at once when no
        daemon holds it (a running daemon's watcher records it). See
        ``bifrostd.templates.skeleton`` for which folders an entity has.
        """
        from ..production.create import Values, create_entities
        from ..production.rows import frame_range, read_rows, request_of

        range_ = frame_range(frames, handles) if frames is not None else None
        given = Values(description, range_, tuple(tags))
        requests = [(reference, given) for reference in references]
        if rows is not None:
            requests += [request_of(self._set, where, row) for where, row in read_rows(Path(rows))]
        return create_entities(self._set, self._config.catalog_path, requests, dry_run=dry_run)

    def import_edit(self, edit: str | _os.PathLike[str], *, project: str | None = None, rate: str | None = None,
                    sequence: str | None = None, name_pattern: str | None = None, start: int | None = None,
                    handles: str | None = None, force: bool = False, dry_run: bool = False) -> EditImport:
        """Import an edit (``.otio``, CMX 3600 ``.edl``): plan new sequences and shots, changed cut ranges and
        shots no longer in the cut, then (unless ``dry_run``) create what is new and write the ranges.

        ``rate`` (``24``, ``30000/1001``) is the edit's frame rate; EDLs do not
        store it (24 when None). Names come from clip names (or markers) through
        ``name_pattern``, a regex with groups ``shot`` and optional ``sequence``
        (``sequence`` names the sequence of clips that give none); ``start`` is the
        first frame of every cut (1001). ``rate``, ``name_pattern`` and ``start``
        default to the config's ``edit`` section. ``project`` defaults to the
        only catalogued one. Raises EditUnreadable for a file
        that does not parse, EditRefused (nothing written) for refused names or
        a shrink over rendered frames without ``force``, PackageMissing without
        the ``edit`` extra. See docs/cli.md, ``shots import``.
        """
        from ..production.edit_import import edit_options, import_edit

        studio = self._config.edit
        options = edit_options(project or self._only_project(), rate=rate or studio.rate, sequence=sequence,
                               name_pattern=name_pattern or studio.name_pattern,
                               start=studio.start_frame if start is None else start, handles=handles, force=force)
        return import_edit(self._set, self._config.catalog_path, Path(edit), options, dry_run=dry_run)

    def publish(self, source: str | _os.PathLike[str], *, to: str | None = None, comment: str = "",
                task: str | None = None, dry_run: bool = False) -> PublishPlan | PublishResult:
        """Copy a work file, or every frame of a sequence (any one frame, or ``####``), to the next free version
        of its publish template (``to`` picks one; ``task``, a task reference, publishes to that task instead
        of the source's), verify each copy by its xxh3, write the version's sidecar
        last and record the version in the catalog (or leave it to the running daemon's watcher).

        With ``dry_run``, the :class:`~bifrostd.publish.PublishPlan` (version number and every file); else the
        :class:`~bifrostd.publish.PublishResult`. A source no template knows, with no publish template, or a
        sequence with missing frames raises PublishError and changes nothing.
        """
        from ..publish import current_user, execute_publish, prepare_publish, record_paths, utc_now

        plan = prepare_publish(self._set, _os.fspath(source), to=to, comment=comment, task=task)
        if dry_run:
            return plan
        result = execute_publish(self._set, plan, user=current_user(), time_text=utc_now())
        recorded = record_paths(self._config.catalog_path, self._set, result.plan.root, [(result.plan.folder, True)])
        return replace(result, recorded=recorded.by)

    def deprecate(self, version: str | _os.PathLike[str], *, comment: str = "", deprecated: bool = True,
                  dry_run: bool = False) -> DeprecationResult:
        """Flag a version (a reference, one of its files or its folder) deprecated, or not with
        ``deprecated=False``, in its sidecar with who, when and why; ``version=latest`` skips deprecated
        versions. Nothing is deleted. Raises PublishError for a target that names no published version."""
        from ..authored import SIDECAR_NAME
        from ..publish import current_user, record_paths, set_deprecated, utc_now, version_folder

        folder = version_folder(self._set, _os.fspath(version))
        result = set_deprecated(folder, deprecated, user=current_user(), time_text=utc_now(), comment=comment,
                                dry_run=dry_run)
        if dry_run:
            return result
        recorded = record_paths(self._config.catalog_path, self._set, folder.root,
                                [(f"{folder.relative}/{SIDECAR_NAME}", False)])
        return replace(result, recorded=recorded.by)

    def tag(self, reference: str, *tags: str, remove: bool = False, dry_run: bool = False) -> AuthoredChange:
        """Add ``tags`` to a catalogued entity's sidecar (or remove them, with ``remove``), under its lock;
        AuthoredRefused for a tag that is not one word. The catalog follows as for :meth:`publish`."""
        from ..production.tagging import with_tags, without_tags

        return self._change(reference, (without_tags if remove else with_tags)(tags), dry_run)

    def link(self, reference: str, *targets: str, kind: str = "uses", remove: bool = False,
             dry_run: bool = False) -> AuthoredChange:
        """Link an entity to other catalogued entities (``uses``: a shot uses an asset), or remove the links
        (of ``kind``; every kind with ``kind=""``); AuthoredRefused for a target the catalog does not know."""
        from ..errors import AuthoredRefused
        from ..production.tagging import with_links, without_links

        if not targets or (not kind and not remove) or any(c.isspace() for c in kind):
            raise AuthoredRefused("link: give one or more targets and a kind that is one word; nothing was written")
        try:
            found = [self.entity(target).uri for target in targets]
        except ResolveError as error:
            raise AuthoredRefused(f"cannot link to it: {error}; nothing was written") from None
        links = [Link(uri, kind) for uri in found]
        return self._change(reference, (without_links if remove else with_links)(links), dry_run)

    def _change(self, reference: str, change: Any, dry_run: bool) -> AuthoredChange:
        """Apply a change to the sidecar of the catalogued entity ``reference``, and catalog the sidecar."""
        from ..authored import SIDECAR_NAME
        from ..production.tagging import change_sidecar
        from ..publish import record_paths
        from ..templates.references import resolve_reference

        uri = self.entity(reference).uri
        resolved = resolve_reference(self._set, uri)
        result = change_sidecar(uri, resolved.path, change, dry_run=dry_run)
        if dry_run or not result.changed:
            return result
        template = resolved.template
        relative = template.format(resolved.fields)
        recorded = record_paths(self._config.catalog_path, self._set, template.root,
                                [(f"{relative}/{SIDECAR_NAME}" if relative else SIDECAR_NAME, False)])
        return replace(result, recorded=recorded.by)
