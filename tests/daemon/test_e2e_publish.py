"""Publishing and deprecating while bifrostd runs: the command leaves the catalog to the daemon, whose watcher
records the new version and the changed sidecar."""

from __future__ import annotations

from .conftest import wait_until

TASK = "bifrost:///task/shot/demo/sq010/sh0100/anim"
SOURCE = "projects/demo/sequences/sq010/sh0100/anim/work/maya/sh0100_anim_v002.ma"


def _versions(d) -> list[dict]:
    return d.ctl_json("versions", TASK)["versions"]


def _latest(d) -> dict:
    return d.ctl_json("resolve", f"{TASK}?version=latest")["results"][0]


def test_a_publish_and_a_deprecation_reach_the_catalog_through_the_running_daemon(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    done = d.ctl_json("publish", str(studio / SOURCE), "--comment", "through the daemon")
    assert done["version"] == 3 and done["recorded"] == "daemon"

    published = wait_until(lambda: [v for v in _versions(d) if v["publish"]], what="the publish catalogued")
    assert published[0]["uri"].endswith("/anim/3")
    assert published[0]["publish"]["comment"] == "through the daemon"
    latest = _latest(d)
    assert latest["fields"]["version"] == 3 and latest["publish"]["comment"] == "through the daemon"

    state = d.ctl_json("version", "deprecate", "bifrost:///version/shot/demo/sq010/sh0100/anim/3")
    assert state["recorded"] == "daemon"
    wait_until(lambda: _latest(d)["fields"]["version"] == 2,
               what="latest to skip the deprecated version")
    assert _versions(d)[-1]["deprecated"]
