"""Masking credentials in text: the one place that knows what a secret in a message, a URL or an error looks like.

The daemon's log lines and the mirror's errors, reprs and options all pass
through :func:`redact_credentials` before anyone sees them: fsspec URLs,
connection strings and backend errors can carry a password, an account key
or a signature, and a careless log call or error message must not leak one.
Masking more than needed is harmless; masking less is a leak, so each
pattern errs on the side of a match.
"""

from __future__ import annotations

import re

__all__ = ["SECRET_VALUE", "redact_credentials"]

#: The password of a ``scheme://user:password@host`` URL (the user may be empty).
_URL_PASSWORD = re.compile(r"(?P<head>[\w+.-]+://[^/\s:@]*):[^@\s/]+@")
#: A ``key=value`` or ``key: value`` pair whose key names a secret, as in a dict's repr or a command line.
_SECRET_PAIR = re.compile(r"(?P<key>\b[\w.-]*(?:password|passwd|secret|token|key_id|access_key|credential)s?\b"
                          r"[\"']?\s*[=:]\s*[\"']?)[^\s,\"'}]+", re.I)
#: A secret inside a connection string or a signed URL: ``AccountKey=...;``, ``sig=...&``.
SECRET_VALUE = re.compile(
    r"(AccountKey|SharedAccessSignature|sig|[\w-]*Signature|[\w-]*Credential|[\w-]*Token|password)=[^;&\s]+",
    re.IGNORECASE,
)


def redact_credentials(text: str) -> str:
    """``text`` with URL passwords, secret-named values, account keys and signatures replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
    text = SECRET_VALUE.sub(lambda m: f"{m.group(1)}=***", text)
    return _SECRET_PAIR.sub(r"\g<key>***", text)
