"""bifrostctl tag and link next to a running bifrostd: the caller writes the sidecar, the daemon's watcher
indexes it, and search finds it."""

from __future__ import annotations

import json

from .conftest import wait_until

SHOT = "bifrost:///shot/demo/sq010/sh0100"
HERO = "bifrost:///asset/demo/character/hero"


def test_a_tag_written_while_the_daemon_runs_is_found_by_search(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    done = d.ctl("tag", "--json", SHOT, "live-tag")
    assert done.returncode == 0 and json.loads(done.stdout)["recorded"] == "daemon"
    assert d.ctl("link", SHOT, HERO).returncode == 0

    def found():
        result = d.ctl("search", "--json", "--tag", "live-tag", check=False)
        return json.loads(result.stdout)["hits"] if result.returncode == 0 else None

    hits = wait_until(found, what="the daemon to index the tagged sidecar")
    assert [hit["uri"] for hit in hits] == [SHOT]

    def linked():
        result = d.ctl("show", "--json", HERO)
        return json.loads(result.stdout)["linked_from"] or None

    assert wait_until(linked, what="the daemon to index the link") == [{"from": SHOT, "as": "uses"}]
