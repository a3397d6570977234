"""The walk on real temp trees: pruning, every finding kind, and the seams for races."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from bifrostd.errors import ScanError
from bifrostd.model import FindingKind
from bifrostd.observe.walk import UNSETTLED, stat_paths, walk
from conftest import can_drop_to_nobody, run_as_nobody

HOUR_AGO_NS = 1_700_000_000_000_000_000
REPO = Path(__file__).resolve().parent.parent


def make(root: Path, *relatives: str, data: bytes = b"x") -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def settle(root: Path) -> None:
    """Put every folder's mtime in the past, as if the tree had been written long ago (no sleep)."""
    for folder, _, _ in os.walk(root):
        os.utime(folder, ns=(HOUR_AGO_NS, HOUR_AGO_NS))


def kinds(result) -> dict[str, FindingKind]:
    return {f.relative: f.kind for f in result.findings}


def relatives(result) -> set[str]:
    return {f.relative for f in result.files}


@pytest.fixture
def shot_tree(tmp_path) -> Path:
    root = tmp_path / "projects"
    make(root, "sq/sh010/comp/v001/a.1001.exr", "sq/sh010/comp/v001/a.1002.exr", "sq/sh010/comp/work/a.nk",
         "sq/sh020/plate/p.1001.exr", "top.txt")
    settle(root)
    return root


def test_full_walk_observes_every_file_and_folder(shot_tree):
    result = walk("projects", shot_tree)
    assert relatives(result) == {"sq/sh010/comp/v001/a.1001.exr", "sq/sh010/comp/v001/a.1002.exr",
                                 "sq/sh010/comp/work/a.nk", "sq/sh020/plate/p.1001.exr", "top.txt"}
    assert set(result.directories) == {"", "sq", "sq/sh010", "sq/sh010/comp", "sq/sh010/comp/v001",
                                       "sq/sh010/comp/work", "sq/sh020", "sq/sh020/plate"}
    assert result.directories["sq"] == HOUR_AGO_NS
    assert result.listed == frozenset(result.directories) and not result.skipped and not result.findings
    state = next(f for f in result.files if f.relative == "top.txt")
    st = os.stat(shot_tree / "top.txt")
    assert (state.root, state.size, state.mtime_ns, state.inode, state.device) == (
        "projects", 1, st.st_mtime_ns, st.st_ino, st.st_dev)


def test_rescan_with_nothing_changed_lists_nothing(shot_tree):
    first = walk("projects", shot_tree)
    again = walk("projects", shot_tree, first.directories)
    assert again.files == () and again.listed == frozenset()
    assert again.skipped == frozenset(first.directories)
    assert again.directories == first.directories


def test_rescan_sees_a_file_created_deep_under_unchanged_folders(shot_tree):
    first = walk("projects", shot_tree)
    make(shot_tree, "sq/sh010/comp/v001/a.1003.exr")
    again = walk("projects", shot_tree, first.directories)
    assert again.listed == {"sq/sh010/comp/v001"}
    assert {"", "sq", "sq/sh010", "sq/sh010/comp"} <= again.skipped
    assert relatives(again) == {"sq/sh010/comp/v001/a.1001.exr", "sq/sh010/comp/v001/a.1002.exr",
                                "sq/sh010/comp/v001/a.1003.exr"}


def test_in_place_edit_is_seen_by_a_full_walk_only(shot_tree):
    """A pruned rescan trusts folder mtimes; the watcher and scheduled full walks catch in-place edits."""
    first = walk("projects", shot_tree)
    (shot_tree / "top.txt").write_bytes(b"longer content")
    os.utime(shot_tree, ns=(HOUR_AGO_NS, HOUR_AGO_NS))  # in-place writes leave the folder's mtime alone
    assert "top.txt" not in relatives(walk("projects", shot_tree, first.directories))
    full = walk("projects", shot_tree, first.directories, full=True)
    assert next(f.size for f in full.files if f.relative == "top.txt") == 14
    assert full.listed == frozenset(first.directories)


def test_a_removed_folder_is_missing_from_the_view(shot_tree):
    first = walk("projects", shot_tree)
    shutil.rmtree(shot_tree / "sq/sh020")
    again = walk("projects", shot_tree, first.directories)
    assert "sq" in again.listed
    assert not {d for d in again.directories if d.startswith("sq/sh020")}
    assert not again.unreadable


def test_a_subfolder_replaced_behind_an_unchanged_mtime_forces_a_listing(shot_tree):
    """rsync -t can restore a folder's mtime; a known subfolder that is now a file exposes the lie."""
    first = walk("projects", shot_tree)
    shutil.rmtree(shot_tree / "sq/sh020")
    make(shot_tree, "sq/sh020")
    os.utime(shot_tree / "sq", ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    again = walk("projects", shot_tree, first.directories)
    assert "sq" in again.listed and "sq/sh020" in relatives(again)


def test_recently_modified_folders_are_remembered_unsettled(shot_tree):
    folder = shot_tree / "sq/sh010"
    mtime = os.stat(folder).st_mtime_ns
    result = walk("projects", shot_tree, now_ns=lambda: mtime + 1_000_000, settle_ns=2_000_000_000)
    assert result.directories["sq/sh010"] == UNSETTLED
    again = walk("projects", shot_tree, result.directories, now_ns=lambda: mtime + 10**12)
    assert "sq/sh010" in again.listed and "sq" in again.listed  # sq shares the same old mtime
    assert again.directories["sq/sh010"] == mtime


def test_walk_under_a_subfolder_keeps_root_relative_paths(shot_tree):
    result = walk("projects", shot_tree, under="sq/sh020")
    assert relatives(result) == {"sq/sh020/plate/p.1001.exr"}
    assert set(result.directories) == {"sq/sh020", "sq/sh020/plate"}


@pytest.mark.parametrize("under", ["../x", "/abs", "a/../b", "a//b"])
def test_walk_under_refuses_paths_leaving_the_root(shot_tree, under):
    with pytest.raises(ValueError):
        walk("projects", shot_tree, under=under)


def test_a_missing_root_is_an_error_not_an_empty_tree(tmp_path):
    with pytest.raises(ScanError, match="cannot be walked"):
        walk("projects", tmp_path / "unmounted")


def test_non_utf8_names_are_observed_round_trip_and_reported(tmp_path):
    root = tmp_path / "r"
    os.makedirs(os.fsencode(root) + b"/caf\xe9")
    with open(os.fsencode(root) + b"/caf\xe9/shot\xff.exr", "wb") as f:
        f.write(b"data")
    result = walk("r", root)
    (observed,) = result.files
    assert os.fsencode(observed.relative) == b"caf\xe9/shot\xff.exr"
    assert kinds(result) == {os.fsdecode(b"caf\xe9"): FindingKind.NOT_UTF8,
                             os.fsdecode(b"caf\xe9/shot\xff.exr"): FindingKind.NOT_UTF8}
    json.dumps([f.to_json() for f in result.findings])  # surrogates survive JSON with ascii escapes


def test_names_equal_under_nfc_are_reported_once_and_both_observed(tmp_path):
    root = tmp_path / "r"
    make(root, "shots/Caf\u00e9.nk", "shots/Cafe\u0301.nk", "shots/\u212a.nk", "shots/K.nk", "shots/plain.nk")
    result = walk("r", root)
    assert len(result.files) == 5
    found = sorted(f.relative for f in result.findings if f.kind is FindingKind.UNICODE_NORMALIZATION)
    assert len(found) == 2 and "shots/\u212a.nk" in found


def test_paths_longer_than_the_os_allows_are_findings(tmp_path):
    root = tmp_path / "r"
    make(root, "ok.exr")
    name = "d" * 250
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(20):  # 20 x 251 bytes > PATH_MAX (4096); built relative to folder descriptors
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("deep.exr", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    result = walk("r", root)
    assert "ok.exr" in relatives(result)
    assert FindingKind.NAME_TOO_LONG in kinds(result).values()
    assert all(len(f.relative) < 4096 for f in result.files)


def test_symlinks_are_never_followed(tmp_path):
    outside = tmp_path / "elsewhere"
    make(outside, "secret.exr")
    root = tmp_path / "r"
    make(root, "shots/a.exr")
    (root / "out_dir").symlink_to(outside)
    (root / "out_file").symlink_to(outside / "secret.exr")
    (root / "dangling_out").symlink_to("/nonexistent/far/away")
    (root / "alias.exr").symlink_to("shots/a.exr")
    (root / "shots/loop").symlink_to("..")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    result = walk("r", root)
    assert relatives(result) == {"shots/a.exr"}
    assert kinds(result) == {
        "out_dir": FindingKind.SYMLINK_OUTSIDE_ROOT, "out_file": FindingKind.SYMLINK_OUTSIDE_ROOT,
        "dangling_out": FindingKind.SYMLINK_OUTSIDE_ROOT, "shots/loop": FindingKind.SYMLINK_LOOP,
        "ping": FindingKind.SYMLINK_LOOP, "pong": FindingKind.SYMLINK_LOOP}
    assert [(s.relative, s.target) for s in result.symlinks] == [("alias.exr", "shots/a.exr")]


def test_a_root_given_through_a_symlink_is_walked(tmp_path):
    make(tmp_path / "real", "a.exr")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    (tmp_path / "real/inside").symlink_to(tmp_path / "alias/a.exr")
    result = walk("r", tmp_path / "alias")
    assert relatives(result) == {"a.exr"} and [s.relative for s in result.symlinks] == ["inside"]


def test_special_files_are_reported_and_never_opened(tmp_path):
    root = tmp_path / "r"
    make(root, "a.exr")
    os.mkfifo(root / "pipe")  # opening it for reading would block the walk forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    try:
        result = walk("r", root)
    finally:
        server.close()
    assert relatives(result) == {"a.exr"}
    assert kinds(result) == {"pipe": FindingKind.SPECIAL_FILE, "sock": FindingKind.SPECIAL_FILE}


def test_a_file_vanishing_between_listing_and_stat_is_a_finding(shot_tree):
    victim = shot_tree / "sq/sh010/comp/v001/a.1002.exr"

    def racing_stat(path, *, dir_fd=None, follow_symlinks=True):
        if path == victim.name and victim.exists():
            victim.unlink()
        return os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    result = walk("projects", shot_tree, stat=racing_stat)
    assert kinds(result) == {"sq/sh010/comp/v001/a.1002.exr": FindingKind.VANISHED}
    assert "sq/sh010/comp/v001/a.1001.exr" in relatives(result)


def test_a_folder_vanishing_before_it_is_listed_is_a_finding(shot_tree):
    victim = str(shot_tree / "sq/sh020")

    def racing_stat(path, *, dir_fd=None, follow_symlinks=True):
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        if path == victim:
            shutil.rmtree(victim)
        return st

    result = walk("projects", shot_tree, stat=racing_stat)
    assert kinds(result) == {"sq/sh020": FindingKind.VANISHED}
    assert "sq/sh020" not in result.directories and "sq/sh020" not in result.unreadable


def test_a_listing_that_fails_midway_marks_the_folder_unreadable(shot_tree):
    def failing_scandir(fd):
        with os.scandir(fd) as entries:
            yield next(entries)
        raise OSError(5, "Input/output error")

    result = walk("projects", shot_tree, scandir=failing_scandir)
    assert result.unreadable == {""} and kinds(result) == {".": FindingKind.IO_ERROR}
    assert result.files == ()


def test_stat_paths_reobserves_files_and_reports_what_is_gone(tmp_path):
    outside = tmp_path / "elsewhere"
    make(outside, "x.exr")
    root = tmp_path / "r"
    make(root, "a/f.exr", "a/sub/g.exr")
    (root / "link").symlink_to(outside)
    os.mkfifo(root / "a/pipe")
    result = stat_paths("r", root, ["a/f.exr", "a/gone.exr", "a/sub", "link/x.exr", "a/pipe", "nofolder/x"])
    assert [s.relative for s in result.states] == ["a/f.exr"]
    assert set(result.directories) == {"a/sub"}
    assert result.gone == {"a/gone.exr", "a/sub", "link/x.exr", "a/pipe", "nofolder/x"}
    assert kinds(result) == {"a/pipe": FindingKind.SPECIAL_FILE}


NOBODY_WALK = """
import json, sys
from bifrostd.observe.walk import walk
from bifrostd.observe.hashing import hash_stable
import os
r = walk("r", sys.argv[1])
locked = os.path.join(sys.argv[1], "open/locked.exr")
h = hash_stable(locked, os.stat(locked))
print(json.dumps({"files": sorted(f.relative for f in r.files), "unreadable": sorted(r.unreadable),
                  "findings": sorted([f.relative, f.kind.value] for f in r.findings), "hash": h.status.value}))
"""


@pytest.mark.skipif(not can_drop_to_nobody(), reason="needs root to switch to nobody")
def test_permission_denied_folders_and_files_are_findings_for_an_unprivileged_walker():
    base = Path(tempfile.mkdtemp(prefix="bifrost-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        root = base / "r"
        make(root, "open/a.exr", "open/locked.exr", "private/hidden.exr", "listonly/b.exr")
        subprocess.run(["chmod", "-R", "o+rX", str(root)], check=True)
        os.chmod(root / "private", 0o700)
        os.chmod(root / "listonly", 0o744)  # readable names, but no search permission: entries can't be stat-ed
        os.chmod(root / "open/locked.exr", 0o600)
        done = run_as_nobody(NOBODY_WALK, str(root), preload=("json", "bifrostd.observe.walk", "bifrostd.observe.hashing"))
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
    finally:
        shutil.rmtree(base)
    assert seen["files"] == ["open/a.exr", "open/locked.exr"]
    assert seen["unreadable"] == ["private"]
    assert seen["findings"] == [["listonly/b.exr", "permission-denied"], ["private", "permission-denied"]]
    assert seen["hash"] == "failed"
