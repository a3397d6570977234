"""The mirror planner and its bookkeeping on a real catalog file; cron and interval schedules."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bifrostd.catalog import Catalog
from bifrostd.catalog.mirror_state import IncludeFilter, MirrorDiff, MirrorState, RecordedObject, WantedFile
from bifrostd.mirror import parse_target
from bifrostd.mirror.plan import COPY_MIN_BYTES, DAY_NS, plan_mirror_run
from bifrostd.mirror.runner import execute, plan_target
from bifrostd.mirror.schedule import next_run, parse_cron
from bifrostd.mirror.targets import TargetSchedule

NOW = 1_800_000_000 * 10**9


def target(**settings):
    return parse_target("t", {"url": "s3://bucket/prefix", **settings})


def wanted(path, digest="h1", *, size=10, root="projects", recorded_hash=None, recorded=False, gone=None,
           utf8=True) -> WantedFile:
    return WantedFile(root, path, utf8, size, 1, 2, digest, NOW, recorded, recorded_hash, gone)


def locate(root, path):
    return Path("/studio") / root / path


def make_plan(changed=(), unwanted=(), sources=None, **settings):
    return plan_mirror_run(target(**settings), MirrorDiff(tuple(changed), tuple(unwanted)), sources or {}, locate=locate,
                now_ns=NOW)


def test_new_content_is_uploaded_without_a_head():
    p = make_plan([wanted("a.exr")])
    assert [(u.key, u.check_existing) for u in p.uploads] == [("projects/a.exr", False)]
    assert p.uploads[0].local_path == Path("/studio/projects/a.exr")
    assert not p.copies and not p.deletes


def test_unknown_content_gets_a_head_before_upload():
    p = make_plan([wanted("a.exr", recorded=True, recorded_hash=None)])
    assert p.uploads[0].check_existing


def test_moved_content_is_copied_and_the_old_key_follows_the_policy():
    old = RecordedObject("projects", "old.exr", "h1", 10)
    p = make_plan([wanted("new.exr")], [old], {"h1": [old]}, delete="mirror")
    assert [(c.src_key, c.key) for c in p.copies] == [("projects/old.exr", "projects/new.exr")]
    assert [d.key for d in p.deletes] == ["projects/old.exr"] and not p.uploads
    kept = make_plan([wanted("new.exr")], [old], {"h1": [old]})
    assert kept.marks == (("projects", "old.exr"),) and not kept.deletes


def test_identical_content_is_sent_once():
    big = COPY_MIN_BYTES
    p = make_plan([wanted("a.exr", size=big), wanted("b.exr", size=big), wanted("c.exr", "h2", size=big)])
    assert [u.key for u in p.uploads] == ["projects/a.exr", "projects/c.exr"]
    assert [(c.src_key, c.key, c.after_upload) for c in p.copies] == [("projects/a.exr", "projects/b.exr", True)]


def test_identical_small_content_is_uploaded_under_each_key_instead_of_copied():
    small = COPY_MIN_BYTES - 1  # a PUT of it answers sooner than a copy, for the same one request
    p = make_plan([wanted(f"f{n}.exr", size=small) for n in range(3)])
    assert [u.key for u in p.uploads] == ["projects/f0.exr", "projects/f1.exr", "projects/f2.exr"]
    assert not p.copies


def test_a_small_moved_file_is_still_copied_from_its_old_key():
    old = RecordedObject("projects", "old.exr", "h1", 10, etag="0" * 32)
    p = make_plan([wanted("new.exr")], [old], {"h1": [old]}, delete="mirror")
    assert [(c.src_key, c.src_etag) for c in p.copies] == [("projects/old.exr", "0" * 32)] and not p.uploads


def test_a_key_being_rewritten_is_not_a_copy_source():
    # a.exr changes from h1 to h2 while b.exr takes h1: a's old object is going away
    src = RecordedObject("projects", "a.exr", "h1", 10)
    p = make_plan([wanted("a.exr", "h2", recorded=True, recorded_hash="h1"), wanted("b.exr", "h1")],
                  sources={"h1": [src]})
    assert sorted(u.key for u in p.uploads) == ["projects/a.exr", "projects/b.exr"] and not p.copies


def test_revive_when_the_key_already_holds_the_content():
    p = make_plan([wanted("a.exr", recorded=True, recorded_hash="h1", gone=NOW - 5)])
    assert p.revives == (("projects", "a.exr"),) and not p.touches_bucket


def test_retain_marks_then_deletes_after_the_days():
    fresh = RecordedObject("projects", "x.exr", "h1", 10)
    p = make_plan(unwanted=[fresh], delete="retain", retain_days=7)
    assert p.marks == (("projects", "x.exr"),) and not p.deletes
    young = RecordedObject("projects", "y.exr", "h1", 10, gone_ns=NOW - 6 * DAY_NS)
    old = RecordedObject("projects", "z.exr", "h1", 10, gone_ns=NOW - 7 * DAY_NS)
    p = make_plan(unwanted=[young, old], delete="retain", retain_days=7)
    assert [d.key for d in p.deletes] == ["projects/z.exr"] and not p.marks


def gone_objects(count: int) -> list[RecordedObject]:
    return [RecordedObject("projects", f"shot/f{i:04d}.exr", "h1", 10) for i in range(count)]


@pytest.mark.parametrize(("max_delete", "objects", "deletions", "held"), [
    (None, 1000, 100, False),   # the default, 10 %, never holds back 100 or fewer
    (None, 1000, 101, True),
    (None, 5000, 500, False),
    (None, 5000, 501, True),
    ("50%", 1000, 500, False),
    ("50%", 1000, 501, True),
    (3, 1000, 3, False),        # a count is exact, however small
    (3, 1000, 4, True),
    (0, 1000, 1, True),
    ("unlimited", 1000, 1000, False),
])
def test_a_run_deleting_more_than_max_delete_holds_back_every_deletion(max_delete, objects, deletions, held):
    settings = {"delete": "mirror", **({} if max_delete is None else {"max_delete": max_delete})}
    p = plan_mirror_run(target(**settings), MirrorDiff((wanted("new.exr"),), tuple(gone_objects(deletions))), {},
             locate=locate, now_ns=NOW, objects=objects)
    assert len(p.uploads) == 1  # the rest of the run goes ahead
    assert (len(p.held), len(p.deletes)) == ((deletions, 0) if held else (0, deletions))
    assert (p.held_reason is not None) is held
    if held:
        assert f"{deletions:,} deletions held back" in p.held_reason and "--allow-deletions" in p.held_reason
        assert p.counts()["held"] == deletions and not p.empty
        allowed = plan_mirror_run(target(**settings), MirrorDiff((), tuple(gone_objects(deletions))), {}, locate=locate,
                       now_ns=NOW, objects=objects, allow_deletions=True)
        assert len(allowed.deletes) == deletions and not allowed.held and allowed.held_reason is None


def test_the_old_keys_of_moved_files_are_neither_counted_nor_held():
    olds = [RecordedObject("projects", f"old/f{i:04d}.exr", f"h{i}", 10) for i in range(500)]
    moved = [wanted(f"new/f{i:04d}.exr", f"h{i}") for i in range(500)]
    gone = gone_objects(3)
    p = plan_mirror_run(target(delete="mirror", max_delete=5), MirrorDiff(tuple(moved), tuple(olds + gone)),
             {o.hash: [o] for o in olds}, locate=locate, now_ns=NOW, objects=1000)
    assert len(p.copies) == 500 and len(p.deletes) == 503 and not p.held  # a folder renamed: nothing is lost
    p = plan_mirror_run(target(delete="mirror", max_delete=2), MirrorDiff(tuple(moved), tuple(olds + gone)),
             {o.hash: [o] for o in olds}, locate=locate, now_ns=NOW, objects=1000)
    assert {d.key for d in p.held} == {d.key for d in gone} and len(p.deletes) == 500
    assert p.held_reason.startswith("3 deletions held back")


def test_deleting_content_that_another_mirrored_key_still_holds_never_counts():
    olds = [RecordedObject("projects", f"old/f{i:04d}.exr", "same", 10) for i in range(300)]  # identical frames
    gone = gone_objects(3)
    settings = {"delete": "mirror", "max_delete": 2}
    first = plan_mirror_run(target(**settings), MirrorDiff((), tuple(olds + gone)), {}, locate=locate, now_ns=NOW, objects=1000)
    assert len(first.held) == 303  # nothing else holds their content yet: all or nothing
    later = plan_mirror_run(target(**settings), MirrorDiff((), tuple(olds + gone)), {}, locate=locate, now_ns=NOW, objects=1000,
                 held_elsewhere={"same"})  # once the renamed keys are mirrored, the old ones lose nothing
    assert {d.key for d in later.held} == {d.key for d in gone} and len(later.deletes) == 300


def test_retained_deletions_falling_due_together_are_held_back_too():
    old = [RecordedObject("projects", f"f{i}.exr", "h1", 10, gone_ns=NOW - 8 * DAY_NS) for i in range(5)]
    p = make_plan(unwanted=old, delete="retain", retain_days=7, max_delete=4)
    assert len(p.held) == 5 and not p.deletes and not p.marks


@pytest.mark.parametrize(("path", "utf8", "reason"), [
    ("bad\\xff.exr", False, "not valid UTF-8"),
    ("tab\there.exr", True, "control character"),
    ("back\\slash.exr", True, "POSIX"),
    ("x" * 1100, True, "1024 bytes"),
])
def test_names_that_cannot_be_keys_are_refused(path, utf8, reason):
    p = make_plan([wanted(path, utf8=utf8)])
    assert not p.uploads and len(p.refused) == 1 and reason in p.refused[0].reason


# -- on a real catalog ------------------------------------------------------------------------


def fill(conn, count: int, *, root="projects", template="render", start=0) -> None:
    rows = [(root, f"seq/sh{i // 1000:03d}/f{i:06d}.exr", f"seq/sh{i // 1000:03d}", 100 + i % 7, 1, i, 1, 0,
             f"{i:032x}", template, "fp", NOW, NOW) for i in range(start, start + count)]
    conn.execute("BEGIN")
    conn.executemany("INSERT OR IGNORE INTO folders (root, path) VALUES (?, ?)", {(r[0], r[2]) for r in rows})
    conn.executemany("INSERT INTO files (root, path, folder_id, size, mtime_ns, inode, device, uid, hash, template, "
                     "fingerprint, first_seen_ns, last_seen_ns) VALUES (?1, ?2, (SELECT id FROM folders WHERE "
                     "root = ?1 AND path = ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", rows)
    conn.execute("COMMIT")


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path / "catalog.db", write=True) as opened:
        yield opened


def test_a_run_with_nothing_to_do_reads_no_file_rows_and_opens_no_bucket(catalog):
    """What makes a no-op run cheap (its time is measured by ``bench/mirror.py``, not here).

    The diff is filtered inside SQLite: up-to-date files never become Python
    rows, ``mirror_objects`` is looked up by its primary key (no scan per file),
    and an empty plan opens no filesystem at all.
    """
    fill(catalog._conn, 100_000)
    state = MirrorState.of(catalog)
    t = target()
    first = plan_target(state, t, locate, now_ns=NOW)
    assert len(first.uploads) == 100_000
    state.record("t", [(u.root, u.path, u.hash, u.size, u.mtime_ns, None) for u in first.uploads], None)
    rows_read = []
    catalog._conn.row_factory = lambda cursor, row: rows_read.append(row) or row
    try:
        again = plan_target(state, t, locate, now_ns=NOW)
    finally:
        catalog._conn.row_factory = None
    assert again.empty and rows_read == []
    details = state.diff_query_plan("t", IncludeFilter())
    assert any(d.startswith("SEARCH m USING PRIMARY KEY (target=? AND root=? AND path=?)") for d in details)
    assert not any(d.startswith("SCAN m") for d in details)
    report = execute(state, t, again, transfer=_Untouchable())  # would raise on any bucket request
    assert report.status == "nothing"


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"a no-op run touched the bucket ({name})")


def test_include_filters_roots_templates_and_entity_kinds(catalog):
    fill(catalog._conn, 10, template="render")
    fill(catalog._conn, 5, template="work", start=10)
    fill(catalog._conn, 3, root="library", start=20)
    state = MirrorState.of(catalog)
    assert len(plan_target(state, target(include={"templates": "work"}), locate, now_ns=NOW).uploads) == 5
    assert len(plan_target(state, target(include={"roots": ["library"]}), locate, now_ns=NOW).uploads) == 3
    conn = catalog._conn
    conn.execute("INSERT INTO entities (id, kind, uri, name, keys, created_ns, updated_ns) "
                 "VALUES (1, 'shot', 's', 's', '{}', 0, 0), (2, 'version', 'v', 'v', '{}', 0, 0)")
    conn.execute("UPDATE entities SET parent_id = 1 WHERE id = 2")
    conn.execute("UPDATE files SET entity_id = 2 WHERE path LIKE '%f00000_.exr'")
    assert len(plan_target(state, target(include={"kinds": "shot"}), locate, now_ns=NOW).uploads) == 10


def test_in_flight_keys_stay_unknown_until_recorded(catalog):
    fill(catalog._conn, 3)
    state = MirrorState.of(catalog)
    p = plan_target(state, target(), locate, now_ns=NOW)
    state.mark_in_flight("t", [(u.root, u.path, u.size) for u in p.uploads], None)
    again = plan_target(state, target(), locate, now_ns=NOW)
    assert all(u.check_existing for u in again.uploads) and len(again.uploads) == 3
    assert state.sources("t", [u.hash for u in p.uploads]) == {}  # unknown rows never serve as sources


# -- schedules -------------------------------------------------------------------------------


def local(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(("cron", "after", "expected"), [
    ("*/15 * * * *", "2026-03-01 10:07:30", "2026-03-01 10:15:00"),
    ("0 2 * * *", "2026-03-01 02:00:00", "2026-03-02 02:00:00"),
    ("30 1 * * mon-fri", "2026-03-06 23:00:00", "2026-03-09 01:30:00"),  # Friday night -> Monday
    ("0 0 1 * *", "2026-01-31 12:00:00", "2026-02-01 00:00:00"),
    ("0 0 29 feb *", "2026-01-01 00:00:00", "2028-02-29 00:00:00"),
    ("0 12 13 * fri", "2026-03-01 00:00:00", "2026-03-06 12:00:00"),  # day 13 OR a Friday
    ("@weekly", "2026-03-04 09:00:00", "2026-03-08 00:00:00"),
    ("5,35 9-10 * * 7", "2026-03-08 10:35:00", "2026-03-15 09:05:00"),
    ("0 */6 * jan,jul *", "2026-03-01 00:00:00", "2026-07-01 00:00:00"),
])
def test_cron_next_times(cron, after, expected):
    assert parse_cron(cron).next_after(datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize("bad", ["60 * * * *", "* * * *", "0 0 30 feb-feb *", "0 0 * * 8", "1-x * * * *"])
def test_bad_or_impossible_cron_expressions(bad):
    with pytest.raises(ValueError):
        parse_cron(bad).next_after(datetime(2026, 1, 1))


def test_next_run_for_intervals_and_cron():
    assert next_run(TargetSchedule(interval=300), None, 1000.0) == 1000.0  # never ran: due at once
    assert next_run(TargetSchedule(interval=300), 1000.0, 1100.0) == 1300.0
    assert next_run(TargetSchedule(cron="0 * * * *"), local("2026-03-01 10:20:00"), 0) == local("2026-03-01 11:00:00")
