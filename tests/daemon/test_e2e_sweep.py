"""The daemon's rolling sweep of polled roots and its scrub, end to end: a real bifrostd on the demo studio.

A polled root (NFS, SMB) has no watcher, and writing into a file leaves its
folder's mtime alone, so the fast polls never see such an edit: the sweep
stats every file within its window and finds it. An edit that keeps size and
mtime is found by the scrub alone, which reads the files again."""

from __future__ import annotations

import os

from .conftest import wait_until, write_config

MAYA = "demo/assets/character/hero/model/work/maya"


def test_the_sweep_of_a_polled_root_finds_a_file_edited_in_place(studio, daemon_factory):
    config = write_config(studio, "  settle: 200ms\n  poll_every: 1h\n  sweep_every: 3s\n"
                                  "  roots:\n    projects: {mode: poll}\n")
    d = daemon_factory(config)
    folder = studio / "projects" / MAYA
    scene = folder / "hero_model_v001.ma"
    before = d.files(folder)[f"{MAYA}/hero_model_v001.ma"]
    folder_mtime = folder.stat().st_mtime_ns
    with open(scene, "ab") as file:  # an artist's save that rewrites the file where it is
        file.write(b"// edited in place\n")
    # saved a while ago: a slice meeting a file younger than the settle interval hands it to the settler
    # (recorded, but not by the sweep, whose pass would then count nothing)
    saved = scene.stat()
    os.utime(scene, ns=(saved.st_atime_ns, saved.st_mtime_ns - 5_000_000_000))
    assert folder.stat().st_mtime_ns == folder_mtime  # nothing a pruned poll would look at
    found = wait_until(lambda: d.files(folder)[f"{MAYA}/hero_model_v001.ma"]["size"] != before["size"],
                       timeout=30, what="the sweep to find the edit")
    assert found
    record = d.files(folder)[f"{MAYA}/hero_model_v001.ma"]
    assert record["size"] == scene.stat().st_size and record["hash"] != before["hash"]
    sweep = d.status()["sweep"]
    assert set(sweep["roots"]) == {"projects"}  # the watched root needs no sweep
    wait_until(lambda: (d.status()["sweep"]["roots"]["projects"]["last"] or {}).get("changed", 0) >= 1,
               timeout=20, what="a finished pass that counts the edit")
    assert "sweep      projects: " in d.ctl("daemon", "status").stdout
    assert d.stop() == 0


def test_the_sweep_keeps_to_its_rate(studio, daemon_factory):
    config = write_config(studio, "  settle: 200ms\n  poll_every: 1h\n  sweep_every: 1s\n  sweep_rate: 100\n"
                                  "  roots:\n    projects: {mode: poll}\n")
    d = daemon_factory(config)
    last = wait_until(lambda: d.status()["sweep"]["roots"]["projects"]["last"], timeout=30, what="a whole pass")
    assert last["files"] > 200  # the demo's projects root
    # 100 files a second at most (after a burst of two seconds' worth): never the whole root at once
    assert last["duration_s"] >= (last["files"] - 200) / 100 * 0.9
    assert d.status()["sweep"]["rate"] == 100
    assert d.stop() == 0


def test_the_scrub_finds_content_changed_under_the_same_size_and_mtime(studio, daemon_factory):
    d = daemon_factory(write_config(studio, "  settle: 200ms\n  scrub_every: 3s\n  scrub_rate: 4MiB/s\n"))
    folder = studio / "projects" / MAYA
    scene = folder / "hero_model_v002.ma"
    before = d.files(folder)[f"{MAYA}/hero_model_v002.ma"]
    stat = scene.stat()
    data = bytearray(scene.read_bytes())
    data[0] ^= 0xFF  # one byte flipped: same size ...
    fd = os.open(scene, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(data[:1]), 0)
    finally:
        os.close(fd)
    os.utime(scene, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the same mtime
    assert scene.stat().st_mtime_ns == stat.st_mtime_ns and scene.stat().st_size == stat.st_size
    wait_until(lambda: any(f["path"] == f"{MAYA}/hero_model_v002.ma" for f in d.status()["scrub"]["found"]),
               timeout=30, what="the scrub to find the changed content")
    assert d.files(folder)[f"{MAYA}/hero_model_v002.ma"]["hash"] != before["hash"]
    assert any(line["level"] == "warning" and "scrub" in line["msg"] and "hero_model_v002.ma" in line["msg"]
               for line in d.log_lines())
    assert "changed under the same mtime: projects/" in d.ctl("daemon", "status").stdout
    assert d.stop() == 0
