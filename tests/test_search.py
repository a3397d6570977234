"""Finding: bifrostctl search (FTS5 in the catalog), tag/untag, link/unlink and show, on a real demo studio."""

from __future__ import annotations

import contextlib

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd import Studio
from bifrostd.authored import SIDECAR_NAME, read_sidecar
from bifrostd.catalog.search import SearchQuery, match_expression
from bifrostd.cli import main
from bifrostd.production.searches import parse_since

from conftest import ctl_in_process as ctl
from conftest import scanned_demo
from racing import race

SHOT = "bifrost:///shot/demo/sq010/sh0100"
HERO = "bifrost:///asset/demo/character/hero"


@pytest.fixture
def studio(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # saved searches go to ~/.config/bifrost
    return scanned_demo(tmp_path / "s")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A demo studio for read-only questions (the hypothesis test)."""
    return scanned_demo(tmp_path_factory.mktemp("shared") / "s")


def found(capsys, config, *args) -> list[str]:
    code, out, err = ctl(capsys, config, "search", "--json", *args)
    assert code in (0, 1), err
    return [hit["uri"] for hit in json.loads(out)["hits"]]


def sidecar_of(config: Path, relative: str) -> str:
    return (config.parent / "projects" / relative / SIDECAR_NAME).read_text()


# -- the query text: words, never syntax ------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("anim", '"anim"*'),
    ("sh01 anim", '"sh01" "anim"*'),
    ("hero* night", '"hero"* "night"*'),
    ('say "hi"', '"say" """hi"""*'),
    ("AND OR NOT", '"AND" "OR" "NOT"*'),
    ("sh0100 a", '"sh0100" "a"'),  # one letter is a word, not a prefix
    ("* **", ""),
    ("", ""),
])
def test_every_word_is_quoted_and_the_last_is_a_prefix(text, expected):
    assert match_expression(text) == expected


def test_without_prefix_only_starred_words_are_prefixes():
    assert match_expression("anim comp*", prefix=False) == '"anim" "comp"*'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40), st.booleans())
def test_no_text_ever_makes_fts5_raise(shared, monkeypatch, text, broad):
    from bifrostd.catalog import search

    monkeypatch.setattr(search, "BROAD", -1 if broad else 2000)  # -1: every query takes the broad path
    studio = Studio.open(shared)
    try:
        studio.search(text, tags=[text] if text.strip() else [], user=text or None, project=text or None)
        studio.search(text)
    finally:
        studio.close()


def test_a_broad_query_ranks_names_first_then_fills_up(shared, monkeypatch):
    from bifrostd.catalog import search

    monkeypatch.setattr(search, "BROAD", 3)
    with Studio.open(shared) as studio:
        hits = studio.search("sh01", limit=10)
    assert [h.uri for h in hits[:2]] == ["bifrost:///shot/demo/sq010/sh0100", "bifrost:///shot/demo/sq020/sh0100"]
    assert len(hits) == 10 and all(h.score == 0.0 for h in hits[2:]) and len({h.uri for h in hits}) == 10


@pytest.mark.parametrize(("text", "seconds_ago"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600)])
def test_since_takes_an_age(text, seconds_ago):
    assert parse_since(text, 10**19) == 10**19 - seconds_ago * 10**9


def test_since_takes_an_iso_date_in_utc_and_refuses_anything_else():
    from bifrostd.errors import SearchError

    assert parse_since("1970-01-02", 0) == 86400 * 10**9
    with pytest.raises(SearchError, match="--since takes"):
        parse_since("last tuesday", 0)


# -- search ------------------------------------------------------------------------------

def test_search_finds_names_by_prefix_ranked_and_filters_combine(studio, capsys):
    hits = found(capsys, studio, "sh01")
    assert hits[0].startswith("bifrost:///shot/") and SHOT in hits
    assert found(capsys, studio, "sh01", "--kind", "shot") == ["bifrost:///shot/demo/sq010/sh0100",
                                                              "bifrost:///shot/demo/sq020/sh0100"]
    tasks = found(capsys, studio, "sq010", "--task", "anim", "--kind", "task")
    assert tasks and all(uri.endswith("/anim") and "/sq010/" in uri for uri in tasks)
    assert found(capsys, studio, "sh01", "--project", "nope") == []
    code, out, err = ctl(capsys, studio, "search", "zzzqqq")
    assert code == 1 and "nothing matched" in err


def test_a_path_finds_its_entity(studio, capsys):
    assert found(capsys, studio, "sq010/sh0100", "--kind", "shot") == [SHOT]


def test_tags_are_searchable_shown_and_removable(studio, capsys):
    code, out, _ = ctl(capsys, studio, "tag", "--json", SHOT, "hero-shot", "night")
    assert code == 0 and json.loads(out)["recorded"] == "catalog"
    assert "night" in sidecar_of(studio, "demo/sequences/sq010/sh0100")
    assert found(capsys, studio, "nig") == [SHOT]
    assert found(capsys, studio, "--tag", "night", "--kind", "shot") == [SHOT]
    assert found(capsys, studio, "--tag", "night", "--kind", "asset") == []
    code, out, _ = ctl(capsys, studio, "show", "--json", SHOT)
    assert json.loads(out)["authored"]["tags"] == ["hero-shot", "night"]
    code, out, _ = ctl(capsys, studio, "ls", "--json", "bifrost:///sequence/demo/sq010")
    assert {c["uri"]: c["tags"] for c in json.loads(out)["children"]}[SHOT] == ["hero-shot", "night"]
    code, out, _ = ctl(capsys, studio, "ls", "bifrost:///sequence/demo/sq010")
    assert "hero-shot night" in out
    assert ctl(capsys, studio, "untag", SHOT, "night")[0] == 0
    assert found(capsys, studio, "--tag", "night") == []
    assert found(capsys, studio, "--tag", "hero-shot") == [SHOT]


def test_a_dry_run_writes_nothing(studio, capsys):
    code, out, _ = ctl(capsys, studio, "tag", "--dry-run", "--json", SHOT, "night")
    assert code == 0 and json.loads(out)["tags"] == ["night"] and json.loads(out)["dry_run"]
    assert not (studio.parent / "projects/demo/sequences/sq010/sh0100" / SIDECAR_NAME).exists()
    assert found(capsys, studio, "--tag", "night") == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (["tag", SHOT, "two words"], 18, "one word without spaces"),
    (["tag", "bifrost:///shot/demo/sq010/sh9999", "night"], 6, "not in the catalog"),
    (["link", SHOT, "bifrost:///asset/demo/character/nobody"], 18, "cannot link to it"),
    (["link", SHOT, HERO, "--as", "two words"], 18, "one word"),
])
def test_bad_input_is_refused_and_changes_nothing(studio, capsys, args, code, message):
    assert ctl(capsys, studio, "tag", SHOT, "before")[0] == 0
    before = sidecar_of(studio, "demo/sequences/sq010/sh0100")
    got, _, err = ctl(capsys, studio, *args)
    assert got == code and message in err and err.startswith("Error: ")
    assert sidecar_of(studio, "demo/sequences/sq010/sh0100") == before


def test_links_show_in_both_directions_and_unlink_removes_them(studio, capsys):
    assert ctl(capsys, studio, "link", SHOT, "bifrost:///asset/demo/character/hero")[0] == 0
    code, out, _ = ctl(capsys, studio, "show", "--json", SHOT)
    assert json.loads(out)["authored"]["links"] == [{"to": HERO, "as": "uses"}]
    code, out, _ = ctl(capsys, studio, "show", "--json", HERO)
    assert json.loads(out)["linked_from"] == [{"from": SHOT, "as": "uses"}]
    code, out, _ = ctl(capsys, studio, "show", HERO)
    assert f"uses {SHOT}" in out
    assert ctl(capsys, studio, "unlink", SHOT, HERO)[0] == 0
    code, out, _ = ctl(capsys, studio, "show", "--json", HERO)
    assert json.loads(out)["linked_from"] == []


def test_show_lists_the_latest_version_of_each_task(studio, capsys):
    code, out, _ = ctl(capsys, studio, "show", "--json", SHOT)
    latest = json.loads(out)["latest"]
    assert latest["anim"] == "bifrost:///version/shot/demo/sq010/sh0100/anim/2"
    assert ctl(capsys, studio, "version", "deprecate", latest["anim"])[0] == 0
    code, out, _ = ctl(capsys, studio, "show", "--json", SHOT)
    assert json.loads(out)["latest"]["anim"] == "bifrost:///version/shot/demo/sq010/sh0100/anim/1"


def test_a_publish_comment_and_its_user_are_searchable(studio, capsys):
    import pwd

    work = next((studio.parent / "projects/demo/assets/vehicle/truck/model/work/maya").glob("*.mb"))
    code, out, err = ctl(capsys, studio, "publish", "--json", str(work), "--comment", "rooftop blocking pass")
    assert code == 0, err
    user = pwd.getpwuid(os.getuid()).pw_name
    hits = found(capsys, studio, "rooftop block")
    assert len(hits) == 1 and hits[0].startswith("bifrost:///version/asset/demo/vehicle/truck/model/")
    assert found(capsys, studio, "--user", user) == hits
    assert found(capsys, studio, "rooftop", "--user", "somebody-else") == []


def test_saved_searches_live_in_the_users_file_and_survive_a_rebuilt_catalog(studio, capsys, tmp_path):
    code, out, _ = ctl(capsys, studio, "search", "sh01", "--kind", "shot", "--since", "30d", "--save", "shots")
    assert code == 0 and "@shots" in out
    saved = json.loads((tmp_path / "home/.config/bifrost/searches.json").read_text())
    assert saved["schema"] == "bifrost.searches.1"
    assert saved["searches"]["shots"] == {"text": "sh01", "kind": "shot", "since": "30d", "limit": 50}
    expected = found(capsys, studio, "sh01", "--kind", "shot")
    assert found(capsys, studio, "@shots") == expected
    assert found(capsys, studio, "@shots", "sh02") == ["bifrost:///shot/demo/sq010/sh0200",
                                                       "bifrost:///shot/demo/sq020/sh0200"]
    (studio.parent / ".bifrost/catalog.db").unlink()
    assert main(["--config", str(studio), "scan"]) == 0
    capsys.readouterr()
    assert found(capsys, studio, "@shots") == expected
    code, _, err = ctl(capsys, studio, "search", "@nope")
    assert code == 2 and "no saved search 'nope'" in err and "shots" in err


def test_tags_and_links_come_back_when_the_catalog_is_rebuilt_from_the_tree(studio, capsys):
    assert ctl(capsys, studio, "tag", SHOT, "night")[0] == 0
    assert ctl(capsys, studio, "link", SHOT, HERO, "--as", "needs")[0] == 0
    catalog = studio.parent / ".bifrost/catalog.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    assert main(["--config", str(studio), "scan"]) == 0
    capsys.readouterr()
    assert found(capsys, studio, "--tag", "night") == [SHOT]
    code, out, _ = ctl(capsys, studio, "show", "--json", HERO)
    assert json.loads(out)["linked_from"] == [{"from": SHOT, "as": "needs"}]


def test_a_hand_edit_of_the_sidecar_reaches_search_with_the_next_scan(studio, capsys):
    sidecar = studio.parent / "projects/demo/sequences/sq010/sh0100" / SIDECAR_NAME
    sidecar.write_text("schema: bifrost.entity.1\ndescription: Hero lands on the roof\n")
    assert main(["--config", str(studio), "scan"]) == 0
    capsys.readouterr()
    assert found(capsys, studio, "lands roof") == [SHOT]


def test_the_api_answers_what_the_cli_renders(studio):
    with Studio.open(studio) as api:
        change = api.tag(SHOT, "night")
        assert change.changed and change.after.tags == ("night",)
        assert [hit.uri for hit in api.search("", tags=["night"])] == [SHOT]
        api.link(SHOT, HERO)
        assert [(link.target, link.kind) for link in api.links_to(HERO)] == [(SHOT, "uses")]
        assert api.latest_versions(SHOT)["comp"].uri.endswith("/comp/2")
        assert api.tag(SHOT, "night").changed is False


# -- two writers at once ------------------------------------------------------------------

def _tag_many(config: str, prefix: str, count: int, start) -> None:
    start.wait()
    with Studio.open(config) as studio:
        for i in range(count):
            studio.tag(SHOT, f"{prefix}{i}")


def test_two_processes_tagging_one_entity_at_once_both_land(studio, capsys):
    race(_tag_many, [(str(studio), f"w{n}-", 10) for n in range(2)])
    data = read_sidecar(studio.parent / "projects/demo/sequences/sq010/sh0100").data
    assert data is not None and sorted(data.tags) == sorted(f"w{n}-{i}" for n in range(2) for i in range(10))
    assert main(["--config", str(studio), "scan"]) == 0  # whatever a busy catalog left pending
    capsys.readouterr()
    assert found(capsys, studio, "--tag", "w0-9", "--tag", "w1-9") == [SHOT]


def test_the_sidecar_survives_being_copied_elsewhere(studio, tmp_path):
    """A sidecar is a plain file of the tree: a copy of the studio (a restore) searches the same."""
    copy = tmp_path / "copy"
    with Studio.open(studio) as api:
        api.tag(SHOT, "night")
    shutil.copytree(studio.parent, copy, ignore=shutil.ignore_patterns("catalog.db*"))
    assert main(["--config", str(copy / "bifrost.yaml"), "scan"]) == 0
    with Studio.open(copy / "bifrost.yaml") as api:
        assert [hit.uri for hit in api.search(tags=["night"])] == [SHOT]


def test_filters_become_column_phrases_after_the_words():
    query = SearchQuery("hero", user='a"b', tags=("night",))
    assert query.expression() == '"hero"* AND tags : "night" AND user : "a""b"'
    assert query.expression(names_only=True) == 'name : ("hero"*) AND tags : "night" AND user : "a""b"'


def test_a_sqlite_without_fts5_is_refused_with_a_clear_error():
    import sqlite3

    from bifrostd.catalog.search import check_fts5
    from bifrostd.errors import SearchUnavailable

    class NoFts5:
        def execute(self, sql: str, *args):
            raise sqlite3.OperationalError("no such module: fts5")

    with pytest.raises(SearchUnavailable) as caught:
        check_fts5(NoFts5())  # type: ignore[arg-type]
    assert "without FTS5" in str(caught.value) and caught.value.exit_code == 24
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:  # closed: 3.13 reports a collected open one
        check_fts5(conn)  # this Python's has it


def test_since_keeps_the_entities_changed_since_then(studio, capsys):
    assert ctl(capsys, studio, "tag", SHOT, "night")[0] == 0
    assert found(capsys, studio, "--tag", "night", "--since", "1h") == [SHOT]
    assert found(capsys, studio, "--tag", "night", "--since", "2999-01-01") == []
    recent = found(capsys, studio, "--since", "1h", "--limit", "1")
    assert recent == [SHOT]  # no words: the most recently changed first
    code, _, err = ctl(capsys, studio, "search", "sh01", "--since", "yesterday")
    assert code == 2 and "--since takes" in err


@given(st.text(max_size=30))
def test_since_answers_a_64_bit_time_or_refuses_never_crashes(text):
    from bifrostd.errors import SearchError

    try:
        value = parse_since(text, 1_800_000_000 * 10**9)
    except SearchError:
        return
    assert -(1 << 63) < value < (1 << 63)
