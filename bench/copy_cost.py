"""Copy or upload: what a server-side copy costs against a PUT of the same bytes, by size, against moto.

A mirror run that uploads some content under one key can put the same
content under its other keys either by uploading it again or by copying it
server-side from the first key; both are one request (``COPY_MIN_BYTES`` in
``bifrostd/mirror/plan.py`` decides). This measures the two through
Bifrost's own request paths: ``open_writer`` (one PUT carrying the metadata,
its ETag the confirmation) and ``server_copy`` (one CopyObject, metadata in
the request, conditional on the source's ETag, its answer the confirmation),
each ``--requests`` times per size to distinct keys, at concurrency 1 and at
the bench's 16, PUT and copy batches alternating (in turn first) over
``--rounds`` rounds, after a warm-up that opens every worker's connection.
It prints the median milliseconds per request (wall time / requests: at 16
workers, the time the batch took per request) and PUT/copy: below 1.0 the
PUT answers sooner and the content is better uploaded again.

    .venv/bin/python bench/copy_cost.py [--sizes 4,64,256,512,1024,4096] [--requests 60] [--rounds 3]
        [--concurrency 1,16]

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mirror import free_port, make_buckets, reset_moto, start_moto  # noqa: E402

KIB = 1 << 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,64,128,256,512,1024,4096", help="KiB, comma-separated")
    parser.add_argument("--requests", type=int, default=60, help="per size, kind, concurrency and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,16")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"})
    work = Path(tempfile.mkdtemp(prefix="bifrost-copy-cost-"))
    port = free_port()
    moto = start_moto(port, work / "moto.log")
    try:
        rows = measure(f"http://127.0.0.1:{port}", [int(s) * KIB for s in args.sizes.split(",")],
                       [int(c) for c in args.concurrency.split(",")], args.requests, args.rounds)
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'size':>9}  {'workers':>7}  {'PUT ms':>7}  {'copy ms':>7}  {'PUT/copy':>8}")
    for r in rows:
        print(f"{r['kib']:>5} KiB  {r['concurrency']:>7}  {r['put_ms']:>7.2f}  {r['copy_ms']:>7.2f}  {r['ratio']:>8.2f}")
    print(json.dumps({"rows": rows}))


def measure(endpoint: str, sizes: list[int], workers: list[int], count: int, rounds: int) -> list[dict]:
    from bifrostd.mirror import open_filesystem, parse_target

    target = parse_target("cost", {"url": "s3://copy-cost/k", "endpoint_url": endpoint, "part_size": "8MiB"})
    fs = open_filesystem(target)
    rows = []
    for size in sizes:
        data = os.urandom(size)
        for concurrency in workers:
            rows.append(one_size(fs, target, endpoint, data, concurrency, count, rounds))
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def one_size(fs, target, endpoint: str, data: bytes, concurrency: int, count: int, rounds: int) -> dict:
    """PUT and copy batches of ``data``, alternating, from an emptied server; medians per request."""
    reset_moto(endpoint)
    make_buckets(endpoint, ["copy-cost"])
    etag = put(fs, target, "src", data=data)
    kinds = {"put": partial(put, fs, target, data=data, prefix="p/"),
             "copy": partial(copy, fs, target, size=len(data), etag=etag)}
    batch(kinds["put"], [f"warm/{i}" for i in range(concurrency)], concurrency)  # every worker's connection open
    times: dict[str, list[float]] = {"put": [], "copy": []}
    for n in range(rounds):
        keys = [f"r{n}/{i}" for i in range(count)]
        for kind in ("put", "copy") if n % 2 == 0 else ("copy", "put"):
            times[kind].append(batch(kinds[kind], keys, concurrency))
    put_ms, copy_ms = (statistics.median(times[k]) / count * 1000 for k in ("put", "copy"))
    return {"kib": len(data) // KIB, "concurrency": concurrency, "put_ms": round(put_ms, 2),
            "copy_ms": round(copy_ms, 2), "ratio": round(put_ms / copy_ms, 2)}


def put(fs, target, key: str, *, data: bytes, prefix: str = "") -> str:
    from bifrostd.mirror.backends import open_writer

    writer = open_writer(fs, target, target.path_for(prefix + key), size=len(data), xxh3="0" * 32, mtime_ns=1)
    writer.write(memoryview(data))
    etag = writer.commit()
    assert etag, "a PUT moto did not confirm by its ETag"
    return etag


def copy(fs, target, key: str, *, size: int, etag: str) -> None:
    from bifrostd.mirror.backends import server_copy

    landed = server_copy(fs, target, "src", "c/" + key, size=size, xxh3="0" * 32, mtime_ns=2, src_etag=etag)
    assert landed is not None and landed.etag == etag, "a copy moto did not confirm by its ETag"


def batch(work, keys: list[str], concurrency: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(work, keys))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
