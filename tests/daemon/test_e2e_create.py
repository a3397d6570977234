"""bifrostctl create next to a running bifrostd: the folders are made by the caller, the daemon catalogs them."""

from __future__ import annotations

import json

from .conftest import wait_until


def test_create_while_the_daemon_runs_is_catalogued_by_its_watcher(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    done = d.ctl("create", "--json", "--description", "Made live", "bifrost:///shot/demo/sq070/sh0010")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["recorded"] == "daemon"
    assert (studio / "projects/demo/sequences/sq070/sh0010/.bifrost-entity.yaml").is_file()

    def shown():
        result = d.ctl("show", "--json", "bifrost:///shot/demo/sq070/sh0010", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    document = wait_until(shown, what="the daemon to catalog the new shot")
    assert document["entity"]["kind"] == "shot" and document["authored"]["description"] == "Made live"
