"""A host with Bifrost but without a cloud extra runs the cloud tests as skips naming the missing package.

The child pytest hides s3fs, gcsfs and adlfs, as a `pip install bifrostd`
without `[cloud]` would leave them missing: nothing fails, nothing errors,
and no emulator is started for a backend that can't be used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HIDDEN = ("s3fs", "gcsfs", "adlfs")
WITHOUT_EXTRAS = f"""
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Hide())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_cloud_tests_skip_cleanly_without_the_backend_packages():
    found = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, "-q", "-rs", "-p", "no:cacheprovider",
                            str(HERE / "test_transfer.py"), str(HERE / "test_mirror_backends.py")],
                           capture_output=True, text=True, timeout=300, cwd=HERE.parents[1])
    assert found.returncode == 0, found.stdout[-3000:] + found.stderr[-3000:]
    summary = found.stdout.strip().splitlines()[-1]
    assert " skipped" in summary and " failed" not in summary and " error" not in summary, summary
    reasons = [line for line in found.stdout.splitlines() if line.startswith("SKIPPED")]
    assert {name for name in HIDDEN if any(f"could not import {name!r}" in line for line in reasons)} == set(HIDDEN)
