"""Optional Python packages: importing one when a feature first needs it, and saying how to install it.

Cloud backends (s3fs, gcsfs, adlfs) are extras, and heavy: importing gcsfs
alone takes seconds. So they are imported on first use, and a missing one
raises :class:`~bifrostd.errors.PackageMissing` naming the package and a
pip command for the interpreter running now (the one whose environment
lacks it), with the version range this bifrostd was installed with, read
from its own metadata so the hint never drifts from pyproject.toml.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import shlex
import sys
from types import ModuleType

from .errors import PackageMissing

__all__ = ["check", "install_command", "require"]

DISTRIBUTION = "bifrostd"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def require(module: str, *, feature: str, package: str | None = None) -> ModuleType:
    """Import ``module`` (of the distribution ``package``, default the same name) for ``feature``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        name = package or module
        raise PackageMissing(feature=feature, package=name, why=error, command=install_command(name)) from error


def check(module: str, *, feature: str, package: str | None = None) -> None:
    """Raise as :func:`require` would if ``module`` can't be found, without the cost of importing it.

    Only the top-level module is looked for: a broken dependency of an
    installed package shows when :func:`require` imports it.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module whose spec is unset
        found = False
    if not found:
        name = package or module
        raise PackageMissing(feature=feature, package=name, why=f"no module named {module!r}",
                             command=install_command(name))


def install_command(package: str) -> str:
    """The pip command that installs ``package`` into this interpreter's environment, as bifrostd requires it."""
    return f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(requirement(package))}"


def requirement(package: str) -> str:
    """``package`` with the version range bifrostd's metadata gives it (core or any extra); the bare name
    when bifrostd is not installed (a source tree on ``sys.path``) or does not list it."""
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return package
    for line in requires:
        match = _REQUIREMENT.match(line)
        if match and _canonical(match[1]) == _canonical(package) and match[2].strip():
            return package + _ordered(match[2])
    return package


def _ordered(specifiers: str) -> str:
    """``<2027,>=2024.6`` (as metadata writes it) as ``>=2024.6,<2027``: lower bound first, as people write it."""
    parts = [p.strip() for p in specifiers.split(",") if p.strip()]
    return ",".join(sorted(parts, key=lambda p: not p.startswith(">")))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
