"""Mirroring catalogued files to cloud buckets (S3, GCS, Azure Blob) or a folder, and back.

This package owns the transport and integrity layer: typed targets
(``targets``), the per-backend details behind fsspec (``backends``), per-file
transfers with retries, bandwidth cap and atomic commits (``transfer``),
restores (``restore``), the outcome each file reports (``outcomes``),
read-only bucket audits (``verify``) and the leftovers of interrupted writes
(``leftovers``). What to send is decided elsewhere (the planner, from the
catalog); this layer is told.

Importing it is cheap: fsspec, s3fs, gcsfs and adlfs load only when a
filesystem is opened (``open_filesystem``), with an install hint if missing.
"""

from __future__ import annotations

from .backends import RemoteObject, open_filesystem
from .targets import DeletePolicy, Include, Target, TargetSchedule, parse_target, parse_targets, redact_options
from .outcomes import Outcome
from .transfer import CopyItem, FileResult, RunSummary, Transfer, UploadItem
from .verify import Expected, ObjectProblem, VerifyReport, verify

__all__ = [
    "CopyItem",
    "DeletePolicy",
    "Expected",
    "FileResult",
    "Include",
    "ObjectProblem",
    "Outcome",
    "RemoteObject",
    "RunSummary",
    "Target",
    "TargetSchedule",
    "Transfer",
    "UploadItem",
    "VerifyReport",
    "open_filesystem",
    "parse_target",
    "parse_targets",
    "redact_options",
    "verify",
]
