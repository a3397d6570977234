"""Foreign keys during a bulk load: off while it runs, checked before it commits, on again after."""

from __future__ import annotations

import sqlite3

import pytest

from bifrostd.catalog.connection import foreign_keys_checked_at_end, transaction
from bifrostd.errors import CatalogError


@pytest.fixture
def conn(tmp_path):
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                       "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));"
                       "INSERT INTO parent VALUES (1);")
    yield conn
    conn.close()


def test_a_dangling_id_rolls_the_load_back_and_keys_are_on_again(conn):
    with pytest.raises(CatalogError, match="missing parents"):
        with foreign_keys_checked_at_end(conn) as check, transaction(conn):
            conn.execute("INSERT INTO child VALUES (1, 1)")
            conn.execute("INSERT INTO child VALUES (2, 99)")  # accepted while keys are off
            check()
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO child VALUES (3, 99)")


def test_a_sound_load_commits(conn):
    with foreign_keys_checked_at_end(conn) as check, transaction(conn):
        conn.execute("INSERT INTO child VALUES (1, 1)")
        check()
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_rows_dangling_before_the_load_do_not_stop_it(conn):
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("INSERT INTO child VALUES (1, 42)")  # an old catalog's fault, not this load's
    conn.execute("PRAGMA foreign_keys=ON")
    with foreign_keys_checked_at_end(conn) as check, transaction(conn):
        conn.execute("INSERT INTO child VALUES (2, 1)")
        check()
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 2
