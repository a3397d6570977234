"""Creating files and folders under a root without following symlinks: real symlinks in a tmp tree."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bifrostd.observe.safe_paths import AtomicFile, RootedPath, UnsafePath, open_folder, write_file


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    """A root and a folder outside it (where a planted link points)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


def test_missing_folders_are_created_and_the_file_lands_atomically(tree):
    root, _ = tree
    write_file(RootedPath(root, "a/b/c.txt"), b"content", mtime_ns=1_000_000_000_000_000_000)
    assert (root / "a/b/c.txt").read_bytes() == b"content"
    assert os.stat(root / "a/b/c.txt").st_mtime_ns == 1_000_000_000_000_000_000
    assert os.listdir(root / "a/b") == ["c.txt"]  # no temp file left behind


@pytest.mark.parametrize("where", ["a", "a/b"])
def test_a_symlinked_folder_below_the_root_is_refused_and_nothing_is_created_through_it(tree, where):
    root, outside = tree
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).symlink_to(outside)
    with pytest.raises(UnsafePath) as refused:
        write_file(RootedPath(root, "a/b/c/d.txt"), b"x")
    assert refused.value.path == str(root / where) and "is a symlink" in str(refused.value)
    assert list(outside.iterdir()) == []


def test_a_dangling_symlink_is_refused_too(tree, tmp_path):
    root, _ = tree
    (root / "a").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafePath):
        write_file(RootedPath(root, "a/d.txt"), b"x")
    assert not (tmp_path / "nowhere").exists()


def test_a_file_where_a_folder_should_be_is_refused(tree):
    root, _ = tree
    (root / "a").write_bytes(b"a file")
    with pytest.raises(UnsafePath) as refused:
        write_file(RootedPath(root, "a/d.txt"), b"x")
    assert "is not a folder" in str(refused.value)


def test_a_symlink_at_the_final_name_is_replaced_never_written_through(tree):
    root, outside = tree
    secret = outside / "secret"
    secret.write_bytes(b"keep")
    (root / "f.txt").symlink_to(secret)
    write_file(RootedPath(root, "f.txt"), b"new")
    assert secret.read_bytes() == b"keep"
    assert stat.S_ISREG(os.lstat(root / "f.txt").st_mode) and (root / "f.txt").read_bytes() == b"new"


def test_the_root_itself_may_be_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "mount").symlink_to(real)  # an admin's /mnt/projects -> /net/...
    write_file(RootedPath(tmp_path / "mount", "a/f.txt"), b"x")
    assert (real / "a/f.txt").read_bytes() == b"x"


def test_a_folder_swapped_for_a_symlink_after_it_was_opened_changes_nothing(tree):
    root, outside = tree
    with AtomicFile(RootedPath(root, "a/f.txt")) as out:
        os.rename(root / "a", root / "moved")
        (root / "a").symlink_to(outside)  # too late: the file is written in the folder opened before
        out.write(b"x")
        out.commit()
    assert (root / "moved/f.txt").read_bytes() == b"x" and list(outside.iterdir()) == []


def test_an_abandoned_file_leaves_nothing(tree):
    root, _ = tree
    with pytest.raises(RuntimeError), AtomicFile(RootedPath(root, "a/f.txt")) as out:
        out.write(b"partial")
        raise RuntimeError("the download failed")
    assert os.listdir(root / "a") == []


def test_looking_never_creates(tree):
    root, _ = tree
    assert open_folder(root, ("a", "b"), create=False) is None
    assert not (root / "a").exists()


@pytest.mark.parametrize("relative", ["", "a/../b", "./a", "a//b", "/a", "a/\x00"])
def test_names_that_could_leave_the_root_are_not_paths_under_it(tree, relative):
    root, _ = tree
    with pytest.raises(ValueError):
        RootedPath(root, relative)


def test_the_demo_studio_writes_nothing_through_a_symlink(tmp_path):
    from bifrostd.demo import create_demo_studio, write_studio_config
    from bifrostd.config import load_config
    from bifrostd.errors import BifrostError

    outside = tmp_path / "outside"
    outside.mkdir()
    studio = tmp_path / "studio"
    (studio / "projects").mkdir(parents=True)
    (studio / "projects/demo").symlink_to(outside)
    template_set = load_config(write_studio_config(studio, demo=True)).load_templates()
    with pytest.raises(BifrostError, match="projects/demo is a symlink"):
        create_demo_studio(studio, template_set)
    assert list(outside.iterdir()) == []
