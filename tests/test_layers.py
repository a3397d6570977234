"""The catalog is the only door to the database: nothing outside ``bifrostd/catalog/`` may know which one it is.

A PostgreSQL catalog for studios with many storage servers plugs in behind
:class:`bifrostd.catalog.Catalog`'s methods; that only works while no other
module imports ``sqlite3``/``sqlite_utils``, reaches for a catalog's
connection (``catalog.conn``, ``._conn``, ``.db``), or calls a catalog function
that takes one. Need a query? Add a ``Catalog`` method returning model values.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import bifrostd

PACKAGE = Path(bifrostd.__file__).parent
SQLITE_MODULES = {"sqlite3", "sqlite_utils"}
CONNECTION_ATTRIBUTES = {"conn", "_conn", "db", "_db"}
CONNECTION_PARAMETERS = {"conn", "db"}

def modules_outside_catalog() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "catalog" not in p.relative_to(PACKAGE).parts[:1])


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def imported_modules(path: Path, node: ast.AST) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) of an import statement in the module at ``path``."""
    if isinstance(node, ast.Import):
        return [(alias.name, []) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = node.module or ""
    if node.level:  # relative: level 1 is the module's own package
        package = relative(path).split("/")[:-1]
        base = ".".join(package[:len(package) - node.level + 1])
        module = f"{base}.{module}" if module else base
    return [(module, [alias.name for alias in node.names])]


def takes_connection(thing: object) -> bool:
    """A function whose first parameter is a connection, or a module exporting one."""
    if inspect.ismodule(thing):
        return any(takes_connection(member) for name, member in vars(thing).items()
                   if not name.startswith("_") and inspect.isfunction(member)
                   and member.__module__ == thing.__name__)
    if not inspect.isfunction(thing):
        return False
    parameters = list(inspect.signature(thing).parameters)
    return bool(parameters) and parameters[0] in CONNECTION_PARAMETERS


def violations(path: Path, source: str | None = None) -> dict[str, list[str]]:
    """What the module at ``path`` (or ``source``, as if there) does that only the catalog may, by check,
    as ``line: detail``."""
    found: dict[str, list[str]] = {}
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    for node in ast.walk(tree):
        for module, names in imported_modules(path, node):
            if module.split(".")[0] in SQLITE_MODULES:
                found.setdefault("sqlite import", []).append(f"{node.lineno}: {module}")
            if module == "bifrostd.catalog" or module.startswith("bifrostd.catalog."):
                for name in names:
                    thing = getattr(importlib.import_module(module), name, None)
                    if thing is None:  # a submodule not imported by its package yet
                        thing = importlib.import_module(f"{module}.{name}")
                    if takes_connection(thing):
                        found.setdefault("connection function", []).append(f"{node.lineno}: {module}.{name}")
        if (isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES
                and "catalog" in ast.unparse(node.value).lower()):
            found.setdefault("connection attribute", []).append(f"{node.lineno}: {ast.unparse(node)}")
    return {check: sorted(places, key=lambda place: int(place.split(":")[0])) for check, places in found.items()}


@pytest.mark.parametrize("path", modules_outside_catalog(), ids=relative)
def test_only_the_catalog_knows_its_database(path):
    unexpected = violations(path)
    assert not unexpected, (f"{relative(path)} reaches behind bifrostd.catalog.Catalog: {unexpected}; "
                            "call a Catalog method (add one to catalog/store.py if none fits)")


def test_the_checks_see_what_they_are_for():
    source = ("import sqlite3\nfrom ..catalog import queries\nfrom ..catalog.files import load_view\n"
              "from ..catalog.mirror_state import MirrorState\nx = self.catalog.conn\ny = catalog._db\n"
              "z = slot.conn\nimport sqlite_utils.db\n")
    assert violations(PACKAGE / "reconcile" / "example.py", source) == {
        "sqlite import": ["1: sqlite3", "8: sqlite_utils.db"],
        "connection function": ["2: bifrostd.catalog.queries", "3: bifrostd.catalog.files.load_view"],
        "connection attribute": ["5: self.catalog.conn", "6: catalog._db"],
    }
