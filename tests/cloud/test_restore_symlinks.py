"""A restore never writes through a symlink below a root, on a folder target and on S3 (moto).

Anyone who can write in a root can replace a folder with a symlink to
somewhere else; a restore run as root must refuse that path (a finding in its
report, the rest restored), never create files where the link points.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio_tree import age_tree, ctl, make_tree, scan, write, write_config  # noqa: E402


def _studio(request, tmp_path: Path, protocol: str) -> tuple[Path, Path]:
    """A studio tree with projects:demo/x/evil, mirrored to a fresh ``protocol`` target named ``t``."""
    tree = tmp_path / "projects"
    make_tree(tree, shots=1, versions=1, frames=2)
    write(tree / "demo/x/evil", b"restored into x")
    write(tree / "demo/x/sub/deeper", b"restored into x/sub")
    write(tree / "demo/y/good", b"an ordinary file")
    age_tree(tree)
    config = write_config(tmp_path, tree)
    if protocol == "s3":
        port = request.getfixturevalue("s3_port")
        bucket = f"r-{uuid.uuid4().hex[:12]}"
        settings = {"url": f"s3://{bucket}/studio", "endpoint_url": f"http://127.0.0.1:{port}"}
        from bifrostd.mirror import open_filesystem, parse_target

        open_filesystem(parse_target("t", settings)).mkdir(bucket)
    else:
        settings = {"url": f"file://{tmp_path / 'bucket'}"}
    with config.open("a") as out:
        out.write("mirror:\n  targets:\n    t: " + json.dumps(settings) + "\n")
    scan(config)
    return tree, config


@pytest.mark.parametrize("protocol", ["file", "s3"])
def test_restore_refuses_a_folder_replaced_by_a_symlink_and_restores_the_rest(request, tmp_path, bifrostctl_bin,
                                                                              protocol):
    tree, config = _studio(request, tmp_path, protocol)
    ctl(bifrostctl_bin, config, "mirror", "run")
    victim = tmp_path / "victim"  # a folder outside the root
    victim.mkdir()
    for path in (tree / "demo/x/evil", tree / "demo/x/sub/deeper", tree / "demo/y/good"):
        path.unlink()
    (tree / "demo/x/sub").rmdir()
    (tree / "demo/x").rmdir()
    (tree / "demo/x").symlink_to(victim)
    ctl(bifrostctl_bin, config, "scan")

    for dry_run in (["--dry-run"], []):
        done = ctl(bifrostctl_bin, config, "mirror", "restore", "t", "--json", *dry_run, code=1)
        report = json.loads(done.stdout)
        refused = {p["key"]: p["error"] for p in report["problems"]}
        assert set(refused) == {"projects/demo/x/evil", "projects/demo/x/sub/deeper"}
        assert all(f"{tree / 'demo/x'} is a symlink" in error for error in refused.values()), refused
        assert report["counts"]["refused"] == 2 and report["counts"]["downloaded"] == 1
        assert list(victim.iterdir()) == []  # nothing created where the link points, not even a folder
    assert (tree / "demo/y/good").read_bytes() == b"an ordinary file"  # the rest came back
    assert (tree / "demo/x").is_symlink()
    text = ctl(bifrostctl_bin, config, "mirror", "restore", "t", code=1).stdout
    assert f"refused projects/demo/x/evil: {tree / 'demo/x'} is a symlink" in text


def test_restore_refuses_a_file_where_a_folder_should_be_and_replaces_a_symlink_at_the_file(
        request, tmp_path, bifrostctl_bin):
    tree, config = _studio(request, tmp_path, "file")
    ctl(bifrostctl_bin, config, "mirror", "run")
    for path in (tree / "demo/x/evil", tree / "demo/x/sub/deeper"):
        path.unlink()
    (tree / "demo/x/sub").rmdir()
    (tree / "demo/x/sub").write_bytes(b"a file named like the folder")
    outside = write(tmp_path / "victim/secret", b"must stay as it is")
    (tree / "demo/x/evil").symlink_to(outside)  # the final name itself a symlink
    ctl(bifrostctl_bin, config, "scan")
    report = json.loads(ctl(bifrostctl_bin, config, "mirror", "restore", "t", "--force", "--json", code=1).stdout)
    assert [(p["key"], p["outcome"]) for p in report["problems"]] == [("projects/demo/x/sub/deeper", "refused")]
    assert f"{tree / 'demo/x/sub'} is not a folder" in report["problems"][0]["error"]
    assert outside.read_bytes() == b"must stay as it is"  # the link was replaced, never written through
    assert not (tree / "demo/x/evil").is_symlink() and (tree / "demo/x/evil").read_bytes() == b"restored into x"
