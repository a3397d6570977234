"""Choosing watch or poll per root from the mount table (injected) and the config."""

from __future__ import annotations

import pytest

from bifrostd.observe.mounts import Mount, parse_mountinfo
from bifrostd.observe.watch import Mode, plan_root, plan_roots

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime - ext4 /dev/vda1 rw
40 27 0:40 / /mnt/studio rw,relatime - nfs4 nas:/export/studio rw,vers=4.2
41 40 259:2 / /mnt/studio/local rw,relatime - xfs /dev/vdb1 rw
42 27 0:42 / /mnt/smb rw,relatime - cifs //nas/share rw
43 27 0:43 / /mnt/sshfs rw,relatime - fuse.sshfs user@host:/ rw
44 27 0:44 / /mnt/with\\040space rw,relatime - 9p hostshare rw
45 27 0:45 / /mnt/fast rw,relatime - tmpfs tmpfs rw
"""


@pytest.fixture
def mounts():
    return parse_mountinfo(MOUNTINFO)


@pytest.mark.parametrize(("path", "fstype", "mode"), [
    ("/srv/projects", "ext4", Mode.WATCH),
    ("/mnt/studio/projects", "nfs4", Mode.POLL),
    ("/mnt/studio", "nfs4", Mode.POLL),
    ("/mnt/studio/local/cache", "xfs", Mode.WATCH),      # longest mount point wins
    ("/mnt/studiox/projects", "ext4", Mode.WATCH),       # a prefix of the name is not a parent
    ("/mnt/smb/renders", "cifs", Mode.POLL),
    ("/mnt/sshfs/x", "fuse.sshfs", Mode.POLL),
    ("/mnt/with space/x", "9p", Mode.POLL),
    ("/mnt/fast/burst", "tmpfs", Mode.WATCH),
])
def test_mode_follows_the_filesystem(mounts, path, fstype, mode):
    plan = plan_root("projects", path, override=None, mounts=mounts)
    assert (plan.fstype, plan.mode) == (fstype, mode)
    if mode is Mode.POLL:
        assert "network filesystem" in plan.reason


@pytest.mark.parametrize(("path", "override", "mode"), [
    ("/mnt/studio/projects", "watch", Mode.WATCH),  # e.g. the daemon runs on the file server itself
    ("/srv/projects", "poll", Mode.POLL),
])
def test_config_overrides_the_guess(mounts, path, override, mode):
    plan = plan_root("projects", path, override=override, mounts=mounts)
    assert plan.mode is mode
    assert "daemon.roots.projects.mode" in plan.reason


def test_no_mount_table_means_unknown_and_watched():
    plan = plan_root("projects", "/srv/projects", override=None, mounts=[])
    assert (plan.fstype, plan.mode) == ("unknown", Mode.WATCH)


def test_plan_roots_reads_the_table_once_per_call():
    calls = []

    def table():
        calls.append(1)
        return [Mount("/", "ext4"), Mount("/nas", "nfs")]

    plans = plan_roots({"projects": "/nas/p", "renders": "/data/r"}, {"renders": "poll"}, mounts=table)
    assert [(p.name, p.mode) for p in plans] == [("projects", Mode.POLL), ("renders", Mode.POLL)]
    assert len(calls) == 1


def test_the_real_mount_table_knows_this_folder(tmp_path):
    plans = plan_roots({"tmp": str(tmp_path)}, {})
    assert plans[0].fstype not in ("", "unknown")
