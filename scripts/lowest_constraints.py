"""Print pip constraints pinning every runtime dependency of pyproject.toml to its lowest allowed version.

``make test DEPS=lowest`` installs with them, so CI proves the lower end of
each range Bifrost runs on (its dependencies and the extras a studio
installs) as well as the newest releases a fresh install takes. The test
tools (the ``test`` extra) are left at their newest: they are not what a
studio runs. Usage:
``python scripts/lowest_constraints.py pyproject.toml > lowest.txt``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")
LOWER = re.compile(r">=\s*([^,;\s]+)")


#: Extras that are tools for developing Bifrost, not part of what it runs on.
TOOL_EXTRAS = {"test"}


def requirements(project: dict) -> list[str]:
    """Every runtime requirement of the project: its dependencies and those of each extra but the tools'."""
    found = list(project.get("dependencies", []))
    for name, extra in project.get("optional-dependencies", {}).items():
        if name not in TOOL_EXTRAS:
            found += extra
    return found


def lowest(requirement: str) -> str | None:
    """``name==lower`` for a requirement with a ``>=`` bound; None without one."""
    match = REQUIREMENT.match(requirement.split(";")[0])
    if not match:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    name, spec = match.groups()
    bound = LOWER.search(spec)
    return f"{name.lower()}=={bound.group(1)}" if bound else None


def main(path: str) -> int:
    project = tomllib.loads(Path(path).read_text())["project"]
    pins = sorted({pin for pin in map(lowest, requirements(project)) if pin})
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))
