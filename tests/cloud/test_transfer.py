"""Transfers against real emulators: round trips, multipart, metadata, changes mid-upload, copies, restores."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import pytest

from bifrostd.observe.hashing import hash_file
from bifrostd.mirror import CopyItem, Expected, Outcome, Transfer, UploadItem, verify
from bifrostd.mirror.backends import head

MIB = 1 << 20


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def item_for(path: Path, key: str) -> UploadItem:
    st = os.stat(path)
    return UploadItem(path, key, st.st_size, st.st_mtime_ns, st.st_ino, hash_file(path))


def test_round_trip_byte_for_byte(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    files = {
        "projects/show/sq010/sh010/comp_v001.1001.exr": os.urandom(300_000),
        "projects/show/sq010/sh010/empty.txt": b"",
        "projects/show/assets/chr/hero/model_v003.usd": os.urandom(11 * MIB + 17),  # 3 parts of 5 MiB
    }
    items = [item_for(write(tmp_path / "src" / key, data), key) for key, data in files.items()]
    summary = transfer.upload_many(items)
    assert summary.count(Outcome.UPLOADED) == 3, summary.failures
    assert summary.bytes == sum(map(len, files.values()))

    for item in items:
        remote = head(fs, target, item.key)
        assert remote.size == item.size
        if target.protocol != "file" or remote.xxh3 is not None:  # file:// keeps it in an xattr when it can
            assert remote.xxh3 == item.xxh3
            assert remote.mtime_ns == item.mtime_ns
        dest = tmp_path / "restore" / item.key
        result = transfer.download(item.key, dest)
        assert result.outcome is Outcome.DOWNLOADED, result.error
        assert dest.read_bytes() == files[item.key]
        assert os.stat(dest).st_mtime_ns == item.mtime_ns  # the original mtime comes back too
    assert not [p for p in (tmp_path / "restore").rglob(".bifrost-tmp-*")]

    report = verify(fs, target, {i.key: Expected(i.size, i.xxh3) for i in items}, deep=True)
    assert report.ok, report.problems


def test_second_run_skips_what_landed(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    item = item_for(write(tmp_path / "a.bin", os.urandom(1000)), "a.bin")
    assert transfer.upload(item).outcome is Outcome.UPLOADED
    again = transfer.upload(item)  # e.g. a run killed before the catalog recorded the first one
    assert again.outcome is Outcome.SKIPPED and again.bytes == 0


def test_s3_multipart_etag(s3_bucket, tmp_path):
    fs, target = s3_bucket
    data = os.urandom(12 * MIB)  # >= 2 parts of 5 MiB: multipart, parts 5 + 5 + 2 MiB
    item = item_for(write(tmp_path / "big.bin", data), "big.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.UPLOADED, result.error
    parts = [data[i:i + target.part_size] for i in range(0, len(data), target.part_size)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    assert result.etag == expected
    small = item_for(write(tmp_path / "small.bin", data[: 6 * MIB]), "small.bin")  # < 2 parts: one PUT
    assert Transfer(fs, target).upload(small).etag == hashlib.md5(data[: 6 * MIB]).hexdigest()


@pytest.mark.parametrize("size", [3 * MIB, 12 * MIB], ids=["single", "multipart"])
def test_file_changed_during_upload_is_reported_and_not_committed(bucket, tmp_path, size):
    fs, target = bucket
    path = write(tmp_path / "render.exr", os.urandom(size))
    item = item_for(path, "render.exr")
    chunks = []

    def artist_saves_again(n: int) -> None:  # runs between two reads of the upload
        chunks.append(n)
        if len(chunks) == 2:
            with open(path, "r+b") as f:
                f.seek(size - 10)
                f.write(b"0123456789")

    result = Transfer(fs, target).upload(item, progress=artist_saves_again)
    assert result.outcome is Outcome.CHANGED
    assert not result.ok
    assert head(fs, target, "render.exr") is None  # nothing torn, nothing stale at the final key


def test_file_appended_by_another_thread(bucket, tmp_path):
    fs, target = bucket
    path = write(tmp_path / "cache.abc", os.urandom(8 * MIB))
    item = item_for(path, "cache.abc")
    started = threading.Event()

    def writer() -> None:
        started.wait(10)
        with open(path, "ab") as f:
            f.write(b"more frames")

    thread = threading.Thread(target=writer)
    thread.start()
    result = Transfer(fs, target).upload(item, progress=lambda n: started.set())
    thread.join()
    # The append lands during or after the upload: never a clean UPLOADED of a file that moved on.
    assert result.outcome is Outcome.CHANGED, result


def test_file_changed_since_hashing_is_not_sent(bucket, tmp_path):
    fs, target = bucket
    path = write(tmp_path / "a.txt", b"v1")
    item = item_for(path, "a.txt")
    os.utime(path, ns=(item.mtime_ns + 10**9, item.mtime_ns + 10**9))
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.CHANGED and result.bytes == 0


def test_server_side_copy(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    item = item_for(write(tmp_path / "old/name.exr", os.urandom(70_000)), "old/name.exr")
    assert transfer.upload(item).ok
    result = transfer.copy(CopyItem("old/name.exr", "new/name.exr", item.size, item.xxh3))
    assert result.outcome is Outcome.COPIED, result.error
    assert result.bytes == 0
    copied = head(fs, target, "new/name.exr")
    assert copied.size == item.size
    if target.protocol != "file" or copied.xxh3 is not None:
        assert copied.xxh3 == item.xxh3  # metadata travels with the server-side copy
    missing = transfer.copy(CopyItem("nope.exr", "x.exr", 1, "0" * 32))
    assert missing.outcome is Outcome.FAILED and missing.attempts == 1  # permanent: not retried


def test_download_refuses_to_overwrite_newer_local_file(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    src = write(tmp_path / "src/shot.nk", b"mirrored version")
    item = item_for(src, "shot.nk")
    assert transfer.upload(item).ok

    dest = write(tmp_path / "restore/shot.nk", b"saved after the mirror run")
    os.utime(dest, ns=(item.mtime_ns + 10**9, item.mtime_ns + 10**9))
    refused = transfer.download("shot.nk", dest)
    assert refused.outcome is Outcome.REFUSED
    assert dest.read_bytes() == b"saved after the mirror run"

    forced = transfer.download("shot.nk", dest, force=True)
    assert forced.outcome is Outcome.DOWNLOADED
    assert dest.read_bytes() == b"mirrored version"
    assert transfer.download("shot.nk", dest).outcome is Outcome.SKIPPED  # already identical

    older = write(tmp_path / "restore/older.nk", b"stale")
    os.utime(older, ns=(item.mtime_ns - 10**9, item.mtime_ns - 10**9))
    assert transfer.download("shot.nk", older).outcome is Outcome.DOWNLOADED


def test_download_rejects_content_with_the_wrong_hash(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    item = item_for(write(tmp_path / "src/a.bin", b"content"), "a.bin")
    assert transfer.upload(item).ok
    dest = tmp_path / "restore/a.bin"
    result = transfer.download("a.bin", dest, expected_xxh3="f" * 32)
    assert result.outcome is Outcome.FAILED and "expected" in result.error
    assert not dest.exists() and not list(dest.parent.iterdir())  # no partial file, no temp left


def test_verify_reports_missing_extra_and_wrong(bucket, tmp_path):
    fs, target = bucket
    transfer = Transfer(fs, target)
    items = [item_for(write(tmp_path / f"src/{n}.bin", os.urandom(100 + n)), f"d/{n}.bin") for n in range(4)]
    assert transfer.upload_many(items).count(Outcome.UPLOADED) == 4
    expected = {i.key: Expected(i.size, i.xxh3) for i in items}
    expected["d/gone.bin"] = Expected(5, "0" * 32)  # catalog says mirrored; bucket lost it
    del expected["d/3.bin"]  # in the bucket, unknown to the catalog
    expected["d/1.bin"] = Expected(items[1].size, "1" * 32)  # hash disagrees
    expected["d/2.bin"] = Expected(items[2].size + 1, items[2].xxh3)  # size disagrees
    report = verify(fs, target, expected)
    assert report.of("missing") == ["d/gone.bin"]
    assert report.of("extra") == ["d/3.bin"]
    assert report.of("wrong-hash") == ["d/1.bin"]
    assert report.of("wrong-size") == ["d/2.bin"]
    assert report.checked == 3
    deep = verify(fs, target, {"d/0.bin": (items[0].size, items[0].xxh3)}, deep=True)
    assert deep.of("extra") == ["d/1.bin", "d/2.bin", "d/3.bin"] and not deep.of("wrong-hash")


def test_logs_and_repr_hold_no_credentials(s3_bucket, tmp_path, caplog):
    fs, target = s3_bucket
    caplog.set_level(logging.DEBUG)  # every library at its most verbose
    path = write(tmp_path / "a.bin", b"x")
    good = item_for(path, "a.bin")
    bad = UploadItem(path, "b.bin", good.size, good.mtime_ns, good.inode, "0" * 32)  # logs a CHANGED line
    summary = Transfer(fs, target).upload_many([good, bad])
    assert summary.count(Outcome.UPLOADED) == 1 and summary.count(Outcome.CHANGED) == 1
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    assert secret not in repr(target) and secret not in caplog.text
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bifrostd")]
    assert any("b.bin changed" in line for line in ours)
    assert not any(os.environ["AWS_ACCESS_KEY_ID"] in line for line in ours)


def test_az_repr_and_redact_hide_connection_strings(azurite):
    from bifrostd.mirror import redact_options
    from bifrostd.redaction import redact_credentials

    assert "Eby8vdM02" not in redact_credentials(azurite)
    assert redact_options({"connection_string": azurite, "nested": {"url": "https://u:pw@host/x"}}) == {
        "connection_string": "***", "nested": {"url": "https://u:***@host/x"}}


def test_download_of_an_object_deleted_since_the_listing_fails_cleanly(bucket, tmp_path):
    from bifrostd.mirror.backends import RemoteObject

    fs, target = bucket
    transfer = Transfer(fs, target)
    listed = RemoteObject("gone.bin", 10)  # what a listing said before someone deleted the object
    result = transfer.download("gone.bin", tmp_path / "restored" / "gone.bin", listed=listed)
    assert result.outcome is Outcome.FAILED and result.error == "not in the bucket"
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())
