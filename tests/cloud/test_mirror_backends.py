"""Mirror runs end to end on every backend: run, no-op, verify, restore byte for byte.

``test_mirror.py`` goes deep on S3 (request counts through the fault proxy,
kill -9, the CLI); this checks that the same run → no-op → restore cycle holds
on azurite, fake-gcs-server and a folder, with one file large enough to be
sent in parts. Kept small so the emulators answer in a few seconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bifrostd.catalog import Catalog
from bifrostd.catalog.mirror_state import MirrorState
from bifrostd.mirror import Transfer
from bifrostd.mirror.audit import audit
from bifrostd.mirror.backends import listing
from bifrostd.mirror.recovery import restore, select
from bifrostd.mirror.runner import locator, run_target

from .conftest import new_bucket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio_tree import age_tree, load, make_tree, scan, write, write_config  # noqa: E402

MIB = 1 << 20


@pytest.mark.parametrize("protocol", ["az", "gs", "file"])
def test_run_noop_verify_and_restore_byte_for_byte(request, tmp_path, protocol):
    tree = tmp_path / "projects"
    make_tree(tree, shots=1, versions=1, frames=2)
    write(tree / "demo/plate.bin", os.urandom(11 * MIB))  # parts (or resumable chunks) on every backend
    write(tree / "demo/empty.bin", b"")
    age_tree(tree)
    config = write_config(tmp_path, tree)
    scan(config)
    fs, target = new_bucket(request, protocol, tmp_path)
    _, template_set = load(config)
    originals = {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    with Catalog.open(tmp_path / "state" / "catalog.db", write=True) as catalog:
        state = MirrorState.of(catalog)
        first = run_target(state, target, locator(template_set), transfer=Transfer(fs, target))
        assert first.status == "ok" and first.counts == {"uploaded": len(originals)}, first.failures
        again = run_target(state, target, locator(template_set), transfer=_Untouchable())
        assert again.status == "nothing"
        assert audit(Transfer(fs, target), state, target, deep=True).ok
    dest = tmp_path / "restored"
    items, skipped = select((o for o, _ in listing(fs, target)), {}, dest_for=lambda key: dest / key, target=target)
    counts, received, problems, _ = restore(Transfer(fs, target), items)
    assert counts == {"downloaded": len(originals)} and not problems and not skipped
    assert received == sum(len(data) for data in originals.values())
    restored = {p.relative_to(dest / "projects"): p.read_bytes() for p in (dest / "projects").rglob("*") if p.is_file()}
    assert restored == originals


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"a no-op run touched the bucket ({name})")
