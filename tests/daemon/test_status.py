"""The status document and systemd's status line are rendered from a DaemonSnapshot alone, no daemon needed."""

from __future__ import annotations

import re
from pathlib import Path

from bifrostd.daemon.status import SCHEMA, DaemonSnapshot, describe, status_document, status_line

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "control-protocol.md"

ROOT = {"name": "projects", "path": "/mnt/projects", "fstype": "ext4", "mode": "watch", "reason": "local",
        "inotify": True, "watches": 120, "folders": 120, "overflows": 2, "events": 40, "last_event": 1_700_000_100.0,
        "errors": []}
FAILING = {"what": "batch of 3 paths of projects", "error": "disk full", "attempts": 4, "failing_for_s": 12.0,
           "retry_in_s": 8.0}


def snapshot(**changes) -> DaemonSnapshot:
    values = dict(phase="watching", started=1_700_000_000.0, uptime_s=125.4567, config="/etc/bifrost/bifrost.yaml",
                  state_dir="/var/lib/bifrost", settle_s=2.0, modes=(("projects", "watch"), ("renders", "poll")),
                  pending=3, events=40, templates_valid=True, roots=[ROOT, {**ROOT, "name": "renders", "overflows": 1,
                                                                               "last_event": None}],
                  last_rescan={"projects": {"at": 1_700_000_050.0, "full": False, "reason": "overflow"}},
                  counts={"batches": 5, "actions": 9, "rescans": 1, "full_reconciles": 1, "errors": 0,
                          "young_requeued": 0},
                  passes={"sweep": None, "scrub": None})
    return DaemonSnapshot(**{**values, **changes})


def documented_fields() -> set[str]:
    table = PROTOCOL.read_text().split("## The status document", 1)[1].split("\n\n", 2)[1]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)(?:\[\])?`", row.split("|")[1])}


def test_the_document_has_every_documented_field_and_nothing_else():
    document = status_document(snapshot())
    assert document["schema"] == SCHEMA and set(document) == documented_fields()


def test_the_document_sums_and_joins_what_the_roots_say():
    document = status_document(snapshot())
    assert document["overflows"] == 3 and document["last_event"] == 1_700_000_100.0
    assert document["roots"][0]["last_rescan"]["reason"] == "overflow" and document["roots"][1]["last_rescan"] is None
    assert document["uptime_s"] == 125.457 and document["queue"] == {"pending": 3, "events": 40, "rescans_waiting": {}}
    assert "root projects   watch 120 watches, 2 overflows (local)" in describe(document)


def test_the_status_line_says_what_is_wrong():
    assert status_line(snapshot()) == "watching: projects:watch, renders:poll; 3 pending"
    troubled = snapshot(templates_valid=False, unreconciled=("renders",), failing=[FAILING])
    assert status_line(troubled) == ("watching: projects:watch, renders:poll; 3 pending; TEMPLATES INVALID; "
                                     "not yet reconciled: renders; 1 failing")
    assert "FAILING    batch of 3 paths of projects: disk full" in describe(status_document(troubled))
