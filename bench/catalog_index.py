"""Catalog indexing speed on the bench tree: first index, no-change rescan, full rescan, vs find -printf.

Run: ``.venv/bin/python bench/catalog_index.py [FILES]`` (default 200000; the
tree is built once by bench/studio_tree.py). Every figure is measured in the
same run; ratios are to ``find -printf '%s %T@ %p'`` over the same tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from studio_tree import default_tree_path, ensure_tree  # noqa: E402

from bifrostd.catalog import Catalog  # noqa: E402
from bifrostd.indexer import ScanOptions, scan  # noqa: E402
from bifrostd.templates import load_template_set  # noqa: E402
from bifrostd.templates.spec import Root  # noqa: E402


def find_seconds(tree: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["find", str(tree), "-printf", "%s %T@ %p\n"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def timed_scan(db: Path, template_set, **options) -> tuple[float, object]:
    start = time.perf_counter()
    with Catalog.open(db, write=True) as catalog:
        report = scan(catalog, template_set, ScanOptions(**options))
    return time.perf_counter() - start, report


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tree = ensure_tree(default_tree_path(files), files).path
    template_set = load_template_set(Path(__file__).parent / "catalog_templates")
    template_set = replace(template_set, roots={"projects": Root("projects", {"linux": str(tree)}, None)})
    find_s = min(find_seconds(tree) for _ in range(3))
    print(f"find -printf: {find_s:.2f} s over {files:,} files")
    state = Path(tempfile.mkdtemp(prefix="bifrost-bench-catalog-"))
    try:
        for label, options, fresh in [("first index, no hash", {"hash_files": False}, True),
                                      ("rescan, nothing changed", {"hash_files": False}, False),
                                      ("full walk rescan", {"hash_files": False, "full": True}, False),
                                      ("first index with xxh3-128", {"hash_files": True}, True)]:
            if fresh:
                shutil.rmtree(state)
                state.mkdir()
            seconds, report = timed_scan(state / "catalog.db", template_set, **options)
            split = ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items())
            print(f"{label}: {seconds:.2f} s, {report.files_seen / seconds:,.0f} files/s, "
                  f"{seconds / find_s:.2f}x find ({split}); {report.counts['added']:,} added")
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
