"""Mirror runs end to end: a real studio tree, a real catalog file, moto (S3) behind the fault proxy.

The proxy's request log is the witness: a run with nothing to do makes no
request at all, a moved file is a server-side copy, a resumed run re-sends
nothing that landed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from contextlib import closing
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bifrostd.catalog import Catalog
from bifrostd.catalog.mirror_state import MirrorState
from bifrostd.observe.hashing import hash_file
from bifrostd.mirror import Transfer, open_filesystem, parse_targets
from bifrostd.mirror.backends import head, remove
from bifrostd.mirror.plan import COPY_MIN_BYTES, DAY_NS
from bifrostd.mirror.runner import locator, run_target

from .faultproxy import FaultProxy, Rule

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio_tree import age_tree, load, make_tree, scan, write, write_config  # noqa: E402

MIB = 1 << 20


@pytest.fixture
def proxy(s3_port):
    proxy = FaultProxy(s3_port).start()
    yield proxy
    proxy.stop()


class Studio:
    """A studio tree, its config with one S3 target through the proxy, and helpers to run the mirror."""

    def __init__(self, base: Path, proxy: FaultProxy, **settings) -> None:
        self.base, self.proxy = base, proxy
        self.tree = base / "projects"
        make_tree(self.tree, shots=2, versions=2, frames=3)
        age_tree(self.tree)
        self.config = write_config(base, self.tree)
        self.bucket = f"m-{uuid.uuid4().hex[:12]}"
        self.settings = {"url": f"s3://{self.bucket}/studio", "endpoint_url": proxy.url, "concurrency": 4,
                         "part_size": "5MiB", "retries": 3, "backoff": 0.01, **settings}
        with self.config.open("a") as out:
            out.write("mirror:\n  targets:\n    s3: " + json.dumps(self.settings) + "\n")
        self.target = parse_targets({"targets": {"s3": self.settings}})["s3"]
        self.fs = open_filesystem(self.target)
        self.fs.mkdir(self.bucket)
        scan(self.config)
        proxy.clear()

    @property
    def catalog_path(self) -> Path:
        return self.base / "state" / "catalog.db"

    def run(self, *, clock=None, **kwargs):
        loaded, template_set = load(self.config)
        with Catalog.open(self.catalog_path, write=True, **({"clock": clock} if clock else {})) as catalog:
            return run_target(MirrorState.of(catalog), self.target, locator(template_set), **kwargs)

    def objects(self) -> dict[str, int]:
        self.fs.invalidate_cache()
        prefix = f"{self.bucket}/studio/"
        return {p[len(prefix):]: info["size"] for p, info in self.fs.find(prefix, detail=True).items()}

    def requests(self, method: str | None = None) -> list[tuple[str, str, int]]:
        return [r for r in self.proxy.log if method is None or r[0] == method]

    def rows(self) -> dict[str, str | None]:
        with Catalog.open(self.catalog_path) as catalog:
            return {r.key: r.hash for r in MirrorState.of(catalog).objects("s3")}

    def rescan(self) -> None:
        # a full walk: these tests are about the mirror, not about the pruned
        # walk's folder-mtime shortcuts (tested with the scanner)
        age_tree(self.tree)
        scan(self.config, full=True)


@pytest.fixture
def studio(tmp_path, proxy):
    return Studio(tmp_path, proxy)


FILES = 2 * 2 * (1 + 3) + 2


def test_first_run_uploads_and_a_second_run_makes_no_request(studio):
    first = studio.run()
    assert first.status == "ok" and first.counts == {"uploaded": FILES}, first.failures
    # one PUT per object, confirmed by its ETag: no HEAD after, none before (nothing was in flight), no listing
    assert [method for method, _, _ in studio.proxy.log] == ["PUT"] * FILES
    assert len(studio.objects()) == FILES
    studio.proxy.clear()
    second = studio.run()
    assert second.status == "nothing" and second.plan.empty
    assert studio.proxy.log == []  # not one request: no listing, no HEAD
    key = "projects/demo/sequences/sq010/sh0010/anim/work/sh0010_anim_v001.ma"
    assert head(studio.fs, studio.target, key).xxh3 == hash_file(studio.tree / key.split("/", 1)[1])


def test_moved_file_is_copied_server_side_and_duplicates_are_sent_once(tmp_path, proxy):
    studio = Studio(tmp_path, proxy, delete="mirror")
    studio.run()
    old = studio.tree / "demo/sequences/sq010/notes.txt"
    os.rename(old, studio.tree / "demo/notes_moved.txt")
    data = os.urandom(COPY_MIN_BYTES)
    write(studio.tree / "demo/dup_a.bin", data)
    write(studio.tree / "demo/dup_b.bin", data)
    studio.rescan()
    proxy.clear()
    report = studio.run()
    assert report.counts == {"copied": 2, "uploaded": 1, "deleted": 1}, report.failures
    assert report.bytes == len(data)  # the move and the duplicate moved no bytes through this host
    puts = [path for method, path, _ in studio.requests("PUT")]
    assert sum("dup_" in p for p in puts) == 2 and len(puts) == 3  # one upload, two copies (PUT + copy source)
    # each copy is that one request, confirmed by its response: no HEAD, no listing
    assert sorted(method for method, _, _ in studio.proxy.log) == ["DELETE", "PUT", "PUT", "PUT"]
    objects = studio.objects()
    assert "projects/demo/notes_moved.txt" in objects and "projects/demo/sequences/sq010/notes.txt" not in objects
    assert objects["projects/demo/dup_b.bin"] == len(data)
    moved = head(studio.fs, studio.target, "projects/demo/notes_moved.txt")
    assert moved.xxh3 == hash_file(studio.tree / "demo/notes_moved.txt")
    assert moved.mtime_ns == os.stat(studio.tree / "demo/notes_moved.txt").st_mtime_ns  # its own file's metadata


def test_identical_small_frames_are_each_one_upload(tmp_path, proxy):
    studio = Studio(tmp_path, proxy)
    frame = os.urandom(4096)  # a render tree's black frames: far below COPY_MIN_BYTES
    for n in range(6):
        write(studio.tree / f"demo/renders/black.{1001 + n}.exr", frame)
    studio.rescan()
    proxy.clear()
    report = studio.run()
    assert report.counts == {"uploaded": FILES + 6}, report.failures
    assert [method for method, _, _ in studio.proxy.log] == ["PUT"] * (FILES + 6)  # one request per file


def test_server_errors_are_retried_within_a_run(studio):
    studio.proxy.add(Rule("PUT", r"anim_v00", status=503, times=3))
    studio.proxy.add(Rule("PUT", r"notes\.txt", status=500, times=1))
    report = studio.run()
    assert report.status == "ok" and report.counts == {"uploaded": FILES}, report.failures
    assert sum(1 for _, _, status in studio.proxy.log if status >= 500) == 4


def test_a_persistent_outage_stops_the_run_and_the_next_run_finishes(studio):
    for n in range(40):
        write(studio.tree / f"demo/many/f{n:03d}.bin", os.urandom(100))
    studio.rescan()
    total = FILES + 40
    studio.proxy.add(Rule("PUT", ".*", status=503, times=10_000))
    report = studio.run()
    assert report.status == "failed" and "InjectedFault" in report.error
    assert report.counts.get("failed", 0) < total  # it stopped early instead of failing every file
    studio.proxy.clear()
    again = studio.run()
    assert again.status == "ok"
    assert again.counts.get("uploaded", 0) + again.counts.get("skipped", 0) == total
    assert len(studio.objects()) == total


def test_a_stopped_run_resumes_without_resending_what_landed(studio):
    report = studio.run(should_stop=lambda: _count(studio))
    assert report.status == "stopped"
    landed = {k for k, v in studio.rows().items() if v is not None}
    unknown = {k for k, v in studio.rows().items() if v is None}
    assert landed and len(landed) < FILES
    studio.proxy.clear()
    resumed = studio.run()
    assert resumed.status == "ok"
    put_keys = {path.split("/studio/", 1)[1].split("?")[0] for _, path, _ in studio.requests("PUT")}
    assert not put_keys & landed  # nothing that was recorded went again
    heads = {path.split("/studio/", 1)[1] for _, path, _ in studio.requests("HEAD")}
    assert heads - put_keys <= unknown  # beyond the confirmations, only keys left in flight were checked
    assert len(studio.objects()) == FILES and all(v is not None for v in studio.rows().values())


def _count(studio) -> bool:
    """Stop once a few results are recorded (the executor commits as it goes)."""
    with closing(sqlite3.connect(studio.catalog_path)) as conn:
        return conn.execute("SELECT count(*) FROM mirror_objects WHERE hash IS NOT NULL").fetchone()[0] >= 6


def test_a_file_changed_after_hashing_is_not_recorded_as_mirrored(studio):
    path = studio.tree / "demo/sequences/sq010/notes.txt"
    path.write_bytes(b"edited after the scan hashed it")  # the catalog still holds the old hash
    report = studio.run()
    assert report.counts.get("changed") == 1
    assert studio.rows()["projects/demo/sequences/sq010/notes.txt"] is None
    studio.rescan()
    again = studio.run()
    assert again.counts == {"uploaded": 1}
    assert head(studio.fs, studio.target, "projects/demo/sequences/sq010/notes.txt").xxh3 == hash_file(path)


def test_a_move_whose_server_side_copy_fails_keeps_the_old_object(tmp_path, proxy):
    studio = Studio(tmp_path, proxy, delete="mirror")
    studio.run()
    os.rename(studio.tree / "demo/sequences/sq010/notes.txt", studio.tree / "demo/notes_moved.txt")
    studio.rescan()
    rule = proxy.add(Rule("PUT", r"notes_moved\.txt", status=503, times=10_000))
    failed = studio.run()
    assert failed.status == "incomplete" and failed.counts == {"failed": 1} and rule.hits >= 1
    assert studio.requests("DELETE") == []
    assert "projects/demo/sequences/sq010/notes.txt" in studio.objects()  # the only copy of it in the bucket
    proxy.rules.clear()
    again = studio.run()
    assert again.counts == {"copied": 1, "deleted": 1}, again.failures
    objects = studio.objects()
    assert "projects/demo/notes_moved.txt" in objects and "projects/demo/sequences/sq010/notes.txt" not in objects


def test_a_renamed_shot_is_not_a_mass_deletion_when_its_retention_ends(tmp_path, proxy):
    studio = Studio(tmp_path, proxy, delete="retain", retain_days=3, max_delete=2)
    now = [time.time_ns()]
    studio.run(clock=lambda: now[0])
    shots = studio.tree / "demo/sequences/sq010"
    os.rename(shots / "sh0010", shots / "sh0030")
    studio.rescan()
    moved = studio.run(clock=lambda: now[0])
    assert moved.counts == {"copied": 8} and not moved.plan.held  # the old keys are marked, kept 3 days
    now[0] += 4 * DAY_NS
    due = studio.run(clock=lambda: now[0])
    assert due.counts == {"deleted": 8} and not due.plan.held, due.plan.held_reason
    (studio.tree / "demo/sequences/sq010/notes.txt").unlink()
    os.rename(shots / "sh0030", studio.tree / "demo/elsewhere_by_mistake")
    for path in (studio.tree / "demo/elsewhere_by_mistake").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes() + b" edited")  # new content: the old objects hold the only copy
    studio.rescan()
    studio.run(clock=lambda: now[0])
    now[0] += 4 * DAY_NS
    lost = studio.run(clock=lambda: now[0])
    assert len(lost.plan.held) == 9 and "9 deletions held back" in lost.plan.held_reason


@pytest.mark.parametrize("policy", ["keep", "mirror"])
def test_a_move_whose_old_object_is_gone_from_the_bucket_is_uploaded_by_the_next_run(tmp_path, proxy, policy):
    studio = Studio(tmp_path, proxy, delete=policy)
    studio.run()
    old = "projects/demo/sequences/sq010/notes.txt"
    remove(studio.fs, studio.target, old)  # a lifecycle rule, or a hand in the console
    os.rename(studio.tree / old.split("/", 1)[1], studio.tree / "demo/notes_moved.txt")
    studio.rescan()
    first = studio.run()
    assert first.status == "incomplete" and first.counts.get("failed") == 1  # the copy had no source
    assert old not in studio.rows()  # forgotten: not a copy source any more
    second = studio.run()
    assert second.counts == {"uploaded": 1}, second.failures
    assert "projects/demo/notes_moved.txt" in studio.objects()
    assert studio.run().status == "nothing"


@pytest.mark.parametrize("policy", ["keep", "mirror", "retain"])
def test_deletions_follow_the_policy(tmp_path, proxy, policy):
    settings = {"delete": policy, **({"retain_days": 3} if policy == "retain" else {})}
    studio = Studio(tmp_path, proxy, **settings)
    now = [time.time_ns()]
    studio.run(clock=lambda: now[0])
    gone = "projects/demo/sequences/sq010/notes.txt"
    (studio.tree / gone.split("/", 1)[1]).unlink()
    studio.rescan()
    studio.run(clock=lambda: now[0])
    assert (gone in studio.objects()) is (policy != "mirror")
    now[0] += 2 * DAY_NS
    studio.run(clock=lambda: now[0])
    assert (gone in studio.objects()) is (policy != "mirror")
    now[0] += 1 * DAY_NS
    proxy.clear()
    report = studio.run(clock=lambda: now[0])
    assert (gone in studio.objects()) is (policy == "keep")
    assert report.counts == ({"deleted": 1} if policy == "retain" else {})
    assert (gone in studio.rows()) is (policy == "keep")


def test_multipart_upload_of_a_file_larger_than_the_part_size(studio):
    big = write(studio.tree / "demo/big.bin", os.urandom(11 * MIB + 5))
    studio.rescan()
    report = studio.run()
    assert report.status == "ok", report.failures
    remote = head(studio.fs, studio.target, "projects/demo/big.bin")
    assert remote.size == big.stat().st_size and remote.etag.endswith("-3") and remote.xxh3 == hash_file(big)
    uploads = [p for m, p, _ in studio.requests("POST") if "uploads" in p]
    assert uploads, "expected a multipart upload"


# -- verify and repair -------------------------------------------------------------------------


def test_verify_finds_missing_extra_and_wrong_hash_and_repair_fixes_them(tmp_path, proxy):
    from bifrostd.mirror.audit import audit, repair

    studio = Studio(tmp_path, proxy, delete="mirror")
    studio.run()
    prefix = f"{studio.bucket}/studio/"
    studio.fs.rm_file(prefix + "projects/demo/sequences/sq010/notes.txt")
    studio.fs.pipe_file(prefix + "projects/stray.bin", b"not ours")
    wrong = "projects/demo/sequences/sq010/sh0010/anim/work/sh0010_anim_v001.ma"
    studio.fs.pipe_file(prefix + wrong, b"x" * 59, Metadata={"bifrost-xxh3": "0" * 32})  # same size, wrong hash
    loaded, template_set = load(studio.config)
    transfer = Transfer(studio.fs, studio.target)
    with Catalog.open(studio.catalog_path, write=True) as catalog:
        state = MirrorState.of(catalog)
        report = audit(transfer, state, studio.target)
        assert {(p.kind, p.key) for p in report.problems} == {
            ("missing", "projects/demo/sequences/sq010/notes.txt"), ("extra", "projects/stray.bin"),
            ("wrong-hash", wrong)}
        deep = audit(transfer, state, studio.target, deep=True)
        assert ("wrong-hash", wrong) in {(p.kind, p.key) for p in deep.problems}
        fixed = repair(transfer, state, studio.target, report, locator(template_set))
        assert fixed.deleted == ("projects/stray.bin",) and fixed.run.counts == {"uploaded": 2}
        assert audit(transfer, state, studio.target, deep=True).ok


# -- the installed bifrostctl ------------------------------------------------------------------


def ctl(bifrostctl_bin, config, *args, code=0, json_out=True):
    done = subprocess.run([bifrostctl_bin, "--config", str(config), *args, *(["--json"] if json_out else [])],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == code, done.stderr + done.stdout
    return json.loads(done.stdout) if json_out else done


def test_bifrostctl_run_status_restore_in_place_and_to_a_folder(bifrostctl_bin, studio, tmp_path):
    ran = ctl(bifrostctl_bin, studio.config, "mirror", "run")
    assert ran["targets"][0]["counts"] == {"uploaded": FILES}
    status = ctl(bifrostctl_bin, studio.config, "mirror", "status")["targets"][0]
    assert status["pending_files"] == 0 and status["mirrored"]["objects"] == FILES and status["lag_s"] == 0
    assert status["last_run"]["status"] == "ok"
    originals = {p: p.read_bytes() for p in studio.tree.rglob("*") if p.is_file()}
    shot = studio.tree / "demo/sequences/sq010/sh0010"
    for path in [p for p in shot.rglob("*") if p.is_file()]:
        path.unlink()
    ctl(bifrostctl_bin, studio.config, "scan")
    assert ctl(bifrostctl_bin, studio.config, "mirror", "status")["targets"][0]["pending_files"] == 0
    restored = ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3", "bifrost:///shot/demo/sq010/sh0010")
    assert restored["counts"] == {"downloaded": 8} and restored["rescanned"]["scanned"]
    assert {p: p.read_bytes() for p in studio.tree.rglob("*") if p.is_file()} == originals
    assert ctl(bifrostctl_bin, studio.config, "status")["files"] == {"present": FILES}
    elsewhere = tmp_path / "elsewhere"
    ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3", "--to", str(elsewhere))
    copies = {p.relative_to(elsewhere / "projects"): p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()}
    assert copies == {p.relative_to(studio.tree): data for p, data in originals.items()}


def test_bifrostctl_holds_back_a_mass_deletion_until_allowed(bifrostctl_bin, tmp_path, proxy):
    studio = Studio(tmp_path, proxy, delete="mirror", max_delete=3)
    ctl(bifrostctl_bin, studio.config, "mirror", "run")
    shot = studio.tree / "demo/sequences/sq010/sh0010"
    doomed = sorted(f"projects/{p.relative_to(studio.tree)}" for p in shot.rglob("*") if p.is_file())
    for path in [p for p in shot.rglob("*") if p.is_file()]:
        path.unlink()
    ctl(bifrostctl_bin, studio.config, "scan")
    planned = ctl(bifrostctl_bin, studio.config, "mirror", "run", "--dry-run", code=1)["targets"][0]
    assert sorted(d["key"] for d in planned["held"]) == doomed and planned["counts"]["delete"] == 0
    proxy.clear()
    held = ctl(bifrostctl_bin, studio.config, "mirror", "run", code=1)["targets"][0]
    assert held["status"] == "incomplete" and held["held"] == len(doomed) == 8
    assert "8 deletions held back" in held["held_reason"] and "--allow-deletions" in held["held_reason"]
    assert studio.requests("DELETE") == [] and set(doomed) <= set(studio.objects())
    status = ctl(bifrostctl_bin, studio.config, "mirror", "status")["targets"][0]
    assert "deletions held back" in status["last_run"]["error"]
    assert status["held_deletes"] == status["pending_deletes"] == 8
    text = ctl(bifrostctl_bin, studio.config, "mirror", "run", code=1, json_out=False)
    assert "8 deletions held back" in text.stderr  # every run says so again, until allowed
    misuse = ctl(bifrostctl_bin, studio.config, "mirror", "run", "--due", "--allow-deletions", code=2, json_out=False)
    assert "without --due" in misuse.stderr
    allowed = ctl(bifrostctl_bin, studio.config, "mirror", "run", "s3", "--allow-deletions")["targets"][0]
    assert allowed["status"] == "ok" and allowed["counts"] == {"deleted": 8}
    assert not set(doomed) & set(studio.objects()) and len(studio.objects()) == FILES - 8
    assert ctl(bifrostctl_bin, studio.config, "mirror", "run")["targets"][0]["status"] == "nothing"
    assert ctl(bifrostctl_bin, studio.config, "mirror", "status")["targets"][0]["held_deletes"] == 0


def test_repair_after_the_catalog_was_rebuilt_does_not_empty_the_bucket(bifrostctl_bin, tmp_path, proxy):
    studio = Studio(tmp_path, proxy, delete="mirror", max_delete=5)
    ctl(bifrostctl_bin, studio.config, "mirror", "run")
    for path in studio.catalog_path.parent.glob("catalog.db*"):
        path.unlink()  # the state folder was lost: the new catalog knows no mirrored object
    gone = "projects/demo/sequences/sq010/notes.txt"
    (studio.tree / gone.split("/", 1)[1]).unlink()
    ctl(bifrostctl_bin, studio.config, "scan")
    proxy.clear()
    checked = ctl(bifrostctl_bin, studio.config, "mirror", "verify", "s3", "--repair", code=1)
    assert len([p for p in checked["problems"] if p["kind"] == "extra"]) == FILES
    assert f"{FILES} deletions held back" in checked["repair"]["held_reason"]
    assert "mirror verify s3 --repair --allow-deletions" in checked["repair"]["held_reason"]
    assert studio.requests("DELETE") == [] and len(studio.objects()) == FILES
    assert [p["key"] for p in checked["after"]["problems"]] == [gone]  # the rest was sent again, to the same keys
    misuse = ctl(bifrostctl_bin, studio.config, "mirror", "verify", "s3", "--allow-deletions", code=2, json_out=False)
    assert "--repair" in misuse.stderr
    fixed = ctl(bifrostctl_bin, studio.config, "mirror", "verify", "s3", "--repair", "--allow-deletions")
    assert fixed["repair"]["deleted"] == [gone] and fixed["ok"] and gone not in studio.objects()


def test_bifrostctl_restore_never_overwrites_a_newer_local_file_without_force(bifrostctl_bin, studio):
    ctl(bifrostctl_bin, studio.config, "mirror", "run")
    path = studio.tree / "demo/sequences/sq010/notes.txt"
    original = path.read_bytes()
    path.write_bytes(b"newer work, saved after the mirror ran")
    refused = ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3", "projects:demo/sequences/sq010/notes.txt",
                  code=1)
    assert refused["counts"] == {"refused": 1} and path.read_bytes() != original
    forced = ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3", str(path), "--force")
    assert forced["counts"] == {"downloaded": 1} and path.read_bytes() == original


def test_bifrostctl_restore_dry_run_counts_what_the_real_run_does_and_fetches_nothing(bifrostctl_bin, studio):
    ctl(bifrostctl_bin, studio.config, "mirror", "run")
    shot = studio.tree / "demo/sequences/sq010/sh0010"
    gone = [p for p in shot.rglob("*") if p.is_file()]
    for path in gone:
        path.unlink()
    studio.proxy.clear()
    planned = ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3", "--dry-run")
    assert planned["counts"] == {"downloaded": len(gone), "skipped": FILES - len(gone)}
    assert [p for _, p, _ in studio.requests("GET") if "/studio/" in p] == []  # no object was fetched
    assert not [p for p in gone if p.exists()]
    restored = ctl(bifrostctl_bin, studio.config, "mirror", "restore", "s3")
    assert restored["counts"] == planned["counts"] and restored["bytes"] == planned["bytes"]
    assert all(p.exists() for p in gone)


def test_bifrostctl_killed_mid_run_resumes_without_resending(bifrostctl_bin, tmp_path, proxy):
    studio = Studio(tmp_path, proxy, concurrency=2)
    for n in range(150):
        write(studio.tree / f"demo/many/f{n:03d}.bin", os.urandom(2000))
    studio.rescan()
    total = FILES + 150
    proc = subprocess.Popen([bifrostctl_bin, "--config", str(studio.config), "mirror", "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if studio.catalog_path.exists() and _recorded(studio) >= 30:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    rows = studio.rows()
    landed = {k for k, v in rows.items() if v is not None}
    unknown = {k for k, v in rows.items() if v is None}
    assert 30 <= len(landed) < total, "the run should have been killed mid-way"
    proxy.clear()
    resumed = studio.run()
    assert resumed.status == "ok", resumed.failures
    assert resumed.counts.get("uploaded", 0) + resumed.counts.get("skipped", 0) == total - len(landed)
    put_keys = {p.split("/studio/", 1)[1].split("?")[0] for _, p, _ in studio.requests("PUT")}
    assert not put_keys & landed
    assert {p.split("/studio/", 1)[1] for _, p, _ in studio.requests("HEAD")} - put_keys <= unknown
    assert len(studio.objects()) == total


def _recorded(studio) -> int:
    try:
        with closing(sqlite3.connect(f"file:{studio.catalog_path}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT count(*) FROM mirror_objects WHERE hash IS NOT NULL").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_run_due_targets_follows_the_schedule(tmp_path, proxy):
    from bifrostd.config import load_config
    from bifrostd.mirror.runner import next_due, run_due_targets

    studio = Studio(tmp_path, proxy, schedule="1h")
    config = load_config(studio.config)
    start = time.time()
    with Catalog.open(studio.catalog_path, write=True) as catalog:
        first = run_due_targets(config, catalog, start)  # never ran: due at once
        assert [r.counts for r in first] == [{"uploaded": FILES}]
        assert run_due_targets(config, catalog, start + 60) == []
        due = next_due(parse_targets(config.mirror).values(), MirrorState.of(catalog), start + 60)
        assert start + 3500 < due < start + 3700
        proxy.clear()
        again = run_due_targets(config, catalog, due + 1)
        assert [r.status for r in again] == ["nothing"] and proxy.log == []


def test_restore_into_an_empty_folder_sends_no_head(tmp_path, proxy):
    studio = Studio(tmp_path, proxy, part_size="5MiB")
    write(studio.tree / "demo/big.bin", os.urandom(11 * MIB))  # three ranged GETs
    studio.rescan()
    assert studio.run().status == "ok"
    from bifrostd.mirror.backends import listing
    from bifrostd.mirror.recovery import restore, select

    transfer = Transfer(studio.fs, studio.target)
    dest = tmp_path / "restored"
    proxy.clear()
    items, _ = select((o for o, _ in listing(studio.fs, studio.target)), {}, dest_for=lambda key: dest / key,
                      target=studio.target)
    counts, received, problems, _ = restore(transfer, items)
    assert counts == {"downloaded": FILES + 1} and not problems
    assert studio.requests("HEAD") == []
    object_gets = [p for _, p, _ in studio.requests("GET") if "/studio/" in p]
    assert len(object_gets) == FILES + 1 + 2  # one GET per object, three for the 11 MiB one
    for path in studio.tree.rglob("*"):
        if path.is_file():
            assert (dest / "projects" / path.relative_to(studio.tree)).read_bytes() == path.read_bytes()


def test_a_run_cut_short_by_a_kill_is_marked_interrupted_and_due_again_at_once(tmp_path, proxy):
    from bifrostd.config import load_config
    from bifrostd.mirror.runner import due_targets

    studio = Studio(tmp_path, proxy, schedule="1h")
    targets = parse_targets(load_config(studio.config).mirror).values()
    start = time.time()
    with Catalog.open(studio.catalog_path, write=True) as catalog:
        state = MirrorState.of(catalog)
        state.begin_run("s3", source="daemon", planned={"upload": FILES})  # the writer is killed here
        assert due_targets(targets, state, start + 60) == []  # a run in progress is not started twice
    with Catalog.open(studio.catalog_path, write=True) as catalog:  # the next writer
        state = MirrorState.of(catalog)
        assert state.last_run("s3").status == "interrupted"
        assert [t.name for t in due_targets(targets, state, start + 60)] == ["s3"]  # not in an hour
