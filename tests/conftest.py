"""Shared fixtures. Tests run on real files in tmp_path; the environment is cleaned of BIFROST_*."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("BIFROST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def small_set_dir(tmp_path) -> Path:
    """A copy of the small template set that a test may edit."""
    target = tmp_path / "templates"
    shutil.copytree(DATA / "small", target)
    return target


@pytest.fixture
def small_set(small_set_dir):
    from bifrostd.templates import load_template_set

    return load_template_set(small_set_dir)


def installed(command: str) -> str:
    """An installed console script of the interpreter running the tests."""
    path = BIN / command
    return str(path) if path.exists() else shutil.which(command) or command


@pytest.fixture
def bifrostctl_bin() -> str:
    return installed("bifrostctl")


@pytest.fixture
def bifrostd_bin() -> str:
    return installed("bifrostd")
