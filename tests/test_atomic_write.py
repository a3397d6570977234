"""Atomic writes: the new content in full at the final name, or the old file untouched and no temp file left.

The failures are real ones: a write past the process's file-size limit
(EFBIG), a full tmpfs (ENOSPC), a rename over a folder; nothing is patched.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bifrostd.atomic_write import TEMP_PREFIX, AtomicFile, open_folder_fd, write_atomic


def test_writes_new_content_and_replaces_old(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"old")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.yaml"]


def test_mode_and_mtime_are_the_callers(tmp_path):
    path = tmp_path / "state.json"
    write_atomic(path, b"{}", mode=0o600, mtime_ns=1_000_000_000)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime_ns == 1_000_000_000


def test_the_default_mode_is_a_plain_opens(tmp_path):
    mask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "f", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o640


def test_a_symlink_at_the_final_name_is_replaced_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"keep")
    (tmp_path / "f").symlink_to(secret)
    write_atomic(tmp_path / "f", b"new")
    assert secret.read_bytes() == b"keep" and not (tmp_path / "f").is_symlink()
    assert (tmp_path / "f").read_bytes() == b"new"


def test_missing_folders_are_made_only_when_asked(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "a/b/f", b"x")
    write_atomic(tmp_path / "a/b/f", b"x", create_folders=True)
    assert (tmp_path / "a/b/f").read_bytes() == b"x"


def test_nothing_is_visible_before_commit(tmp_path):
    (tmp_path / "f").write_bytes(b"old")
    with AtomicFile(open_folder_fd(tmp_path), "f") as out:
        out.write(b"new")
        assert (tmp_path / "f").read_bytes() == b"old"
        assert [n for n in os.listdir(tmp_path) if n.startswith(TEMP_PREFIX)]
        out.commit()
    assert (tmp_path / "f").read_bytes() == b"new" and os.listdir(tmp_path) == ["f"]


def test_leaving_without_commit_leaves_the_old_file(tmp_path):
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(open_folder_fd(tmp_path), "f") as out:
        out.write(b"partial")
        raise RuntimeError("the source failed")
    assert (tmp_path / "f").read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


def test_a_failed_rename_leaves_no_temp_file(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "inside").write_bytes(b"keep")  # a folder, not empty: rename(2) refuses to replace it
    with pytest.raises(OSError):
        write_atomic(tmp_path / "f", b"new")
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f" / "inside").read_bytes() == b"keep"


WRITE_PAST_LIMIT = """
import resource, signal, sys
from bifrostd.atomic_write import write_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_atomic(sys.argv[1], b"n" * 65536)
except OSError as error:
    sys.exit(error.errno)
"""


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path):
    import errno

    path = tmp_path / "f"
    path.write_bytes(b"old")
    done = subprocess.run([sys.executable, "-c", WRITE_PAST_LIMIT, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == errno.EFBIG, done.stderr
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


def test_a_full_disk_leaves_the_old_file_and_no_temp_file(tmp_path):
    import errno

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "bifrost-test", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        path = disk / "f"
        path.write_bytes(b"old")
        with pytest.raises(OSError) as failed:
            write_atomic(path, b"n" * (1 << 20))
        assert failed.value.errno == errno.ENOSPC
        assert path.read_bytes() == b"old" and os.listdir(disk) == ["f"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_the_folder_is_the_one_opened(tmp_path):
    """A folder swapped for a symlink after it was opened changes nothing: the file lands in the folder opened."""
    (tmp_path / "a").mkdir()
    (tmp_path / "elsewhere").mkdir()
    with AtomicFile(open_folder_fd(tmp_path / "a"), "f") as out:
        os.rename(tmp_path / "a", tmp_path / "moved")
        (tmp_path / "a").symlink_to(tmp_path / "elsewhere")
        out.write(b"x")
        out.commit()
    assert (tmp_path / "moved" / "f").read_bytes() == b"x" and list((tmp_path / "elsewhere").iterdir()) == []
    assert Path(tmp_path / "a").is_symlink()
