"""A root on its own filesystem, unmounted under the running daemon: nothing goes missing, the root is not
mistaken for an unwatchable one, and the files are back in view when it is mounted again."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import tmpfs_at, wait_until


@pytest.fixture
def renders_on_tmpfs(studio):
    """The demo studio's renders root moved onto a tmpfs mounted at its folder."""
    renders = studio / "renders"
    kept = studio / "renders-contents"
    renders.rename(kept)
    with tmpfs_at(renders, "256m"):
        shutil.copytree(kept, renders, dirs_exist_ok=True, copy_function=shutil.copy2)
        yield renders


def test_unmounting_a_root_keeps_its_records_and_its_inotify_watch(studio, renders_on_tmpfs, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    before = d.ctl_json("status")["files"]
    renders = next(r for r in d.status()["roots"] if r["name"] == "renders")
    assert renders["mode"] == "watch" and before.get("present", 0) > 0
    subprocess.run(["umount", str(renders_on_tmpfs)], check=True)
    wait_until(lambda: "(not mounted?)" in d.log(), timeout=20, what="the empty mount point to be noticed")
    wait_until(d.idle, what="the daemon to settle")
    assert d.ctl_json("status")["files"] == before  # nothing marked missing
    renders = next(r for r in d.status()["roots"] if r["name"] == "renders")
    assert renders["mode"] == "watch", renders  # an empty mount point is not a watch limit reached
    assert "could be watched" not in d.log()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "bifrost-test", str(renders_on_tmpfs)], check=True)
    shutil.copytree(studio / "renders-contents", renders_on_tmpfs, dirs_exist_ok=True, copy_function=shutil.copy2)
    new = renders_on_tmpfs / "demo" / "after_the_remount.txt"
    new.parent.mkdir(parents=True, exist_ok=True)
    new.write_text("saved once the share was back")
    wait_until(lambda: "after_the_remount.txt" in str(d.ctl_json("ls", str(new.parent))), timeout=20,
               what="a file saved after the remount to be catalogued")
    assert d.stop() == 0
