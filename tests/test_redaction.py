"""Credentials are masked in any text the daemon logs or a mirror error shows, and nothing else is touched."""

from __future__ import annotations

import pytest

from bifrostd.redaction import redact_credentials

AZURE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFl==;"
         "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;")


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://AKIA:wJalrXUt@bucket/path", "s3://AKIA:***@bucket/path"),
    ("https://:pw@host/x", "https://:***@host/x"),
    ("target options secret=hunter2 region=eu", "target options secret=*** region=eu"),
    ("{'token': 'abc123'}", "{'token': '***'}"),
    ("https://acct.blob.core.windows.net/c/k?sv=2022&sig=abc%2Bdef&se=1", "https://acct.blob.core.windows.net/c/k?sv=2022&sig=***&se=1"),
    ("X-Amz-Credential=AKIA/2026&X-Amz-Signature=f00d", "X-Amz-Credential=***"),  # a pair masks all it runs into
    (AZURE, AZURE.replace("Eby8vdM02xNOcqFl==", "***")),
    ("root projects: 3 dirty paths", "root projects: 3 dirty paths"),
    ("s3://bucket/key with no user", "s3://bucket/key with no user"),
])
def test_credentials_are_masked(text, expected):
    assert redact_credentials(text) == expected


@pytest.mark.parametrize("text", ["s3://AKIA:wJalrXUt@bucket/path password=x", "plain words"])
def test_masking_twice_changes_nothing_more(text):
    once = redact_credentials(text)
    assert redact_credentials(once) == once
