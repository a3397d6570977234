"""The JSON documents of the Python API's answers, as ``bifrostctl --json`` prints them (docs/cli.md).

The commands ask :class:`bifrostd.api.Studio` and render its values here, so
a script reading ``bifrostctl resolve --json`` and one calling
``studio.resolve`` see the same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..templates import notation_of

if TYPE_CHECKING:
    from ..api import Entity, File, FrameSequence, Listing, Match, Unresolved, Version


def entity_json(entity: Entity) -> dict[str, Any]:
    """An entity as a path or a reference names it."""
    return {"kind": entity.kind, "uri": entity.uri, "name": entity.name, "fields": dict(entity.fields)}


def catalogued_json(entity: Entity) -> dict[str, Any]:
    """An entity as the catalog holds it: its own keys and what it holds."""
    return {"kind": entity.kind, "uri": entity.uri, "name": entity.name, "keys": dict(entity.own),
            "files": entity.files, "bytes": entity.bytes, "children": entity.children}


def file_json(file: File) -> dict[str, Any]:
    return {"root": file.root, "path": file.relative, "size": file.size, "state": file.state,
            "template": file.template, "hash": file.hash}


def sequence_json(sequence: FrameSequence) -> dict[str, Any]:
    return {"root": sequence.root, "pattern": sequence.relative, "first": sequence.first, "last": sequence.last,
            "count": sequence.count, "missing": sequence.missing, "missing_count": sequence.missing_count,
            "bytes": sequence.bytes}


def version_json(version: Version) -> dict[str, Any]:
    return {**catalogued_json(version.entity), "files": [file_json(f) for f in version.files],
            "sequences": [sequence_json(s) for s in version.sequences],
            "publish": version.publish.to_json() if version.publish is not None else None,
            "deprecated": version.deprecated,
            "deprecation": version.deprecation.to_json() if version.deprecation is not None else None}


def listing_json(listing: Listing) -> dict[str, Any]:
    """An entity's listing (``children`` present), or a folder's (``folder`` present)."""
    files = [file_json(f) for f in listing.files]
    if listing.root is not None:
        return {"root": listing.root, "folder": listing.folder, "files": files}
    return {"entity": catalogued_json(listing.entity) if listing.entity else None,
            "children": [{**catalogued_json(c), "tags": list(listing.tags.get(c.uri, ()))} for c in listing.children],
            "files": files,
            "sequences": [sequence_json(s) for s in listing.sequences]}


def path_match_json(text: str, match: Match) -> dict[str, Any]:
    """A path that one template matches, with its path on the OS asked for (a Windows path read on
    Linux gives the Linux path); ``notations`` names a frame or UDIM notation found (``####``)."""
    return _with_notations({"input": text, "path": match.path, "root": match.root, "relative": match.relative,
                            "fields": dict(match.fields), "matched": True, "template": match.template,
                            "entity": entity_json(match.entity) if match.entity else None})


def _with_notations(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with a ``notations`` member when a field holds a frame or UDIM notation.

    Added only then, so documents of numbered paths stay as they were.
    """
    found = {name: notation for name, value in document["fields"].items() if (notation := notation_of(value))}
    if found:
        document["notations"] = found
    return document


def unresolved_json(answer: Unresolved) -> dict[str, Any]:
    """A path under no root, matching no template, matching several (with the first one's reading), or
    read two ways by one (with both ``readings``)."""
    if not answer.candidates:
        return {"input": answer.input, "matched": False, "reason": answer.reason, "root": answer.root}
    document: dict[str, Any] = {"input": answer.input, "root": answer.root, "relative": answer.relative,
                                "fields": dict(answer.fields), "matched": False, "reason": answer.reason,
                                "candidates": list(answer.candidates)}
    if answer.readings:
        document["readings"] = [dict(reading) for reading in answer.readings]
    return _with_notations(document)


def reference_match_json(text: str, match: Match, os_name: str) -> dict[str, Any]:
    """A reference resolved to a path on ``os_name``; with ``latest``, the version a version=latest chose."""
    document = {"input": text, "matched": True, "path": match.path, "template": match.template,
                "fields": dict(match.fields), "entity": entity_json(match.entity) if match.entity else None,
                "os": os_name}
    if match.latest is not None:
        document["latest"] = catalogued_json(match.latest)
        document["publish"] = match.publish.to_json() if match.publish is not None else None
    return _with_notations(document)
