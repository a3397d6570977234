"""Server errors and dropped connections injected by a proxy in front of the S3 emulator."""

from __future__ import annotations

import os

import pytest

from bifrostd.mirror import CopyItem, Outcome, Transfer, open_filesystem
from bifrostd.mirror.backends import head

from .conftest import new_bucket
from .faultproxy import FaultProxy, Rule
from .test_transfer import MIB, item_for, write


@pytest.fixture
def proxy(s3_port):
    proxy = FaultProxy(s3_port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faulty(request, tmp_path, proxy):
    """A bucket reached through the proxy, and a direct filesystem to inspect it."""
    fs, target = new_bucket(request, "s3", tmp_path, endpoint_url=proxy.url, retries=3)
    return fs, target, proxy


def uploads_in_progress(fs, target) -> list:
    bucket = target.root.split("/", 1)[0]
    return fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("status", [503, 500], ids=["503", "500"])
def test_server_errors_are_retried(faulty, tmp_path, status):
    fs, target, proxy = faulty
    rule = proxy.add(Rule("PUT", r"/mirror/a\.bin", status=status, times=2))
    item = item_for(write(tmp_path / "a.bin", os.urandom(4096)), "a.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert result.attempts == 3 and rule.hits == 2  # no hidden retry layer below ours
    assert head(fs, target, "a.bin").xxh3 == item.xxh3


def test_dropped_connections_are_retried(faulty, tmp_path):
    fs, target, proxy = faulty
    # aiohttp itself resends an idempotent request once when a reused connection drops,
    # so four drops need at least two of our attempts.
    rule = proxy.add(Rule("PUT", r"/mirror/a\.bin", status=0, times=4))
    item = item_for(write(tmp_path / "a.bin", os.urandom(4096)), "a.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert result.attempts >= 2 and rule.hits == 4
    assert head(fs, target, "a.bin").xxh3 == item.xxh3


def test_failed_part_aborts_the_multipart_upload_and_the_retry_completes(faulty, tmp_path):
    fs, target, proxy = faulty
    proxy.add(Rule("PUT", r"partNumber=2", status=503, times=1))  # the second part fails once
    item = item_for(write(tmp_path / "big.bin", os.urandom(11 * MIB)), "big.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert result.attempts == 2
    assert any(method == "DELETE" and "uploadId=" in path for method, path, _ in proxy.log)  # the abort
    assert uploads_in_progress(fs, target) == []
    assert head(fs, target, "big.bin").size == item.size


def test_failed_commit_is_retried(faulty, tmp_path):
    fs, target, proxy = faulty
    proxy.add(Rule("POST", r"uploadId=", status=500, times=1))  # CompleteMultipartUpload
    item = item_for(write(tmp_path / "big.bin", os.urandom(11 * MIB)), "big.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert uploads_in_progress(fs, target) == []


def test_persistent_outage_is_a_per_file_failure(faulty, tmp_path):
    fs, target, proxy = faulty
    proxy.add(Rule("PUT", r"/mirror/broken/", status=503, times=10_000))
    items = [item_for(write(tmp_path / f"{d}/{n}.bin", os.urandom(2000)), f"{d}/{n}.bin")
             for d in ("ok", "broken") for n in range(3)]
    items.append(item_for(write(tmp_path / "broken/big.bin", os.urandom(11 * MIB)), "broken/big.bin"))
    summary = Transfer(fs, target).upload_many(items)  # never raises
    assert summary.count(Outcome.UPLOADED) == 3
    assert summary.count(Outcome.FAILED) == 4
    for failure in summary.failures:
        assert failure.key.startswith("broken/")
        assert failure.attempts == target.retries + 1
        assert "503" in failure.error or "Injected" in failure.error or "EBUSY" in failure.error or failure.error
    assert uploads_in_progress(fs, target) == []  # every abandoned multipart upload was aborted
    for n in range(3):
        assert head(fs, target, f"broken/{n}.bin") is None


def test_permanent_errors_are_not_retried(faulty, tmp_path):
    fs, target, proxy = faulty
    rule = proxy.add(Rule("PUT", r"/mirror/denied", status=403, times=10))
    item = item_for(write(tmp_path / "denied.bin", b"x"), "denied.bin")
    result = Transfer(fs, target).upload(item)
    assert result.outcome is Outcome.FAILED and result.attempts == 1 and rule.hits == 1


def test_missing_backend_gives_an_install_hint(monkeypatch):
    import sys

    from bifrostd.errors import PackageMissing
    from bifrostd.mirror import parse_target

    monkeypatch.setitem(sys.modules, "adlfs", None)  # what an uninstalled package looks like to import
    with pytest.raises(PackageMissing, match=r"needs the Python package adlfs.* -m pip install 'adlfs>="):
        open_filesystem(parse_target("az", {"url": "az://container/x"}))


@pytest.mark.parametrize(("size", "requests"), [
    (4096, ["PUT"]),  # one PUT, its ETag the MD5 of the body
    (11 * MIB, ["POST", "PUT", "PUT", "PUT", "POST"]),  # create, 3 parts, complete: md5-of-part-md5s-3
], ids=["single", "multipart"])
def test_an_s3_upload_confirmed_by_its_etag_sends_no_head(faulty, tmp_path, size, requests):
    fs, target, proxy = faulty
    item = item_for(write(tmp_path / "a.bin", os.urandom(size)), "a.bin")
    proxy.log.clear()  # the bucket's creation
    result = Transfer(fs, target).upload(item, check_existing=False)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert [method for method, _, _ in proxy.log] == requests
    landed = head(fs, target, "a.bin")
    assert (landed.size, landed.xxh3, landed.etag) == (size, item.xxh3, result.etag)


def test_an_etag_that_is_not_the_md5_falls_back_to_a_head(faulty, tmp_path):
    """Encrypted buckets (SSE-KMS, SSE-C) answer ETags that are not MD5s: confirm by HEAD instead."""
    from bifrostd.mirror import backends

    class OtherETags(backends._S3Writer):
        def commit(self):
            super().commit()
            return None  # what commit returns when the ETag does not match our MD5

    fs, target, proxy = faulty
    item = item_for(write(tmp_path / "a.bin", os.urandom(4096)), "a.bin")
    writer = OtherETags(fs, target.path_for("a.bin"), size=item.size, part_size=target.part_size,
                        extra={"Metadata": backends.object_metadata("s3", item.xxh3, item.mtime_ns)})
    transfer = Transfer(fs, target, writer=lambda *args, **kwargs: writer)
    proxy.log.clear()
    result = transfer.upload(item, check_existing=False)
    assert result.outcome is Outcome.UPLOADED, result.error
    assert [method for method, _, _ in proxy.log] == ["PUT", "HEAD"]


def uploaded(fs, target, tmp_path, key: str, size: int = 4096):
    item = item_for(write(tmp_path / key, os.urandom(size)), key)
    result = Transfer(fs, target).upload(item, check_existing=False)
    assert result.outcome is Outcome.UPLOADED, result.error
    return item, result.etag


def test_an_s3_copy_is_one_request_carrying_the_metadata(faulty, tmp_path):
    fs, target, proxy = faulty
    item, etag = uploaded(fs, target, tmp_path, "a.bin")
    proxy.log.clear()
    copy = CopyItem("a.bin", "b.bin", item.size, item.xxh3, mtime_ns=item.mtime_ns + 5, src_etag=etag)
    result = Transfer(fs, target).copy(copy)
    assert result.outcome is Outcome.COPIED and result.etag == etag, result.error
    assert [(method, path.rsplit("/", 1)[-1]) for method, path, _ in proxy.log] == [("PUT", "b.bin")]
    landed = head(fs, target, "b.bin")
    assert (landed.size, landed.xxh3, landed.mtime_ns, landed.etag) == (item.size, item.xxh3, item.mtime_ns + 5, etag)


@pytest.mark.parametrize(("size", "known"), [(4096, False), (11 * MIB, True)], ids=["etag-unknown", "multipart"])
def test_an_s3_copy_the_response_cannot_prove_is_confirmed_by_one_head(faulty, tmp_path, size, known):
    """Without the source's MD5 as ETag, the metadata comes from the source with the bytes, checked by a HEAD."""
    fs, target, proxy = faulty
    item, etag = uploaded(fs, target, tmp_path, "a.bin", size)
    proxy.log.clear()
    copy = CopyItem("a.bin", "b.bin", item.size, item.xxh3, mtime_ns=item.mtime_ns + 5, src_etag=etag if known else None)
    result = Transfer(fs, target).copy(copy)
    assert result.outcome is Outcome.COPIED, result.error
    assert [method for method, _, _ in proxy.log] == ["PUT", "HEAD"]
    landed = head(fs, target, "b.bin")
    assert (landed.size, landed.xxh3, landed.mtime_ns) == (item.size, item.xxh3, item.mtime_ns)


def test_an_s3_copy_answered_with_another_etag_is_made_again_with_the_source_metadata(faulty, tmp_path):
    """An encrypted bucket's ETags are not MD5s: our metadata in the copy would be unproven."""
    fs, target, proxy = faulty
    item, etag = uploaded(fs, target, tmp_path, "a.bin")
    proxy.log.clear()
    copy = CopyItem("a.bin", "b.bin", item.size, item.xxh3, mtime_ns=item.mtime_ns + 5, src_etag="f" * 32)
    result = Transfer(fs, target).copy(copy)
    assert result.outcome is Outcome.COPIED, result.error
    assert [method for method, _, _ in proxy.log] == ["PUT", "PUT", "HEAD"]
    assert head(fs, target, "b.bin").mtime_ns == item.mtime_ns  # the source's, as copied with its bytes


def test_after_one_unproven_copy_the_run_copies_with_the_source_metadata_and_a_head(faulty, tmp_path):
    """A bucket whose ETags are not MD5s answers every copy so: one try per run, then two requests a copy."""
    fs, target, proxy = faulty
    item, _ = uploaded(fs, target, tmp_path, "a.bin")
    transfer = Transfer(fs, target)
    proxy.log.clear()
    for n, requests in enumerate((["PUT", "PUT", "HEAD"], ["PUT", "HEAD"], ["PUT", "HEAD"])):
        copy = CopyItem("a.bin", f"b{n}.bin", item.size, item.xxh3, mtime_ns=item.mtime_ns + 5, src_etag="f" * 32)
        result = transfer.copy(copy)
        assert result.outcome is Outcome.COPIED, result.error
        assert [method for method, _, _ in proxy.log] == requests
        landed = head(fs, target, f"b{n}.bin")
        assert (landed.size, landed.xxh3, landed.mtime_ns) == (item.size, item.xxh3, item.mtime_ns)
        proxy.log.clear()
    fresh = Transfer(fs, target).copy(CopyItem("a.bin", "c.bin", item.size, item.xxh3, src_etag="f" * 32))
    assert fresh.outcome is Outcome.COPIED and [m for m, _, _ in proxy.log] == ["PUT", "PUT", "HEAD"]  # per run


def test_an_s3_copy_whose_source_vanished_fails_at_once(faulty, tmp_path):
    fs, target, proxy = faulty
    item, etag = uploaded(fs, target, tmp_path, "a.bin")
    fs.rm_file(target.path_for("a.bin"))
    proxy.log.clear()
    result = Transfer(fs, target).copy(CopyItem("a.bin", "b.bin", item.size, item.xxh3, src_etag=etag))
    assert result.outcome is Outcome.FAILED and result.attempts == 1  # permanent: not retried
    assert [method for method, _, _ in proxy.log] == ["PUT"]
    assert head(fs, target, "b.bin") is None


def test_a_gcs_copy_is_one_rewrite_confirmed_by_its_response(request, tmp_path):
    """The rewrite's resource reports size and the metadata copied with the bytes, as a HEAD would."""
    endpoint = request.getfixturevalue("gcs_endpoint")
    proxy = FaultProxy(int(endpoint.rsplit(":", 1)[1])).start()
    try:
        fs, target = new_bucket(request, "gs", tmp_path, endpoint_url=proxy.url)
        item = item_for(write(tmp_path / "a.bin", os.urandom(5000)), "a.bin")
        assert Transfer(fs, target).upload(item, check_existing=False).ok
        proxy.log.clear()
        result = Transfer(fs, target).copy(CopyItem("a.bin", "b.bin", item.size, item.xxh3))
        assert result.outcome is Outcome.COPIED, result.error
        assert [(method, "rewriteTo" in path) for method, path, _ in proxy.log] == [("POST", True)]
        assert head(fs, target, "b.bin").xxh3 == item.xxh3
    finally:
        proxy.stop()
