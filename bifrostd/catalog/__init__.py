"""The catalog: the only code that speaks SQL.

SQLite on local disk (WAL, ``synchronous=NORMAL``), written by one process,
read by any without blocking it. Modules, by concept:

- ``location``: refuse network filesystems (the mount table, from ``observe.mounts``, injected for tests)
- ``connection``: pragmas, the writer lock, transactions
- ``migrations``: the schema as named, recorded migrations
- ``paths``: lossless storage of non-UTF-8 names
- ``files``: the planner's view of records, and applying plans in batches
- ``entities``: entity and frame-sequence rows
- ``events``: the append-only activity log
- ``scans``: scan records and their findings
- ``queries``: read models for status, drift, ls, versions, resolve
- ``store``: :class:`Catalog`, the object the rest of Bifrost holds
"""

from __future__ import annotations

from .location import check_local
from .store import Catalog

__all__ = ["Catalog", "check_local"]
