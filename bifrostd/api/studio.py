"""The studio, as pipeline code asks it: the core and each capability, in one class."""

from __future__ import annotations

from .finding import Finding
from .layers import Layers
from .making import Making

__all__ = ["Studio"]


class Studio(Making, Finding, Layers):
    """One studio: its config, compiled template set and catalog. Make one with :meth:`open`.

    The template set is read once, when the studio is opened: open a new
    Studio to see edited templates. The catalog is opened read-only on the
    first question that needs it and kept open until :meth:`close` (or the
    end of a ``with`` block); each question sees the catalog as the daemon
    last committed it. A Studio may be shared by threads, and survives a fork
    (the child opens its own connection).

    Its parts live by capability: ``bifrostd.api.base`` (opening, the
    template set alone, reading the catalog), ``making`` (create, import an
    edit, publish, deprecate, tag, link), ``finding`` (search, latest versions,
    links) and ``layers`` (USD).
    """
