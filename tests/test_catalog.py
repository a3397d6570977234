"""The catalog store: migrations, location check, writer lock, lossless names, the append-only log."""

from __future__ import annotations

import os
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.catalog import Catalog, check_local
from bifrostd.observe.mounts import Mount, parse_mountinfo
from bifrostd.catalog.migrations import CATALOG
from bifrostd.catalog.paths import from_columns, to_columns
from bifrostd.errors import CatalogBusy, CatalogError, CatalogLocationError


def test_migrations_are_named_recorded_and_applied_once(tmp_path):
    path = tmp_path / "state" / "catalog.db"
    with Catalog.open(path, write=True) as catalog:
        names = catalog.migrations()
    assert names == [m.name for m in CATALOG._migrations]
    with Catalog.open(path, write=True) as catalog:
        assert catalog.migrations() == names
        rows = catalog._conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = 'bifrost.catalog'")
        assert [r[0] for r in rows] == names
        assert catalog._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_a_catalog_that_does_not_exist_says_to_scan(tmp_path):
    with pytest.raises(CatalogError, match="bifrostctl scan"):
        Catalog.open(tmp_path / "catalog.db")


def test_a_second_writer_is_refused_but_readers_are_not(tmp_path):
    path = tmp_path / "catalog.db"
    with Catalog.open(path, write=True):
        with pytest.raises(CatalogBusy):
            Catalog.open(path, write=True)
        with Catalog.open(path) as reader:
            assert reader.integrity() == "ok"
    Catalog.open(path, write=True).close()


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /mnt/studio\\040share rw,relatime - nfs4 filer:/vol rw,vers=4.2
41 27 0:51 / /mnt/sshfs rw - fuse.sshfs me@host:/ rw
"""


def test_mountinfo_is_parsed_with_escaped_spaces():
    mounts = parse_mountinfo(MOUNTINFO)
    assert Mount("/mnt/studio share", "nfs4") in mounts
    assert Mount("/", "ext4") in mounts


@pytest.mark.parametrize("fstype", ["nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p", "ceph", "glusterfs", "lustre"])
def test_the_catalog_refuses_network_filesystems(tmp_path, fstype):
    mounts = [Mount("/", "ext4"), Mount(str(tmp_path), fstype)]
    with pytest.raises(CatalogLocationError, match=fstype) as caught:
        Catalog.open(tmp_path / "state" / "catalog.db", write=True, mounts=lambda: mounts)
    assert caught.value.exit_code == 8
    assert not (tmp_path / "state" / "catalog.db").exists()


def test_local_filesystems_pass_and_the_longest_mount_wins(tmp_path):
    check_local(tmp_path / "catalog.db", mounts=lambda: [Mount("/", "nfs"), Mount(str(tmp_path), "ext4")])
    check_local(tmp_path / "catalog.db", mounts=lambda: parse_mountinfo(MOUNTINFO))


def test_the_activity_log_is_append_only(tmp_path):
    with Catalog.open(tmp_path / "catalog.db", write=True) as catalog:
        conn = catalog._conn
        conn.execute("INSERT INTO events (at_ns, kind, source, root, path) VALUES (1, 'appeared', 'scan', 'r', 'p')")
        for statement in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)


names = st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b),
                 min_size=1, max_size=4)


@given(names)
def test_any_name_round_trips_through_the_stored_columns(parts):
    relative = "/".join(os.fsdecode(p) for p in parts)
    text, raw = to_columns(relative)
    text.encode("utf-8")  # storable as SQLite TEXT
    assert from_columns(text, raw) == relative
    assert (raw == b"") == (os.fsencode(relative).decode("utf-8", "replace") == relative)


def test_an_escaped_name_never_collides_with_a_name_spelt_with_a_backslash():
    undecodable = os.fsdecode(b"a\xff")
    literal = "a\\xff"
    assert to_columns(undecodable)[0] == to_columns(literal)[0]
    assert to_columns(undecodable) != to_columns(literal)
