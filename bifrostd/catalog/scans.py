"""Scan records: when each scan ran, over which root, what it changed and what it found.

A scan row is written ``running`` before the walk and finished after the
plan is applied. A writer that opens the catalog and finds ``running`` rows
knows they were interrupted (it holds the writer lock, so nobody else can be
running them) and marks them so.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Sequence

from ..model import Finding
from .connection import inserted_id, transaction
from .paths import to_columns


@dataclass(frozen=True, slots=True)
class ScanRecord:
    id: int
    root: str | None
    started_ns: int
    finished_ns: int | None
    status: str
    full: bool
    fingerprint: str
    counts: dict[str, Any]
    findings: int
    duration_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "root": self.root, "started_ns": self.started_ns, "finished_ns": self.finished_ns,
                "status": self.status, "full": self.full, "fingerprint": self.fingerprint, "counts": self.counts,
                "findings": self.findings, "duration_s": self.duration_s}


def begin_scan(conn: sqlite3.Connection, *, root: str | None, full: bool, fingerprint: str, source: str,
               now_ns: int) -> int:
    with transaction(conn):
        cursor = conn.execute("INSERT INTO scans (root, started_ns, full, source, fingerprint) VALUES (?,?,?,?,?)",
                              (root, now_ns, int(full), source, fingerprint))
    return inserted_id(cursor)


def finish_scan(conn: sqlite3.Connection, scan_id: int, *, counts: dict[str, int], findings: Sequence[Finding],
                duration_s: float, now_ns: int) -> None:
    rows = [(scan_id, f.kind.value, f.root, *to_columns(f.relative), f.message) for f in findings]
    with transaction(conn):
        conn.executemany("INSERT INTO findings (scan_id, kind, root, path, raw, message) VALUES (?,?,?,?,?,?)", rows)
        conn.execute("UPDATE scans SET status='done', finished_ns=?, counts=?, findings=?, duration_s=? WHERE id=?",
                     (now_ns, json.dumps(counts), len(rows), duration_s, scan_id))


def mark_interrupted(conn: sqlite3.Connection) -> int:
    """Mark scans left ``running`` by a killed writer; returns how many."""
    with transaction(conn):
        return conn.execute("UPDATE scans SET status='interrupted' WHERE status='running'").rowcount


SCAN_COLUMNS = "id, root, started_ns, finished_ns, status, full, fingerprint, counts, findings, duration_s"


def _scan(row: Sequence) -> ScanRecord:
    return ScanRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], json.loads(row[7]), row[8], row[9])


def last_scan(conn: sqlite3.Connection, *, finished: bool = True) -> ScanRecord | None:
    where = "WHERE status = 'done'" if finished else ""
    row = conn.execute(f"SELECT {SCAN_COLUMNS} FROM scans {where} ORDER BY id DESC LIMIT 1").fetchone()
    return _scan(row) if row else None


def scan_findings(conn: sqlite3.Connection, scan_id: int, *, limit: int = 1000) -> list[dict[str, str]]:
    from .paths import from_columns

    rows = conn.execute("SELECT kind, root, path, raw, message FROM findings WHERE scan_id = ? ORDER BY id LIMIT ?",
                        (scan_id, limit))
    return [{"kind": k, "root": r, "path": from_columns(p, raw), "message": m} for k, r, p, raw, m in rows]
