"""Target parsing: typed values from plain dicts, clear errors, no credentials, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bifrostd.errors import MirrorTargetError
from bifrostd.mirror import DeletePolicy, parse_target, parse_targets
from bifrostd.mirror.pacing import Backoff, RateLimiter


def test_full_target():
    target = parse_target("offsite", {
        "url": "s3://studio-mirror/projects", "region": "eu-west-1", "storage_class": "STANDARD_IA",
        "concurrency": 16, "bandwidth": "50MB/s", "part_size": "64MiB", "timeout": "2m",
        "include": {"roots": ["projects"], "kinds": "publish"}, "delete": "retain", "retain_days": 30,
        "schedule": "*/15 * * * *",
    })
    assert (target.protocol, target.root) == ("s3", "studio-mirror/projects")
    assert target.bandwidth == 50_000_000 and target.part_size == 64 << 20
    assert target.connect_timeout == target.read_timeout == 120.0
    assert target.include.kinds == ("publish",) and target.delete is DeletePolicy.RETAIN
    assert target.schedule.cron == "*/15 * * * *"
    assert target.path_for("a/b.exr") == "studio-mirror/projects/a/b.exr"
    assert target.key_for("studio-mirror/projects/a/b.exr") == "a/b.exr"


@pytest.mark.parametrize("url, protocol, root", [
    ("gs://bucket-1", "gs", "bucket-1"),
    ("gcs://bucket-1/a/b/", "gs", "bucket-1/a/b"),
    ("az://container/x", "az", "container/x"),
    ("file:///srv/mirror/", "file", "/srv/mirror"),
])
def test_urls(url, protocol, root):
    target = parse_target("t", {"url": url, "schedule": "1h"})
    assert (target.protocol, target.root, target.schedule.interval) == (protocol, root, 3600.0)


@pytest.mark.parametrize("settings, message", [
    ({"url": "ftp://x/y"}, "unsupported scheme"),
    ({"url": "s3://"}, "no valid bucket"),
    ({"url": "file://relative"}, "absolute path"),
    ({"url": "s3://user:pw@bucket/x"}, "credentials"),
    ({"url": "s3://bucket", "concurency": 2}, "did you mean 'concurrency'"),
    ({"url": "s3://bucket", "part_size": "1MiB"}, "5 MiB"),
    ({"url": "gs://bucket", "part_size": 5_000_000}, "256 KiB"),
    ({"url": "s3://bucket", "delete": "retain"}, "retain_days"),
    ({"url": "s3://bucket", "delete": "purge"}, "keep, mirror, retain"),
    ({"url": "s3://bucket", "schedule": "61 * * *  x"}, "cron"),
    ({"url": "s3://bucket", "schedule": "@sometimes"}, "cron macro"),
    ({"url": "s3://bucket", "bandwidth": "fast"}, "size"),
    ({"url": "s3://bucket", "timeout": 0}, "positive"),
    ({"url": "gs://bucket", "storage_class": "NEARLINE"}, "only s3"),
    ({"url": "s3://bucket", "include": {"template": ["x"]}}, "did you mean 'templates'"),
    ({"url": "s3://bucket", "max_delete": 10}, "only meaningful with delete: mirror or retain"),
    ({"url": "s3://bucket", "delete": "mirror", "max_delete": "0%"}, "percentage"),
    ({"url": "s3://bucket", "delete": "mirror", "max_delete": "150%"}, "percentage"),
    ({"url": "s3://bucket", "delete": "mirror", "max_delete": -1}, "number of objects"),
    ({"url": "s3://bucket", "delete": "mirror", "max_delete": "lots"}, "'unlimited'"),
    ({"url": "s3://bucket", "delete": "mirror", "max_delete": True}, "number of objects"),
])
def test_errors_name_target_and_option(settings, message):
    with pytest.raises(MirrorTargetError, match=message) as error:
        parse_target("offsite", settings)
    assert "offsite" in str(error.value)


@pytest.mark.parametrize("settings", [
    {"url": "s3://bucket", "key": "AKIA"},
    {"url": "s3://bucket", "options": {"secret": "x"}},
    {"url": "s3://bucket", "options": {"client_kwargs": {"aws_secret_access_key": "x"}}},
    {"url": "az://container", "options": {"account_key": "x"}},
    {"url": "az://container", "options": {"connection-string": "x"}},
    {"url": "az://container", "options": {"SAS_Token": "x"}},
    {"url": "gs://bucket", "options": {"token": "/path/key.json"}},
    {"url": "az://container", "options": {"account_url": "https://a.blob.core.windows.net/?sv=1&sig=abc"}},
])
def test_credentials_are_refused(settings):
    with pytest.raises(MirrorTargetError, match="environment"):
        parse_target("t", settings)


def test_parse_targets_section():
    targets = parse_targets({"targets": {"a": {"url": "s3://bucket-a"}, "b": {"url": "file:///m"}}})
    assert sorted(targets) == ["a", "b"] and targets["b"].protocol == "file"


def test_importing_the_mirror_loads_no_backend():
    code = ("import sys, bifrostd.mirror; "
            "print([m for m in ('fsspec', 's3fs', 'gcsfs', 'adlfs', 'botocore', 'aiohttp') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rate_limiter_paces_without_sleeping_for_real():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(1000, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        limiter.acquire(500)  # 5,000 bytes at 1,000 B/s: ~4 s after a 1 s burst
    assert 3.9 <= now[0] <= 4.1


def test_backoff_grows_with_jitter_and_cap():
    backoff = Backoff(base=0.5, cap=4)
    assert [backoff.delay(k, rng=lambda: 1.0) for k in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.delay(2, rng=lambda: 0.0) == 1.0


SECRET = "hunter2-c2VjcmV0LWtleQ"


@pytest.mark.parametrize(("settings", "where"), [
    ({"url": "s3://bucket", "endpoint_url": f"https://AKIAEXAMPLE:{SECRET}@minio.local:9000"}, "endpoint_url"),
    ({"url": "s3://bucket", "endpoint_url": f"https://{SECRET}@minio.local"}, "endpoint_url"),
    ({"url": "s3://bucket", "options": {"client_kwargs": {"endpoint_url": f"http://k:{SECRET}@h"}}},
     "options.client_kwargs.endpoint_url"),
    ({"url": "az://container", "options": {"account_host": f"https://u:{SECRET}@a.blob.core.windows.net"}},
     "options.account_host"),
    ({"url": "s3://bucket", "options": {"s3_additional_kwargs": {"SSECustomerKey": SECRET}}},
     "options.s3_additional_kwargs.SSECustomerKey"),
    ({"url": "s3://bucket", "options": {"s3_additional_kwargs": {"sse_customer_key": SECRET}}},
     "options.s3_additional_kwargs.sse_customer_key"),
    ({"url": "s3://bucket", "options": {"config_kwargs": {"apiKey": SECRET}}}, "options.config_kwargs.apiKey"),
    ({"url": "az://container", "options": {"AZURE_STORAGE_CONNECTION_STRING": SECRET}},
     "options.AZURE_STORAGE_CONNECTION_STRING"),
    ({"url": "az://container", "options": {"clientSecret": SECRET}}, "options.clientSecret"),
    ({"url": "gs://bucket", "options": {"session_kwargs": {"headers": {"Authorization": f"Bearer {SECRET}"}}}},
     "options.session_kwargs.headers.Authorization"),
    ({"url": "s3://bucket", "options": {"passphrase": SECRET}}, "options.passphrase"),
    ({"url": "s3://bucket", "options": {"list": [{"private_key": SECRET}]}}, "options.list[0].private_key"),
    ({"url": "gs://bucket", "options": {"x": f"https://h/o?X-Goog-Signature={SECRET}"}}, "options.x"),
])
def test_credentials_anywhere_in_a_target_are_refused_without_echoing_them(settings, where):
    with pytest.raises(MirrorTargetError) as caught:
        parse_target("offsite", settings)
    message = str(caught.value)
    assert message.startswith(f"mirror target 'offsite': {where}: ") and SECRET not in message


@pytest.mark.parametrize("options", [
    {"s3_additional_kwargs": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:eu-west-1:1:key/x",
                              "BucketKeyEnabled": True}},
    {"client_kwargs": {"endpoint_url": "https://minio.local:9000", "region_name": "eu-west-1"}},
    {"account_name": "studio", "account_host": "https://studio.blob.core.windows.net"},
    {"requester_pays": True, "default_block_size": 8388608},
])
def test_ordinary_backend_options_are_not_mistaken_for_credentials(options):
    assert parse_target("t", {"url": "s3://bucket", "options": options}).options == options


def test_a_refused_secret_is_never_shown_by_commands_or_the_daemon_log(tmp_path, bifrostctl_bin, bifrostd_bin):
    studio = tmp_path / "studio"
    subprocess.run([bifrostctl_bin, "init", str(studio)], check=True, capture_output=True)
    config = studio / "bifrost.yaml"
    config.write_text(config.read_text() + (
        "mirror:\n  targets:\n    offsite:\n      url: s3://studio-mirror/projects\n"
        f"      endpoint_url: https://AKIAEXAMPLE:{SECRET}@minio.local:9000\n"
        f"      options:\n        s3_additional_kwargs: {{SSECustomerKey: '{SECRET}'}}\n"))
    subprocess.run([bifrostctl_bin, "--config", str(config), "scan"], capture_output=True)  # builds the catalog
    for args in (["mirror", "status", "--json"], ["mirror", "run", "--dry-run"]):
        done = subprocess.run([bifrostctl_bin, "--config", str(config), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 15, (args, done.stdout, done.stderr)
        assert "endpoint_url" in done.stderr and SECRET not in done.stdout + done.stderr
    daemon = subprocess.run([bifrostd_bin, "--config", str(config), "--log-json"], capture_output=True, text=True,
                            timeout=60)
    assert daemon.returncode != 0 and "endpoint_url" in daemon.stderr
    assert SECRET not in daemon.stdout + daemon.stderr
