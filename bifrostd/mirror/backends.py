"""What differs between s3fs, gcsfs, adlfs and a local folder, in one place.

The rest of the mirror speaks of targets, keys and ``RemoteObject`` values; this
module opens the fsspec filesystem (lazily: nothing here imports a backend at
import time), opens a *writer* that can be committed or abandoned, reads an
object's size and Bifrost metadata back with one request, copies server-side,
and decides whether an exception is worth a retry.

Atomicity per backend (no torn object at a final key, ever):
- S3: a single PUT, or a multipart upload completed at commit; abandoning aborts it
  (``_S3Writer``, whose responses' ETags also confirm the content without a HEAD).
- GCS: a resumable session finalised by the last chunk; abandoning deletes the session.
- Azure: staged blocks made visible by one block-list commit; abandoned blocks are
  never committed and the service discards them.
- file://: written atomically (``bifrostd.atomic_write``: a temp name in the destination folder, fsync, rename).
fsspec's buffered files commit in ``close()`` *and* in ``__del__``, so an abandoned
writer is marked closed without committing (``_FsspecWriter.abandon``).
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bifrostd import packages
from bifrostd.atomic_write import TEMP_PREFIX, AtomicFile, open_folder_fd

from .targets import Target

__all__ = ["RemoteObject", "Writer", "check_backend", "head", "is_transient", "listing", "open_filesystem",
           "open_writer", "read_object", "remove"]

HASH_META = "bifrost-xxh3"
MTIME_META = "bifrost-mtime-ns"
XATTR_HASH = "user.bifrost.xxh3"
XATTR_MTIME = "user.bifrost.mtime_ns"


def is_temp_key(key: str) -> bool:
    """Whether ``key`` names a temp object of a write (or a restore) that never finished."""
    return key.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)


#: The package each protocol needs: fsspec is a core dependency, the others the extras s3, gcs and azure.
_BACKEND_MODULE = {"s3": "s3fs", "gs": "gcsfs", "az": "adlfs", "file": "fsspec"}


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """An object as the bucket reports it; ``xxh3``/``mtime_ns`` come from Bifrost's metadata."""

    key: str
    size: int
    xxh3: str | None = None
    mtime_ns: int | None = None
    etag: str | None = None


class Writer(Protocol):
    def write(self, data: memoryview) -> None: ...
    def commit(self) -> str | None: ...  # the ETag when the response itself confirms the content
    def abandon(self) -> None: ...


# -- metadata names ---------------------------------------------------------------------------
# Azure metadata names must be C# identifiers (no '-'), so the same values travel as
# bifrost_xxh3 / bifrost_mtime_ns there; S3 lower-cases names, GCS keeps them.


def meta_names(protocol: str) -> tuple[str, str]:
    if protocol == "az":
        return HASH_META.replace("-", "_"), MTIME_META.replace("-", "_")
    return HASH_META, MTIME_META


def object_metadata(protocol: str, xxh3: str, mtime_ns: int) -> dict[str, str]:
    hash_name, mtime_name = meta_names(protocol)
    meta = {hash_name: xxh3, mtime_name: str(mtime_ns)}
    if protocol == "az":
        meta["is_directory"] = "false"  # what adlfs writes on every blob; its listings rely on it
    return meta


def _from_metadata(protocol: str, key: str, size: int, meta: Mapping[str, Any] | None, etag: Any) -> RemoteObject:
    meta = {str(k).lower(): v for k, v in (meta or {}).items()}
    hash_name, mtime_name = meta_names(protocol)
    mtime = meta.get(mtime_name)
    return RemoteObject(
        key=key,
        size=int(size),
        xxh3=meta.get(hash_name),
        mtime_ns=int(mtime) if mtime is not None and str(mtime).isdigit() else None,
        etag=str(etag).strip('"') if etag else None,
    )


# -- opening ------------------------------------------------------------------------------------


def open_filesystem(target: Target) -> Any:
    """The fsspec filesystem for ``target``, with explicit timeouts and Bifrost owning retries.

    Backend-level retries are turned off where the backend allows it (botocore,
    s3fs) so that one retry policy, with jitter and a per-file count, applies;
    gcsfs and azure-core keep their built-in request retries (not configurable
    through fsspec).
    """
    _require(target)
    opener = {"s3": _open_s3, "gs": _open_gcs, "az": _open_azure, "file": _open_local}[target.protocol]
    return opener(target)


def check_backend(target: Target) -> None:
    """Raise ``PackageMissing`` if ``target``'s backend package is not installed, without importing it.

    Every run checks this, not only one that opens the bucket, so a missing
    package shows as the target's last error from the first run on.
    """
    packages.check(_BACKEND_MODULE[target.protocol], feature=_feature(target))


def _require(target: Target) -> None:
    if target.protocol == "gs":
        # Must precede the first gcsfs import: gcsfs >= 2026 otherwise probes every bucket
        # over gRPC for zonal/HNS layouts, which stalls ~60 s per call where unsupported.
        os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    packages.require(_BACKEND_MODULE[target.protocol], feature=_feature(target))


def _feature(target: Target) -> str:
    return f"mirror target {target.name!r} ({target.protocol}://)"


def _open_s3(target: Target) -> Any:
    import s3fs

    config: dict[str, Any] = {
        "connect_timeout": target.connect_timeout,
        "read_timeout": target.read_timeout,
        "retries": {"total_max_attempts": 1},
        "max_pool_connections": max(10, 2 * target.concurrency),
    }
    if target.endpoint_url and _botocore_has("request_checksum_calculation"):
        # Third-party S3 servers often reject botocore's default CRC trailers (botocore >= 1.36).
        config["request_checksum_calculation"] = "when_required"
        config["response_checksum_validation"] = "when_required"
    kwargs: dict[str, Any] = {"skip_instance_cache": True, "config_kwargs": config, "max_concurrency": 1}
    if target.endpoint_url:
        kwargs["endpoint_url"] = target.endpoint_url
    if target.region:
        kwargs["client_kwargs"] = {"region_name": target.region}
    if target.profile:
        kwargs["profile"] = target.profile
    if target.anonymous:
        kwargs["anon"] = True
    kwargs.update(target.options)
    fs = s3fs.S3FileSystem(**kwargs)
    fs.retries = 1  # one attempt per request: Bifrost's retry loop decides
    return fs


def _botocore_has(option: str) -> bool:
    from botocore.config import Config

    return option in getattr(Config, "OPTION_DEFAULTS", {})


def _open_gcs(target: Target) -> Any:
    from gcsfs.core import GCSFileSystem  # the plain class, never the zonal/HNS extension

    kwargs: dict[str, Any] = {
        "skip_instance_cache": True,
        "requests_timeout": target.read_timeout,
        "consistency": "md5",
    }
    if target.endpoint_url:
        kwargs["endpoint_url"] = target.endpoint_url
    if target.anonymous:
        kwargs["token"] = "anon"
    kwargs.update(target.options)
    return GCSFileSystem(**kwargs)


def _open_azure(target: Target) -> Any:
    import adlfs

    kwargs: dict[str, Any] = {
        "skip_instance_cache": True,
        "max_concurrency": 1,  # per blob; Bifrost runs files in parallel instead
        "timeout": int(target.read_timeout),
        "connection_timeout": int(target.connect_timeout),
        "read_timeout": int(target.read_timeout),
    }
    if target.anonymous:
        kwargs["anon"] = True
    kwargs.update(target.options)
    return adlfs.AzureBlobFileSystem(**kwargs)


def _open_local(target: Target) -> Any:
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem()


# -- writing --------------------------------------------------------------------------------------


def open_writer(fs: Any, target: Target, path: str, *, size: int, xxh3: str, mtime_ns: int) -> Writer:
    """A writer for one object whose content becomes visible at ``path`` only on ``commit()``."""
    meta = object_metadata(target.protocol, xxh3, mtime_ns)
    if target.protocol == "file":
        return _LocalWriter(path, xxh3, mtime_ns)
    if target.protocol == "s3":
        extra: dict[str, Any] = {"Metadata": meta}
        if target.storage_class:
            extra["StorageClass"] = target.storage_class
        return _S3Writer(fs, path, size=size, part_size=target.part_size, extra=extra)
    if target.protocol == "gs":
        if size == 0:
            return _PipeWriter(fs, path, {"metadata": meta})
        return _FsspecWriter(fs.open(path, "wb", block_size=target.part_size, metadata=meta))
    return _FsspecWriter(fs.open(path, "wb", block_size=target.part_size, metadata=meta))


class _S3Writer:
    """S3 objects sent with our own requests, so the commit's response can confirm the content.

    Below two parts the object goes in one PUT (cheaper than a multipart upload);
    otherwise each ``part_size`` bytes become a part of a multipart upload that
    only ``commit`` completes, and ``abandon`` aborts. The caller writes in pieces
    aligned to part boundaries, so every part but the last is exactly
    ``part_size``; memory is one part (or the one-PUT body) per writer.

    The MD5 of what is sent is computed on the way. S3 answers a PUT with the
    body's MD5 as ETag and a completed multipart upload with
    ``md5(part MD5s)-N``: when the answer matches, the object at the key is the
    bytes we sent, with the metadata sent in the same request, and no HEAD is
    needed. Encrypted buckets (SSE-KMS, SSE-C) answer other ETags; then
    ``commit`` returns None and the caller confirms with a HEAD as before.
    """

    def __init__(self, fs: Any, path: str, *, size: int, part_size: int, extra: dict[str, Any]) -> None:
        self.fs, self.extra, self.part_size = fs, extra, part_size
        self.bucket, self.key, _ = fs.split_path(path)
        self.single = size < 2 * part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.part_md5s: list[bytes] = []

    def write(self, data: memoryview) -> None:
        self.buffer += data
        while not self.single and len(self.buffer) >= self.part_size:
            self._send_part(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]

    def _send_part(self, data: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key,
                                             **self.extra)["UploadId"]
        number = len(self.parts) + 1
        out = self.fs.call_s3("upload_part", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                              PartNumber=number, Body=data)
        self.parts.append({"PartNumber": number, "ETag": out["ETag"]})
        self.part_md5s.append(hashlib.md5(data).digest())

    def commit(self) -> str | None:
        """Make the object visible; its ETag when the response proves the content, else None."""
        if self.single:
            body = bytes(self.buffer)
            out = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=body, **self.extra)
            expected = hashlib.md5(body).hexdigest()
        else:
            if self.buffer or not self.parts:
                self._send_part(bytes(self.buffer))
            out = self.fs.call_s3("complete_multipart_upload", Bucket=self.bucket, Key=self.key,
                                  UploadId=self.upload_id, MultipartUpload={"Parts": self.parts})
            expected = f"{hashlib.md5(b''.join(self.part_md5s)).hexdigest()}-{len(self.parts)}"
        self.buffer = bytearray()
        self.fs.invalidate_cache(f"{self.bucket}/{self.key}")  # s3fs's listing cache may hold the old object
        etag = str(out.get("ETag") or "").strip('"')
        return etag if etag == expected else None

    def abandon(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            try:
                self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            except Exception:  # the error that got us here matters more; the parts are never visible
                pass


class _FsspecWriter:
    def __init__(self, file: Any) -> None:
        self.file = file

    def write(self, data: memoryview) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.close()
        return None

    def abandon(self) -> None:
        try:
            self.file.discard()  # S3: abort the multipart upload; GCS: delete the session
        finally:
            self.file.closed = True  # so neither close() nor __del__ commits a partial object


class _PipeWriter:
    """Empty GCS objects: one upload with metadata."""

    def __init__(self, fs: Any, path: str, kwargs: dict[str, Any]) -> None:
        self.fs, self.path, self.kwargs = fs, path, kwargs

    def write(self, data: memoryview) -> None:
        if len(data):
            raise ValueError("an empty object got data")

    def commit(self) -> None:
        self.fs.pipe_file(self.path, b"", metadata=self.kwargs["metadata"])

    def abandon(self) -> None:
        pass


class _LocalWriter:
    """file:// targets: written atomically (``bifrostd.atomic_write``), with the hash and mtime as xattrs."""

    def __init__(self, path: str, xxh3: str, mtime_ns: int) -> None:
        self.file = AtomicFile(open_folder_fd(os.path.dirname(path), create=True), os.path.basename(path),
                               mode=0o644)
        self.xxh3, self.mtime_ns = xxh3, mtime_ns

    def write(self, data: memoryview) -> None:
        self.file.write(data)

    def commit(self) -> None:
        try:
            _set_xattrs(self.file.fd, {XATTR_HASH: self.xxh3, XATTR_MTIME: str(self.mtime_ns)})
        except BaseException:
            self.file.abandon()
            raise
        self.file.commit()

    def abandon(self) -> None:
        self.file.abandon()


def _set_xattrs(fd: int, values: Mapping[str, str]) -> None:
    """Best effort: a filesystem without user xattrs still mirrors; verify then needs --deep."""
    for name, value in values.items():
        try:
            os.setxattr(fd, name, value.encode())
        except (OSError, AttributeError):
            return


# -- reading back -----------------------------------------------------------------------------------


def head(fs: Any, target: Target, key: str) -> RemoteObject | None:
    """Size and Bifrost metadata of one object with one request, bypassing listing caches; None if absent."""
    path = target.path_for(key)
    try:
        if target.protocol == "file":
            return _head_local(path, key)
        if target.protocol == "s3":
            bucket, name, _ = fs.split_path(path)
            out = fs.call_s3("head_object", Bucket=bucket, Key=name)
            return _from_metadata("s3", key, out["ContentLength"], out.get("Metadata"), out.get("ETag"))
        fs.invalidate_cache(path)
        info = fs.info(path)
    except FileNotFoundError:
        return None
    if info.get("type") == "directory":
        return None
    etag = info.get("etag") or info.get("md5Hash")
    return _from_metadata(target.protocol, key, info["size"], info.get("metadata"), etag)


def read_object(fs: Any, target: Target, key: str, sink: Callable[[bytes], None], *,
                size_hint: int | None = None) -> RemoteObject | None:
    """Stream one object into ``sink``, at most ``part_size`` bytes at a time; what the bucket said of it.

    None if the object is absent. On S3 the GETs themselves carry size and
    metadata, so no HEAD is sent: an object the listing says fits in one part is
    one plain GET, a larger one ranged GETs pinned to the first response's ETag
    (an object replaced mid-read fails the attempt instead of mixing versions).
    Other backends read the metadata first, then stream.
    """
    if target.protocol == "s3":
        return _read_s3(fs, target, key, sink, size_hint)
    remote = head(fs, target, key)
    if remote is None:
        return None
    path = target.path_for(key)
    source = open(path, "rb") if target.protocol == "file" else fs.open(
        path, "rb", block_size=target.part_size, cache_type="none", size=remote.size)
    with source:
        while chunk := source.read(target.part_size):
            sink(chunk)
    return remote


def _read_s3(fs: Any, target: Target, key: str, sink: Callable[[bytes], None],
             size_hint: int | None) -> RemoteObject | None:
    from fsspec.asyn import sync

    bucket, name, _ = fs.split_path(target.path_for(key))
    step = target.part_size
    remote: RemoteObject | None = None
    offset = 0
    while remote is None or offset < remote.size:
        ranged = size_hint is None or size_hint > step
        args: dict[str, Any] = {"Range": f"bytes={offset}-{offset + step - 1}"} if ranged else {}
        if remote is not None and remote.etag:
            args["IfMatch"] = f'"{remote.etag}"'
        try:
            out, data = sync(fs.loop, _s3_get, fs, bucket, name, args)
        except FileNotFoundError:
            return None
        if remote is None:
            total = int(str(out["ContentRange"]).rsplit("/", 1)[-1]) if ranged else int(out["ContentLength"])
            remote = _from_metadata("s3", key, total, out.get("Metadata"), out.get("ETag"))
        if not data:
            break
        sink(data)
        offset += len(data)
    return remote


async def _s3_get(fs: Any, bucket: str, name: str, args: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    out = await fs._call_s3("get_object", Bucket=bucket, Key=name, **args)
    body = out["Body"]
    try:
        return out, await body.read()
    finally:
        body.close()


def _head_local(path: str, key: str) -> RemoteObject | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return RemoteObject(key, st.st_size, _xattr(path, XATTR_HASH), _int(_xattr(path, XATTR_MTIME)))


def _xattr(path: str, name: str) -> str | None:
    try:
        return os.getxattr(path, name).decode()
    except (OSError, AttributeError):
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def listing(fs: Any, target: Target) -> Iterator[tuple[RemoteObject, bool]]:
    """Every object under the target root, with whether its metadata came with the listing.

    S3 listings carry no user metadata (a HEAD per object is needed); GCS and Azure
    listings do.
    """
    try:
        found = fs.find(target.root, detail=True)
    except FileNotFoundError:
        return
    for path, info in found.items():
        key = target.key_for(path if target.protocol != "file" else os.path.normpath(path))
        if key is None or info.get("type") == "directory":
            continue
        if target.protocol == "s3":
            yield RemoteObject(key, int(info["size"]), etag=str(info.get("ETag", "")).strip('"') or None), False
        elif target.protocol == "file":
            yield RemoteObject(key, int(info["size"]), _xattr(path, XATTR_HASH), _int(_xattr(path, XATTR_MTIME))), True
        else:
            meta = info.get("metadata")
            yield _from_metadata(target.protocol, key, info["size"], meta, info.get("etag")), meta is not None


#: CopyObject copies at most 5 GiB; a larger object goes by s3fs's multipart copy.
S3_COPY_MAX = 5 << 30


def server_copy(fs: Any, target: Target, src_key: str, dst_key: str, *, size: int, xxh3: str, mtime_ns: int,
                src_etag: str | None = None) -> RemoteObject | None:
    """Copy inside the bucket without moving the bytes through this host.

    Returns the new object as the copy's own response reports it, for the
    caller to check as it would a HEAD's answer (so no HEAD is sent), or
    None: the caller then confirms it by a HEAD. On S3 a returned object is
    proven by its ETag (``_s3_copy``); on GCS it is the rewrite's resource,
    whose size and metadata came from the source with the bytes
    (``_gcs_copy``). Azure's copy answers neither, so a HEAD follows it.
    """
    src, dst = target.path_for(src_key), target.path_for(dst_key)
    if target.protocol == "s3":
        etag = _s3_copy(fs, target, src, dst, size=size, xxh3=xxh3, mtime_ns=mtime_ns, src_etag=src_etag)
        return None if etag is None else RemoteObject(dst_key, size, xxh3, mtime_ns, etag)
    if target.protocol == "gs":
        return _gcs_copy(fs, src, dst, dst_key)
    if target.protocol == "az":
        fs.cp_file(src, dst)  # not fs.copy, whose path expansion lists both keys first
        return None
    _copy_local(src, dst)
    return None


def _s3_copy(fs: Any, target: Target, src: str, dst: str, *, size: int, xxh3: str, mtime_ns: int,
             src_etag: str | None) -> str | None:
    """One CopyObject; confirmed by its response where the source's ETag is an MD5 we know.

    A source whose recorded ETag is the MD5 of its bytes (a single-part
    object, confirmed when it was written) is copied with our metadata in
    the request (``MetadataDirective=REPLACE``: the copy carries its own
    file's mtime), on the condition that the source still has that ETag
    (``CopySourceIfMatch``); S3 answers a copy with the MD5 of the bytes it
    wrote, so an answer equal to the source's ETag proves the key holds the
    content the catalog hashed. Any other answer (an encrypted bucket, whose
    ETags are not MD5s) leaves the metadata unproven: the copy is made again
    with the source's metadata, and the caller confirms it by a HEAD. So do a
    source whose ETag is unknown or a multipart ETag, and one over 5 GiB.
    """
    if copy_may_prove(target, src_etag, size):
        assert src_etag is not None
        extra = {"MetadataDirective": "REPLACE", "Metadata": object_metadata("s3", xxh3, mtime_ns),
                 "CopySourceIfMatch": f'"{src_etag}"'}
        if _copy_object(fs, target, src, dst, extra) == src_etag:
            return src_etag
    if size > S3_COPY_MAX:
        fs.copy(src, dst)
    else:
        _copy_object(fs, target, src, dst, {})
    return None


def _gcs_copy(fs: Any, src: str, dst: str, dst_key: str) -> RemoteObject:
    """One rewrite request (more only for an object the service copies in steps); what its resource says.

    The resource is the new object as a HEAD would report it: its size, and
    the metadata copied from the source with the bytes.
    """
    from fsspec.asyn import sync

    src_bucket, src_name, _ = fs.split_path(src)
    bucket, name, _ = fs.split_path(dst)
    token: dict[str, str] = {}
    while True:
        out = sync(fs.loop, fs._call, "POST", "b/{}/o/{}/rewriteTo/b/{}/o/{}", src_bucket, src_name, bucket, name,
                   headers={"Content-Type": "application/json"}, json_out=True, **token)
        if out.get("done"):
            break
        token = {"rewriteToken": out["rewriteToken"]}
    fs.invalidate_cache(dst)
    resource = out["resource"]
    return _from_metadata("gs", dst_key, resource["size"], resource.get("metadata"),
                          resource.get("etag") or resource.get("md5Hash"))


def _copy_object(fs: Any, target: Target, src: str, dst: str, extra: dict[str, Any]) -> str:
    """One CopyObject request; the ETag it answers, unquoted."""
    src_bucket, src_name, _ = fs.split_path(src)
    bucket, name, _ = fs.split_path(dst)
    if target.storage_class:
        extra = {**extra, "StorageClass": target.storage_class}
    out = fs.call_s3("copy_object", Bucket=bucket, Key=name, CopySource={"Bucket": src_bucket, "Key": src_name},
                     **extra)
    fs.invalidate_cache(dst)  # s3fs's listing cache may hold the old object
    return str((out.get("CopyObjectResult") or {}).get("ETag") or "").strip('"')


def copy_may_prove(target: Target, src_etag: str | None, size: int) -> bool:
    """Whether ``server_copy`` tries a copy its response can prove (S3, a known single-part source, <= 5 GiB).

    Such a try costs one request when the answer proves it, three when it does
    not (the copy made again with the source's metadata, then a HEAD): a
    caller that saw one unproven answer can pass no ``src_etag`` from then on.
    """
    return target.protocol == "s3" and src_etag is not None and _is_md5(src_etag) and size <= S3_COPY_MAX


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def _copy_local(src: str, dst: str) -> None:
    with open(src, "rb") as source:
        writer = _LocalWriter(dst, _xattr(src, XATTR_HASH) or "", _int(_xattr(src, XATTR_MTIME)) or 0)
        try:
            while chunk := source.read(1 << 20):
                writer.write(memoryview(chunk))
            writer.commit()
        except BaseException:
            writer.abandon()
            raise


def remove(fs: Any, target: Target, key: str) -> None:
    """Delete one object; absent is fine (a retried or repeated delete)."""
    path = target.path_for(key)
    try:
        if target.protocol == "file":
            os.unlink(path)
        else:
            fs.rm_file(path)
    except FileNotFoundError:
        pass


# -- errors ---------------------------------------------------------------------------------------------

_TRANSIENT_NAMES = (
    "Timeout", "ConnectionError", "ConnectionReset", "Disconnected", "ClientPayloadError",
    "ClientOSError", "ServerDisconnected", "IncompleteRead", "ResponseStreamingError",
    "ReadTimeout", "ConnectTimeout", "EndpointConnectionError", "ServiceRequestError",
    "ServiceResponseError", "ProxyError", "ChecksumError", "ProtocolError", "RemoteDisconnected",
)
_TRANSIENT_CODES = ("SlowDown", "Throttl", "RequestTimeout", "InternalError", "ServiceUnavailable",
                    "ServerBusy", "OperationTimedOut", "TooManyRequests", "reduce your request rate")
_PERMANENT = (FileNotFoundError, PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError)


def is_transient(error: BaseException) -> bool:
    """Whether retrying might help: throttling, timeouts, 5xx, dropped connections.

    Backends wrap errors (s3fs turns a botocore ClientError into an OSError, adlfs
    into a RuntimeError), so the whole ``__cause__``/``__context__`` chain is read,
    by duck typing, without importing any backend.
    """
    for link in _chain(error):
        if isinstance(link, _PERMANENT):
            return False
        status = _status(link)
        if status is not None:
            return status in (408, 429) or 500 <= status <= 599
        if isinstance(link, (ConnectionError, TimeoutError)):
            return True
        if any(name in cls.__name__ for cls in type(link).__mro__ for name in _TRANSIENT_NAMES):
            return True
        if isinstance(link, OSError) and link.errno in (errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE):
            return True
        if any(code in str(link) for code in _TRANSIENT_CODES):
            return True
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _status(error: BaseException) -> int | None:
    """The HTTP status an exception carries, whichever library raised it."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    for name in ("status_code", "status", "code"):
        value = getattr(error, name, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None
