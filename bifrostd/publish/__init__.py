"""Publishing versions and deprecating them: the ``bifrostctl publish`` and ``version`` commands' library.

:mod:`.plan` is pure (which template, which number, which files);
:mod:`.claim` claims a version folder and puts it in place whole;
:mod:`.execute` copies and verifies; :mod:`.deprecation` flags versions;
``reconcile.recording`` brings the catalog up to date for what was written.
"""

from __future__ import annotations

from .deprecation import DeprecationResult, VersionFolder, set_deprecated, version_folder
from .execute import PublishResult, current_user, execute_publish, prepare_publish, utc_now
from .plan import PublishItem, PublishPlan, PublishSource, next_version
from ..reconcile.recording import Recorded, record_paths

__all__ = [
    "DeprecationResult",
    "PublishItem",
    "PublishPlan",
    "PublishResult",
    "PublishSource",
    "Recorded",
    "VersionFolder",
    "current_user",
    "execute_publish",
    "next_version",
    "prepare_publish",
    "record_paths",
    "set_deprecated",
    "utc_now",
    "version_folder",
]
