"""Entities derived from template fields, and their ``bifrost:///`` reference URIs.

An entity kind names the keys that identify it below its parent (a shot by
``shot`` below its sequence; an asset by ``asset_type`` and ``asset`` below its
project). A set of fields defines an entity when the keys of the kind and of a
chain of parents up to a root kind are all present.

Reference URIs are stable, documented in docs/uri.md::

    bifrost:///<kind>[/<parent kind>...]/<value>/<value>...[?<field>=<value>&...]

The values are those of the identifying keys from the top of the chain down.
A kind with more than one possible parent (a task of a shot or of an asset)
is followed by the kind of the parent it has, so every URI reads one way:
``bifrost:///task/shot/demo/sq010/sh0100/anim`` and
``bifrost:///task/asset/demo/character/hero/rig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from ..errors import ResolveError
from .spec import EntityKind

SCHEME = "bifrost"
PREFIX = "bifrost:///"


#: An entity's chain: (kind, identifying (key, value) pairs) from the top kind down
Chain = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


@dataclass(frozen=True, slots=True)
class Entity:
    """An entity: its kind and the chain of (kind, identifying values) from the top."""

    kind: str
    chain: Chain

    @property
    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _, values in self.chain:
            out.update(values)
        return out

    @property
    def name(self) -> str:
        """The entity's own name: its last identifying value."""
        return str(self.chain[-1][1][-1][1])

    def parent(self) -> Entity | None:
        if len(self.chain) < 2:
            return None
        return Entity(self.chain[-2][0], self.chain[:-1])

    def ancestry(self) -> list[Entity]:
        """This entity and its parents, from the top down."""
        return [Entity(self.chain[i - 1][0], self.chain[:i]) for i in range(1, len(self.chain) + 1)]

    def uri(self, kinds: dict[str, EntityKind], query: dict[str, Any] | None = None) -> str:
        markers = _markers(self.chain, kinds)
        values = [_quote(v) for _, pairs in self.chain for _, v in pairs]
        uri = PREFIX + "/".join([self.kind, *markers, *values])
        if query:
            uri += "?" + urlencode({k: str(v) for k, v in query.items()})
        return uri

    def to_json(self, kinds: dict[str, EntityKind]) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri(kinds), "name": self.name, "fields": self.fields}


def _quote(value: Any) -> str:
    return quote(str(value), safe="")


def _markers(chain: Chain, kinds: dict[str, EntityKind]) -> list[str]:
    """The parent kinds of polymorphic steps, from the leaf up."""
    markers = []
    for index in range(len(chain) - 1, 0, -1):
        kind = kinds[chain[index][0]]
        if len(kind.parents) > 1:
            markers.append(chain[index - 1][0])
    return markers


def derive_entity(kinds: dict[str, EntityKind], kind: str, fields: dict[str, Any]) -> Entity | None:
    """The entity of ``kind`` that ``fields`` identify, or None if a key is missing."""
    chain = _chain(kinds, kind, fields, ())
    return Entity(kind, chain) if chain is not None else None


def _chain(kinds: dict[str, EntityKind], kind_name: str, fields: dict[str, Any], seen: tuple[str, ...]) -> Chain | None:
    kind = kinds.get(kind_name)
    if kind is None or kind_name in seen or any(fields.get(k) is None for k in kind.keys):
        return None
    own = (kind_name, tuple((k, fields[k]) for k in kind.keys))
    if not kind.parents:
        return (own,)
    for parent in kind.parents:
        above = _chain(kinds, parent, fields, (*seen, kind_name))
        if above is not None:
            return (*above, own)
    return None


def deepest_entity(kinds: dict[str, EntityKind], fields: dict[str, Any]) -> Entity | None:
    """The entity with the longest chain that ``fields`` identify (a version over its task)."""
    best: Entity | None = None
    for name in kinds:
        entity = derive_entity(kinds, name, fields)
        if entity is not None and (best is None or len(entity.chain) > len(best.chain)):
            best = entity
    return best


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference URI: the entity's identifying fields (as text) and the query."""

    kind: str
    fields: dict[str, str]
    query: dict[str, str]
    chain_kinds: tuple[str, ...]


def is_reference(text: str) -> bool:
    """Whether ``text`` is meant as a reference: it starts with the scheme, in any case (``BIFROST:``)."""
    return text[:len(SCHEME) + 1].lower() == SCHEME + ":"


def parse_reference(uri: str, kinds: dict[str, EntityKind]) -> Reference:
    """Split a ``bifrost:///`` URI into kind, identifying fields and query."""
    if uri[:len(PREFIX)].lower() != PREFIX:  # schemes are case-insensitive (RFC 3986)
        raise ResolveError(f"{uri!r} is not a reference; references look like bifrost:///shot/<project>/<sequence>/<shot>")
    body, _, query_text = uri[len(PREFIX):].partition("?")
    segments = [unquote(s) for s in body.split("/")] if body else []
    if not segments or segments[0] not in kinds:
        known = ", ".join(kinds)
        raise ResolveError(f"{uri!r}: unknown entity kind {segments[0] if segments else ''!r} (known kinds: {known})")
    kind_names = _chain_kinds(kinds, segments[0], segments[1:], uri)
    markers = sum(1 for i in range(len(kind_names) - 1, 0, -1) if len(kinds[kind_names[i]].parents) > 1)
    values = segments[1 + markers:]
    key_names = [key for name in kind_names for key in kinds[name].keys]
    if len(values) != len(key_names):
        raise ResolveError(
            f"{uri!r}: a {segments[0]} reference has {len(key_names)} values ({'/'.join(key_names)}), found {len(values)}"
        )
    return Reference(segments[0], dict(zip(key_names, values)), _query(uri, query_text), tuple(kind_names))


def _query(uri: str, text: str) -> dict[str, str]:
    """The query's fields; a field given twice is refused rather than one of its values silently kept."""
    pairs = parse_qsl(text, keep_blank_values=True)
    names = [name for name, _ in pairs]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        raise ResolveError(f"{uri!r} gives the query field {repeated!r} {names.count(repeated)} times; give it once")
    return dict(pairs)


def _chain_kinds(kinds: dict[str, EntityKind], leaf: str, rest: list[str], uri: str) -> list[str]:
    """Kinds from the top of the chain down to ``leaf``, reading parent markers from ``rest``."""
    chain = [leaf]
    position = 0
    current = kinds[leaf]
    while current.parents:
        if len(current.parents) == 1:
            parent = current.parents[0]
        else:
            marker = rest[position] if position < len(rest) else ""
            if marker not in current.parents:
                options = " or ".join(current.parents)
                raise ResolveError(f"{uri!r}: a {current.name} reference names its parent kind ({options}) after the kind")
            parent = marker
            position += 1
        if parent in chain:
            raise ResolveError(f"{uri!r}: entity kinds form a cycle at {parent!r}")
        chain.append(parent)
        current = kinds[parent]
    return list(reversed(chain))
