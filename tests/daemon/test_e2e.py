"""The real bifrostd as a subprocess on a real tree, observed through bifrostctl."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time


from .conftest import catalogued, installed, wait_until, write_config

SHOT = "demo/sequences/sq010/sh0100"


def test_changes_are_reflected_through_bifrostctl(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    projects = studio / "projects"
    work = projects / SHOT / "anim" / "work" / "maya"
    work.mkdir(parents=True, exist_ok=True)
    new = work / "sh0100_anim_v042.ma"

    new.write_bytes(b"v1")
    record = wait_until(lambda: d.files(work).get(f"{SHOT}/anim/work/maya/sh0100_anim_v042.ma"), what="created")
    assert record["state"] == "present" and record["template"] and record["size"] == 2
    first_hash = record["hash"]

    new.write_bytes(b"version two")  # modified in place: same inode, new content
    wait_until(lambda: d.files(work)[f"{SHOT}/anim/work/maya/sh0100_anim_v042.ma"]["hash"] != first_hash,
               what="modified")

    renamed = work / "sh0100_anim_v043.ma"
    new.rename(renamed)
    wait_until(lambda: f"{SHOT}/anim/work/maya/sh0100_anim_v043.ma" in d.files(work), what="renamed")
    other = projects / SHOT / "comp" / "work" / "nuke"
    other.mkdir(parents=True, exist_ok=True)
    moved = other / "sh0100_anim_v043.ma"
    renamed.rename(moved)
    wait_until(lambda: f"{SHOT}/comp/work/nuke/sh0100_anim_v043.ma" in d.files(other), what="moved")
    maya, nuke = f"{SHOT}/anim/work/maya", f"{SHOT}/comp/work/nuke"
    moves = [e for e in d.ctl_json("log", "--kind", "moved")["events"] if e["path"].endswith("v043.ma")]
    assert {(m["old_path"], m["path"]) for m in moves} == {
        (f"{maya}/sh0100_anim_v042.ma", f"{maya}/sh0100_anim_v043.ma"),  # a rename and a move:
        (f"{maya}/sh0100_anim_v043.ma", f"{nuke}/sh0100_anim_v043.ma"),  # never vanish + appear
    }
    assert all(e["source"] == "watch" for e in moves)

    moved.unlink()
    wait_until(lambda: d.files(other)[f"{SHOT}/comp/work/nuke/sh0100_anim_v043.ma"]["state"] == "missing",
               what="deleted")

    fresh = projects / SHOT / "fx" / "work" / "houdini"
    fresh.mkdir(parents=True)
    for i in range(5):
        (fresh / f"sh0100_fx_v00{i}.hip").write_bytes(b"x" * i)
    wait_until(lambda: len(d.files(fresh)) == 5, what="folder created with files")

    shutil.rmtree(projects / SHOT / "fx")
    wait_until(lambda: all(f["state"] == "missing" for f in d.files(fresh).values()), what="folder deleted")

    status = d.ctl_json("status")
    assert status["daemon"]["phase"] == "watching"
    assert {r["name"]: r["mode"] for r in status["daemon"]["roots"]} == {"projects": "watch", "renders": "watch"}
    assert status["daemon"]["counts"]["batches"] >= 5
    assert status["daemon"]["overflows"] == 0
    human = d.ctl("status").stdout
    assert "daemon     pid" in human and "root projects" in human
    assert d.stop() == 0


def test_status_shows_every_folder_of_the_demo_watched_by_inotify(studio, daemon_factory):
    """The watch count is the kernel's: one watch per folder, whatever watchdog release is installed."""
    d = daemon_factory(studio / "bifrost.yaml")
    roots = {r["name"]: r for r in d.status()["roots"]}
    for name in ("projects", "renders"):
        folders = 1 + sum(1 for p in (studio / name).rglob("*") if p.is_dir())
        assert roots[name]["mode"] == "watch" and roots[name]["inotify"], roots[name]
        assert roots[name]["watches"] == folders == roots[name]["folders"], roots[name]
        assert not roots[name]["errors"], roots[name]
    assert "max_user_watches" not in d.log()
    assert d.stop() == 0


def test_moving_a_folder_out_and_back_in(studio, daemon_factory, tmp_path):
    d = daemon_factory(studio / "bifrost.yaml")
    renders = studio / "renders"
    beauty = next(p for p in renders.rglob("beauty") if p.is_dir())
    relative = beauty.relative_to(renders)
    count = len(list(beauty.iterdir()))
    outside = tmp_path / "parked"
    shutil.move(str(beauty), str(outside))
    wait_until(lambda: all(f["state"] == "missing" for f in d.files(renders / relative.parent).values()
                           if f["path"].startswith(str(relative))), what="moved out")
    shutil.move(str(outside), str(beauty))
    wait_until(lambda: sum(f["state"] == "present" for f in d.files(renders / relative.parent).values()
                           if f["path"].startswith(str(relative))) == count, what="moved back")
    assert d.stop() == 0


def test_a_second_daemon_is_refused_with_the_pid(studio, daemon_factory):
    first = daemon_factory(studio / "bifrost.yaml")
    second = subprocess.run([installed("bifrostd"), "--config", str(studio / "bifrost.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 12
    assert f"pid {first.process.pid}" in second.stderr
    assert first.ready()
    assert first.stop() == 0


def test_stop_reload_and_signals(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    assert d.ctl("daemon", "reload").returncode == 0
    d.process.send_signal(signal.SIGHUP)
    wait_until(lambda: sum("reloaded" in line["msg"] for line in d.log_lines()) >= 2, what="two reloads")
    assert d.ready()
    done = d.ctl("daemon", "stop")
    assert done.returncode == 0 and f"stopped (pid {d.process.pid})" in done.stdout
    assert d.process.wait(timeout=30) == 0
    gone = d.ctl("daemon", "status", check=False)
    assert gone.returncode == 13 and "Error: No bifrostd answers" in gone.stderr
    assert d.ctl_json("status")["daemon"] is None
    assert not (studio / ".bifrost" / "bifrostd.sock").exists()

    again = daemon_factory(studio / "bifrost.yaml")
    assert again.stop(signal.SIGINT) == 0


def test_invalid_config_and_unknown_root_modes_exit_with_config_errors(studio):
    write_config(studio, "  settle: soon\n  rootz: {}\n")
    done = subprocess.run([installed("bifrostd"), "--config", str(studio / "bifrost.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert "daemon.settle" in done.stderr and "daemon.rootz" in done.stderr and "did you mean 'roots'" in done.stderr
    write_config(studio, "  roots:\n    nowhere: {mode: poll}\n")
    done = subprocess.run([installed("bifrostd"), "--config", str(studio / "bifrost.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "unknown root(s) nowhere" in done.stderr


def test_poll_mode_from_the_config_sees_changes_by_rescanning(studio, daemon_factory):
    write_config(studio, "  settle: 200ms\n  poll_every: 500ms\n  roots:\n    renders: {mode: poll}\n")
    d = daemon_factory(studio / "bifrost.yaml")
    modes = {r["name"]: (r["mode"], r["inotify"]) for r in d.status()["roots"]}
    assert modes == {"projects": ("watch", True), "renders": ("poll", False)}
    folder = studio / "renders" / "demo" / "polled"
    folder.mkdir()
    (folder / "frame.0001.exr").write_bytes(b"x")
    wait_until(lambda: "demo/polled/frame.0001.exr" in d.files(folder), what="polled file")
    assert d.status()["roots"][1]["last_rescan"]["reason"] == "poll"
    assert d.stop() == 0


def test_template_edits_are_live(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    notes = studio / "projects" / SHOT / "notes"
    notes.mkdir()
    (notes / "sh0100_notes.txt").write_text("call the client")
    wait_until(lambda: f"{SHOT}/notes/sh0100_notes.txt" in d.files(notes), what="notes catalogued")
    assert d.files(notes)[f"{SHOT}/notes/sh0100_notes.txt"]["template"] is None
    shots = studio / "templates" / "shots.yaml"
    good = shots.read_text()
    fingerprint = d.status()["templates"]["fingerprint"]

    shots.write_text(good + "  shot_broken:\n    root: projects\n    path: '{@shot_root}/x/{no_such_key}.txt'\n")
    status = wait_until(lambda: (s := d.status()) and not s["templates"]["valid"] and s, what="invalid set noticed")
    assert status["templates"]["fingerprint"] == fingerprint
    assert any("shots.yaml:" in p and "no_such_key" in p for p in status["templates"]["problems"])
    assert "TEMPLATES INVALID" not in d.ctl("daemon", "status").stdout  # human text says INVALID in its own words
    assert "INVALID" in d.ctl("daemon", "status").stdout
    (notes / "still_watching.txt").write_text("x")
    wait_until(lambda: f"{SHOT}/notes/still_watching.txt" in catalogued(studio, "projects", f"{SHOT}/notes"),
               what="still working on the old set")

    shots.write_text(good + "  shot_notes:\n    root: projects\n    path: '{@shot_root}/notes/{shot}_notes.txt'\n"
                     "    entity: shot\n")
    status = wait_until(lambda: (s := d.status()) and s["templates"]["valid"]
                        and s["templates"]["fingerprint"] != fingerprint and s, what="valid set applied")
    status = wait_until(lambda: (s := d.status()) and s["templates"]["last_change"]["done"] and s,
                        what="the records re-derived")
    assert status["templates"]["last_change"]["rematched"] >= 1
    assert d.files(notes)[f"{SHOT}/notes/sh0100_notes.txt"]["template"] == "shot_notes"
    assert d.ctl_json("status")["templates"]["records_from_other_sets"] == 0
    assert d.stop() == 0


def test_systemd_notifications(studio, daemon_factory, tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    listener.bind(str(path))
    listener.settimeout(30)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o750)
    try:
        d = daemon_factory(studio / "bifrost.yaml", env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000",
                                                          "RUNTIME_DIRECTORY": str(runtime)}, wait=False)
        seen: list[str] = []
        while not any(m.startswith("WATCHDOG=1") for m in seen) or not any("READY=1" in m for m in seen):
            seen.append(listener.recv(4096).decode())
        ready = next(m for m in seen if "READY=1" in m)
        assert "STATUS=watching: projects:watch, renders:watch" in ready
        assert (runtime / "bifrostd.sock").is_socket()
        assert os.readlink(studio / ".bifrost" / "bifrostd.sock") == str(runtime / "bifrostd.sock")
        assert d.ready()
        d.process.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in seen[-1]:
            seen.append(listener.recv(4096).decode())
        assert d.stop() == 0
    finally:
        listener.close()


def test_forget_goes_through_the_daemon_that_holds_the_catalog(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    projects = studio / "projects"
    fresh = projects / SHOT / "fx" / "work" / "houdini"
    fresh.mkdir(parents=True)
    for i in range(3):
        (fresh / f"sh0100_fx_v00{i}.hip").write_bytes(b"x" * i)
    wait_until(lambda: len(d.files(fresh)) == 3, what="files catalogued")
    (fresh / "sh0100_fx_v000.hip").unlink()
    shutil.rmtree(projects / SHOT / "fx" / "work" / "houdini")
    wait_until(lambda: all(f["state"] == "missing" for f in d.files(fresh).values()), what="folder deleted")

    planned = d.ctl_json("forget", "--dry-run", str(projects / SHOT / "fx"))  # reads only: no daemon needed
    assert planned["count"] == 3 and "via" not in planned
    assert len(d.files(fresh)) == 3

    done = d.ctl_json("forget", str(projects / SHOT / "fx"))
    assert done["via"] == "daemon" and done["count"] == 3
    assert d.files(fresh) == {}
    assert {e["path"] for e in d.ctl_json("log", "--kind", "forgotten")["events"]} == {
        f"{SHOT}/fx/work/houdini/sh0100_fx_v00{i}.hip" for i in range(3)}
    refused = d.ctl("forget", "/etc", check=False)
    assert refused.returncode == 6 and "under no root" in refused.stderr
    from bifrostd.daemon.control import ControlClient

    client = ControlClient(studio / ".bifrost" / "bifrostd.sock")
    for malformed in ({"targets": "demo"}, {"targets": ["demo/sequences"]}, {}, {"targets": [], "all": "yes"}):
        reply = client.request("forget", **malformed)
        assert reply["ok"] is False and reply["exit_code"] == 2, (malformed, reply)
    assert client.request("mirror-run", targets="vault")["exit_code"] == 2
    assert client.request("mirror-run", targets=[], allow_deletions="yes")["exit_code"] == 2
    assert client.request("mirror-run", targets=["vault"])["exit_code"] == 15  # the demo config has no targets
    assert d.status()["phase"] == "watching"
    (fresh.parent).mkdir(parents=True, exist_ok=True)
    fresh.mkdir()
    (fresh / "sh0100_fx_v000.hip").write_bytes(b"back")
    wait_until(lambda: d.files(fresh).get(f"{SHOT}/fx/work/houdini/sh0100_fx_v000.hip", {}).get("state") == "present",
               what="a forgotten file written again")
    assert d.stop() == 0


def test_a_reload_that_moves_a_root_watches_and_catalogues_the_new_folder(studio, daemon_factory, tmp_path):
    d = daemon_factory(studio / "bifrost.yaml")
    moved = tmp_path / "renders2"
    shutil.copytree(studio / "renders", moved)
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().replace("./renders", str(moved)))
    assert d.ctl("daemon", "reload").returncode == 0
    wait_until(lambda: any(r["name"] == "renders" and r["path"] == str(moved) for r in d.status()["roots"]),
               what="the new renders root watched")
    fresh = moved / "demo" / "new_notes.txt"
    fresh.write_bytes(b"after the move")
    wait_until(lambda: "demo/new_notes.txt" in d.files(moved / "demo"), what="a file in the moved root catalogued")
    assert d.stop() == 0


def test_a_root_folder_moved_away_and_replaced_is_followed_at_its_path(studio, daemon_factory, tmp_path):
    d = daemon_factory(studio / "bifrost.yaml")
    renders = studio / "renders"
    before = catalogued(studio, "renders")
    assert before and all(r.state == "present" for r in before.values())
    renders.rename(tmp_path / "renders_away")
    (renders / "demo").mkdir(parents=True)
    (renders / "demo" / "notes.txt").write_bytes(b"a new folder at the root's path")
    wait_until(lambda: "demo/notes.txt" in catalogued(studio, "renders"), what="the new folder's file catalogued")
    wait_until(lambda: all(catalogued(studio, "renders")[p].state == "missing" for p in before),
               what="the old folder's files missing")
    (tmp_path / "renders_away" / "demo" / "stray.txt").write_bytes(b"x")  # not under the root any more
    time.sleep(1.5)
    assert "demo/stray.txt" not in catalogued(studio, "renders")
    assert d.stop() == 0


def test_a_root_moved_by_a_reload_while_the_templates_are_invalid_is_watched_once_they_are_fixed(
        studio, daemon_factory, tmp_path):
    d = daemon_factory(studio / "bifrost.yaml")
    assets = studio / "templates" / "assets.yaml"
    good = assets.read_text()
    assets.write_text(good.replace("{@asset_type_root}/{asset}", "{@asset_type_root}/{assett}", 1))
    wait_until(lambda: d.status()["templates"]["valid"] is False, what="the broken set to be noticed")
    moved = tmp_path / "renders2"
    shutil.copytree(studio / "renders", moved)
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text().replace("./renders", str(moved)))
    assert d.ctl("daemon", "reload").returncode == 0
    assets.write_text(good)
    wait_until(lambda: d.status()["templates"]["valid"] is True, what="the fixed set to be applied")
    wait_until(lambda: any(r["name"] == "renders" and r["path"] == str(moved) for r in d.status()["roots"]),
               what="the moved root watched")
    (moved / "demo" / "after_fix.txt").write_bytes(b"x")
    wait_until(lambda: "demo/after_fix.txt" in d.files(moved / "demo"), what="a file in the moved root catalogued")
    assert d.stop() == 0
