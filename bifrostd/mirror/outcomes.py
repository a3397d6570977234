"""What happened to one object: the outcomes a transfer or a restore reports, and the retryable mismatch.

Both ``transfer`` (uploads, copies, the retry loop) and ``restore`` (one
download to disk) speak these; they live below both so that ``transfer`` may
call ``restore`` and nothing calls back.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    UPLOADED = "uploaded"
    COPIED = "copied"
    DELETED = "deleted"
    DOWNLOADED = "downloaded"
    SKIPPED = "skipped"  # the destination already holds this content
    CHANGED = "changed"  # the source changed during the transfer: not mirrored, try again later
    REFUSED = "refused"  # a restore would overwrite a newer local file (use force), or write through a symlink
    FAILED = "failed"


class Mismatch(Exception):
    """What arrived differs from what was expected; retrying may help."""
