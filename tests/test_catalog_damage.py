"""A damaged catalog file, made by overwriting a page of a real catalog: every command says so in one line
with the way to recover (never a traceback), the daemon refuses to start, ``catalog check`` finds the
damage and ``catalog rebuild`` makes a new catalog, keeping the old file."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import installed

from bifrostd.catalog import Catalog
from bifrostd.errors import CatalogBusy, CatalogCorrupt, CatalogError

CORRUPT = CatalogCorrupt.exit_code


def run(*args: str, config: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([installed("bifrostctl"), "--config", str(config), *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> Path:
    """The demo studio, scanned once: a real catalog.db with a few hundred files."""
    target = tmp_path_factory.mktemp("scanned") / "studio"
    subprocess.run([installed("bifrostctl"), "init", "--demo", str(target)], check=True, capture_output=True)
    subprocess.run([installed("bifrostctl"), "--config", str(target), "scan"], check=True, capture_output=True)
    return target


@pytest.fixture
def studio(scanned, tmp_path) -> Path:
    """A copy of the scanned demo studio for one test (its config's paths are relative)."""
    return Path(shutil.copytree(scanned, tmp_path / "studio", symlinks=True))


def catalog_of(studio: Path) -> Path:
    return studio / ".bifrost" / "catalog.db"


def damage(db: Path) -> int:
    """Overwrite a leaf page of the ``files`` table, from the middle of its pages, with garbage; its number."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        pages = [n for (n,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'files' AND pagetype = 'leaf' ORDER BY pageno")]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to find the pages of the files table")
    finally:
        conn.close()
    assert len(pages) > 2 and pages[len(pages) // 2] < db.stat().st_size // size  # really in the middle
    page = pages[len(pages) // 2]
    with open(db, "r+b") as file:
        file.seek((page - 1) * size)
        file.write(bytes(range(256)) * (size // 256))
    return page


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(done: subprocess.CompletedProcess, code: int = CORRUPT) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["drift"], ["scan"], ["scan", "--full"],
                                     ["forget", "--all"]])
def test_commands_on_a_damaged_catalog_say_how_to_recover(studio, command):
    db = catalog_of(studio)
    damage(db)
    before = digest(db)
    done = run(*command, config=studio)
    line = assert_one_line_error(done)
    assert str(db) in line and "is damaged" in line and "bifrostctl catalog rebuild" in line
    assert "activity log" in line and "mirror" in line  # what a rebuild can't bring back, said up front
    assert done.stdout == ""
    assert digest(db) == before  # nothing was written into the damaged file


def test_a_file_that_is_not_a_database_is_damage_too(studio):
    db = catalog_of(studio)
    db.write_bytes(b"this is not SQLite" * 1000)
    line = assert_one_line_error(run("status", config=studio))
    assert "file is not a database" in line and "catalog rebuild" in line
    assert_one_line_error(run("scan", config=studio))


def test_drift_on_a_damaged_catalog_is_not_taken_for_drift_found(studio):
    damage(catalog_of(studio))
    assert run("drift", config=studio).returncode not in (0, 1)


def test_the_daemon_refuses_to_start_on_a_damaged_catalog(studio, bifrostd_bin):
    damage(catalog_of(studio))
    done = subprocess.run([bifrostd_bin, "--config", str(studio)], capture_output=True, text=True, timeout=120)
    assert done.returncode == CORRUPT, done.stderr
    assert "Traceback" not in done.stderr and "ready" not in done.stderr
    assert "is damaged" in done.stderr and "bifrostctl catalog rebuild" in done.stderr


def test_check_finds_the_damage_and_reads_only(studio):
    db = catalog_of(studio)
    healthy = run("catalog", "check", config=studio)
    assert healthy.returncode == 0, healthy.stderr
    assert "ok" in healthy.stdout
    damage(db)
    before = digest(db)
    found = run("catalog", "check", config=studio)
    assert found.returncode == 1, found.stderr
    assert "Traceback" not in found.stderr and "catalog rebuild" in found.stdout
    document = json.loads(run("catalog", "check", "--json", config=studio).stdout)
    assert document["schema"] == "bifrost.catalog-check.1"
    assert document["ok"] is False and document["problems"] and document["catalog"] == str(db)
    quick = json.loads(run("catalog", "check", "--quick", "--json", config=studio).stdout)
    assert quick["ok"] is False and quick["quick"] is True
    assert digest(db) == before


def test_check_of_a_file_that_is_not_a_database(studio):
    catalog_of(studio).write_bytes(b"\0" * 100 + b"garbage" * 1000)
    document = json.loads(run("catalog", "check", "--json", config=studio).stdout)
    assert document["ok"] is False and "not a database" in document["problems"][0]


def test_rebuild_recovers_and_keeps_the_damaged_file(studio):
    db = catalog_of(studio)
    files = json.loads(run("status", "--json", config=studio).stdout)["files"]
    damage(db)
    damaged = digest(db)
    planned = run("catalog", "rebuild", "--dry-run", config=studio)
    assert planned.returncode == 0, planned.stderr
    assert "catalog-damaged-" in planned.stdout and digest(db) == damaged  # a dry run moves nothing
    assert not list(db.parent.glob("catalog-damaged-*"))
    done = run("catalog", "rebuild", "--json", config=studio)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["schema"] == "bifrost.catalog-rebuild.1"
    kept = Path(report["moved"][0]["to"])
    assert kept.parent == db.parent and kept.name.startswith("catalog-damaged-") and kept.suffix == ".db"
    assert digest(kept) == damaged
    assert run("catalog", "check", config=studio).returncode == 0
    assert json.loads(run("status", "--json", config=studio).stdout)["files"] == files
    assert run("drift", config=studio).returncode == 1  # the demo's junk: drift as before, not an error


def test_rebuild_of_a_sound_catalog_needs_force(studio):
    db = catalog_of(studio)
    sound = digest(db)
    refused = run("catalog", "rebuild", config=studio)
    line = assert_one_line_error(refused, code=2)
    assert "--force" in line and digest(db) == sound
    assert run("catalog", "rebuild", "--force", config=studio).returncode == 0
    assert len(list(db.parent.glob("catalog-damaged-*.db"))) == 1


def test_rebuild_refuses_while_a_daemon_holds_the_state_folder(studio):
    damage(catalog_of(studio))
    code = ("import sys, time; from bifrostd.catalog.state_lock import StateLock; StateLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(studio / ".bifrost")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = assert_one_line_error(run("catalog", "rebuild", config=studio), code=CatalogBusy.exit_code)
        assert f"pid {holder.pid}" in line and "daemon stop" in line
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert not list(catalog_of(studio).parent.glob("catalog-damaged-*"))


def test_damage_met_inside_a_with_block_is_translated(studio):
    db = catalog_of(studio)
    damage(db)
    with pytest.raises(CatalogCorrupt) as caught:
        with Catalog.open(db) as catalog:
            catalog._conn.execute("SELECT count(*), sum(size) FROM files").fetchall()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert caught.value.exit_code == CORRUPT and str(db) in str(caught.value)


def test_a_writer_checks_the_catalog_before_writing(studio):
    db = catalog_of(studio)
    damage(db)
    with pytest.raises(CatalogCorrupt, match="is damaged"):
        Catalog.open(db, write=True)
    Catalog.open(db).close()  # a reader does not pay for the check; it meets the damage where it reads


@pytest.mark.parametrize(("message", "code", "expected"), [
    ("database disk image is malformed", 11, CatalogCorrupt),
    ("file is not a database", 26, CatalogCorrupt),
    ("database or disk is full", 13, CatalogError),
    ("no such table: nope", 1, None),
])
def test_which_sqlite_errors_are_translated(message, code, expected):
    from bifrostd.catalog.integrity import translated

    error = sqlite3.DatabaseError(message)
    error.sqlite_errorcode = code
    found = translated(error, Path("/state/catalog.db"))
    assert (found is None) if expected is None else type(found) is expected


def test_the_daemon_stops_on_damage_it_meets_while_running(studio):
    from bifrostd.daemon.loop import Daemon
    from bifrostd.errors import ScanError

    daemon = Daemon(studio / "bifrost.yaml", environ={})
    try:
        def meets(error: BaseException):
            def work() -> None:
                raise error
            return work

        daemon.guarded(meets(ScanError("a per-run problem")))  # logged and counted; the loop goes on
        assert daemon.counts["errors"] == 1
        for error in (CatalogCorrupt(path=catalog_of(studio), why="database disk image is malformed"),
                      sqlite3.DatabaseError("database disk image is malformed")):  # met outside Catalog's methods
            with pytest.raises(CatalogCorrupt, match="catalog rebuild"):
                daemon.guarded(meets(error))
    finally:
        daemon.close()


# -- the record a clean close leaves, which spares the next writer the check ------------------------
def sound_record(db: Path) -> Path:
    return db.with_name(db.name + ".sound")


@pytest.fixture
def checks(monkeypatch) -> list[Path]:
    """The catalogs a writer ran its quick check on, in this process."""
    from bifrostd.catalog import connection

    seen: list[Path] = []
    real = connection.require_sound

    def spy(conn, path):
        seen.append(path)
        real(conn, path)

    monkeypatch.setattr(connection, "require_sound", spy)
    return seen


def test_a_clean_close_spares_the_next_writer_the_check_and_the_record_is_taken_before_writing(studio, checks):
    db = catalog_of(studio)
    Catalog.open(db, write=True).close()  # the copy of the scanned studio is a new file: checked
    assert checks == [db] and sound_record(db).exists()
    assert sound_record(db).stat().st_mode & 0o037 == 0  # like the catalog: its group may read it, no one else
    with Catalog.open(db, write=True) as catalog:
        assert checks == [db]  # as it was left: not read again
        assert not sound_record(db).exists()  # a crash from here on leaves none
        catalog.begin_scan(root="projects", full=False, fingerprint="f")
    assert sound_record(db).exists()
    Catalog.open(db).close()  # a reader neither checks nor takes the record
    assert sound_record(db).exists()


def test_a_writer_killed_leaves_no_record_and_the_next_writer_checks(studio, checks):
    db = catalog_of(studio)
    Catalog.open(db, write=True).close()
    code = ("import os, sys; from pathlib import Path; from bifrostd.catalog import Catalog; "
            "c = Catalog.open(Path(sys.argv[1]), write=True); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=60)
    assert not sound_record(db).exists()
    Catalog.open(db, write=True).close()
    assert checks == [db, db]


def test_damage_after_a_clean_scan_is_still_found_before_writing(studio):
    db = catalog_of(studio)
    assert run("scan", config=studio).returncode == 0  # leaves the record for this very file
    assert sound_record(db).exists()
    damage(db)  # in place: the file's times change with the write
    before = digest(db)
    line = assert_one_line_error(run("scan", config=studio))
    assert "is damaged" in line and digest(db) == before


def test_a_record_that_does_not_match_the_file_is_not_believed(studio, checks):
    db = catalog_of(studio)
    Catalog.open(db, write=True).close()
    sound_record(db).write_text("[1, 2, 3, 4, 5]")
    Catalog.open(db, write=True).close()
    sound_record(db).write_text("not json")
    Catalog.open(db, write=True).close()
    assert checks == [db, db, db]


def test_a_writer_that_met_damage_leaves_no_record(studio):
    db = catalog_of(studio)
    with pytest.raises(CatalogCorrupt):
        with Catalog.open(db, write=True) as catalog:
            damage(db)  # under the open writer, as a failing disk would
            catalog._conn.execute("PRAGMA cache_size=0").fetchall()
            list(catalog.present_records())
    assert not sound_record(db).exists()
