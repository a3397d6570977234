"""``mirror restore --dry-run`` answers what the real restore then does: same checks, same counts, no writes."""

from __future__ import annotations

import json
import subprocess

import pytest

from studio_tree import age_tree, make_tree, scan, write, write_config


def ctl(bifrostctl_bin, config, *args, code=0):
    done = subprocess.run([bifrostctl_bin, "--config", str(config), *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == code, done.stderr + done.stdout
    return done


@pytest.fixture
def mirrored(bifrostctl_bin, tmp_path):
    """A studio mirrored to a file:// target; then some files deleted and one edited since."""
    tree = tmp_path / "projects"
    made = make_tree(tree, shots=2, versions=2, frames=3)
    age_tree(tree)
    config = write_config(tmp_path, tree)
    with config.open("a") as out:
        out.write(f"mirror:\n  targets:\n    local: {{url: 'file://{tmp_path / 'bucket'}'}}\n")
    scan(config)
    ctl(bifrostctl_bin, config, "mirror", "run")
    gone = sorted(made)[:5]
    for relative in gone:
        (tree / relative).unlink()
    edited = tree / sorted(made)[-1]
    write(edited, b"saved after the mirror ran")
    return tree, config, made, gone, edited


def test_a_dry_run_counts_what_the_real_run_skips_refuses_and_downloads(bifrostctl_bin, mirrored):
    tree, config, made, gone, edited = mirrored
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tree.rglob("*") if p.is_file()}
    planned = json.loads(ctl(bifrostctl_bin, config, "mirror", "restore", "local", "--dry-run", "--json", code=1).stdout)
    assert planned["dry_run"] and planned["selected"] == len(made)
    assert planned["counts"] == {"downloaded": len(gone), "skipped": len(made) - len(gone) - 1, "refused": 1}
    assert [p["key"] for p in planned["problems"]] == [f"projects/{edited.relative_to(tree)}"]
    outcomes = {i["key"]: i["outcome"] for i in planned["items"]}
    assert sorted(k for k, o in outcomes.items() if o == "downloaded") == sorted(f"projects/{g}" for g in gone)
    assert planned["bytes"] == sum(i["size"] for i in planned["items"] if i["outcome"] == "downloaded")
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tree.rglob("*") if p.is_file()}
    assert after == before  # nothing written, no temp file left
    restored = json.loads(ctl(bifrostctl_bin, config, "mirror", "restore", "local", "--json", code=1).stdout)
    assert restored["counts"] == planned["counts"] and restored["bytes"] == planned["bytes"]
    assert [p["key"] for p in restored["problems"]] == [p["key"] for p in planned["problems"]]
    assert all((tree / g).exists() for g in gone)
    again = json.loads(ctl(bifrostctl_bin, config, "mirror", "restore", "local", "--dry-run", "--json", code=1).stdout)
    assert again["counts"] == {"skipped": len(made) - 1, "refused": 1} and again["bytes"] == 0


def test_a_dry_run_in_words(bifrostctl_bin, mirrored):
    tree, config, made, gone, edited = mirrored
    text = ctl(bifrostctl_bin, config, "mirror", "restore", "local", "--dry-run", code=1).stdout
    lines = text.splitlines()
    assert sum(" -> " in line for line in lines) == len(gone)
    assert f"local: would restore {len(gone)} object(s)" in text
    assert f"; {len(made) - len(gone) - 1} already present (skipped)" in text
    assert f"  refused projects/{edited.relative_to(tree)}: the local file is newer" in text
    forced = json.loads(ctl(bifrostctl_bin, config, "mirror", "restore", "local", "--dry-run", "--force",
                            "--json").stdout)
    assert forced["counts"] == {"downloaded": len(gone) + 1, "skipped": len(made) - len(gone) - 1}
    assert edited.read_bytes() == b"saved after the mirror ran"
