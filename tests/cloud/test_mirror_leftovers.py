"""What a `bifrostctl mirror run` killed with SIGKILL mid-upload leaves at its target, and who cleans it.

A folder target keeps the writer's ``.bifrost-tmp-*`` file; S3 keeps an
incomplete multipart upload (billed for its parts, in no listing). The kill
is made to land mid-transfer on purpose: the target's bandwidth cap makes the
big file take seconds, and the test kills only once it sees the temp file
grow or the upload hold a part. Then ``verify`` reports the leftover, the
next runs complete and remove it once nothing has written to it for the
safe age, and ``verify --deep`` is clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bifrostd.catalog import Catalog
from bifrostd.catalog.mirror_state import MirrorState
from bifrostd.mirror import open_filesystem, parse_target
from bifrostd.mirror.leftovers import LEFTOVER_IDLE_NS
from bifrostd.mirror.runner import locator, run_target

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio_tree import age_tree, ctl, ctl_json, load, make_tree, scan, write, write_config  # noqa: E402

MIB = 1 << 20
BIG = 24 * MIB  # about 5 s at the cap: the kill lands mid-file whatever the machine's load
# one transfer at a time: when the big file's temp grows, it is the only one
SETTINGS = {"part_size": "5MiB", "bandwidth": "4MiB/s", "concurrency": 1, "retries": 1, "backoff": 0.01}


def _studio(tmp_path: Path, settings: dict) -> Path:
    tree = tmp_path / "projects"
    make_tree(tree, shots=1, versions=1, frames=2)
    write(tree / "demo/plate.bin", os.urandom(BIG))
    age_tree(tree)
    config = write_config(tmp_path, tree)
    with config.open("a") as out:
        out.write("mirror:\n  targets:\n    t: " + json.dumps({**SETTINGS, **settings}) + "\n")
    scan(config)
    return config


def _kill_when(bifrostctl_bin: str, config: Path, seen, timeout: float = 60.0):
    """Start `mirror run`, SIGKILL it as soon as ``seen()`` returns something, and return that."""
    proc = subprocess.Popen([bifrostctl_bin, "--config", str(config), "mirror", "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        found = None
        while found is None and proc.poll() is None and time.monotonic() < deadline:
            found = seen()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert found is not None and proc.returncode == -signal.SIGKILL, "the run ended before it was seen mid-upload"
    return found


def test_a_killed_run_to_a_folder_leaves_a_temp_file_verify_reports_and_a_later_run_removes(bifrostctl_bin,
                                                                                           tmp_path):
    bucket = tmp_path / "bucket"
    config = _studio(tmp_path, {"url": f"file://{bucket}"})
    final = bucket / "projects/demo/plate.bin"

    def growing_temp():
        for temp in bucket.rglob(".bifrost-tmp-*"):
            try:
                if temp.stat().st_size > MIB:  # the big file's (a small file's temp is renamed at once)
                    return temp
            except FileNotFoundError:
                pass
        return None

    temp = _kill_when(bifrostctl_bin, config, growing_temp)
    assert temp.parent == final.parent and not final.exists() and MIB < temp.stat().st_size < BIG

    found = ctl_json(bifrostctl_bin, config, "mirror", "verify", "t", code=1)
    leftovers = found["leftovers"]
    assert leftovers["count"] == 1 and leftovers["bytes"] == temp.stat().st_size
    (item,) = leftovers["items"]
    assert item["kind"] == "temp-file" and item["key"] == f"projects/demo/{temp.name}" and item["age_s"] >= 0
    assert found["problems"] == [] and not found["ok"]
    text = ctl(bifrostctl_bin, config, "mirror", "verify", "t", code=1).stdout
    assert f"temp file projects/demo/{temp.name}" in text and "1 leftover(s) of interrupted writes" in text

    resumed = ctl_json(bifrostctl_bin, config, "mirror", "run")["targets"][0]
    assert resumed["status"] == "ok" and resumed["counts"]["uploaded"] >= 1, resumed
    assert resumed["counts"]["leftovers_left"] == 1 and temp.exists()  # written seconds ago: kept, for now
    assert final.stat().st_size == BIG

    stamp = time.time_ns() - LEFTOVER_IDLE_NS - 60 * 10**9
    os.utime(temp, ns=(stamp, stamp))  # nothing has written to it for longer than the safe age
    swept = ctl_json(bifrostctl_bin, config, "mirror", "run")["targets"][0]
    assert swept["status"] == "nothing" and swept["counts"] == {"leftovers_removed": 1}, swept
    assert not temp.exists()
    assert ctl_json(bifrostctl_bin, config, "mirror", "verify", "t", "--deep")["ok"]
    assert ctl_json(bifrostctl_bin, config, "mirror", "run")["targets"][0]["counts"] == {}  # nothing left to look for


def test_a_killed_run_to_s3_leaves_a_multipart_upload_verify_reports_and_a_later_run_aborts(bifrostctl_bin,
                                                                                            tmp_path, s3_port):
    bucket = f"k-{uuid.uuid4().hex[:12]}"
    settings = {"url": f"s3://{bucket}/studio", "endpoint_url": f"http://127.0.0.1:{s3_port}"}
    config = _studio(tmp_path, settings)
    target = parse_target("t", {**SETTINGS, **settings})
    fs = open_filesystem(target)
    fs.mkdir(bucket)

    def uploads() -> list[dict]:
        return fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix="studio/").get("Uploads", [])

    def upload_with_a_part():
        for upload in uploads():
            parts = fs.call_s3("list_parts", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            if parts.get("Parts"):
                return upload, sum(p["Size"] for p in parts["Parts"])
        return None

    upload, stored = _kill_when(bifrostctl_bin, config, upload_with_a_part)
    assert upload["Key"] == "studio/projects/demo/plate.bin" and stored >= 5 * MIB
    assert not fs.exists(f"{bucket}/studio/projects/demo/plate.bin")

    found = ctl_json(bifrostctl_bin, config, "mirror", "verify", "t", code=1)
    (item,) = found["leftovers"]["items"]
    assert item["kind"] == "multipart-upload" and item["key"] == "projects/demo/plate.bin"
    assert item["bytes"] >= stored and item["upload_id"] == upload["UploadId"] and 0 <= item["age_s"] < 600
    assert found["leftovers"]["count"] == 1 and found["problems"] == [] and not found["ok"]

    resumed = ctl_json(bifrostctl_bin, config, "mirror", "run")["targets"][0]
    assert resumed["status"] == "ok" and resumed["counts"]["uploaded"] >= 1, resumed
    assert resumed["counts"]["leftovers_left"] == 1  # its last part landed seconds ago: kept, for now
    assert [u["UploadId"] for u in uploads()] == [upload["UploadId"]]

    later = time.time_ns() + LEFTOVER_IDLE_NS + 60 * 10**9  # the catalog's clock: an hour and a minute on
    _, template_set = load(config)
    with Catalog.open(tmp_path / "state" / "catalog.db", write=True, clock=lambda: later) as catalog:
        swept = run_target(MirrorState.of(catalog), target, locator(template_set))
    assert swept.status == "nothing" and swept.counts == {"leftovers_removed": 1}, swept
    assert uploads() == []
    assert ctl_json(bifrostctl_bin, config, "mirror", "verify", "t", "--deep")["ok"]
