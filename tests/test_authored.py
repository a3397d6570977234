"""Authored data in sidecar files: parse, validate with file/line/reason, atomic locked writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.authored import (
    SIDECAR_NAME,
    Authored,
    FrameRange,
    Link,
    parse_sidecar,
    read_sidecar,
    render_sidecar,
    update_sidecar,
)
from bifrostd.errors import SidecarBroken

from racing import race

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "entity.schema.json").read_text())

FULL = Authored(
    description="Hero lands on the roof",
    frames=FrameRange(1001, 1100, 8, 8),
    tags=("hero", "night"),
    links=(Link("bifrost:/demo/asset/char/hero"),),
    fields={"vendor": "inhouse", "priority": 2},
)


def test_full_round_trip_and_schema():
    text = render_sidecar(FULL)
    assert text.startswith("schema: bifrost.entity.1\n")
    jsonschema.validate(yaml.safe_load(text), SCHEMA)
    read = parse_sidecar(text, "x.yaml")
    assert read.ok and read.data == FULL


def test_empty_document_is_empty_data():
    read = parse_sidecar("schema: bifrost.entity.1\n", "x.yaml")
    assert read.ok and read.data is not None and read.data.is_empty()


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("schema: bifrost.entity.1\ndescription: [unclosed\n", 3, "YAML syntax error"),
    ("description: hi\n", 1, "missing"),
    ("schema: bifrost.entity.2\n", 1, "newer"),
    ("schema: bifrost.entity.1\nframes:\n  cut_in: 1001\n  cut_out: ten\n", 4, "whole number"),
    ("schema: bifrost.entity.1\nframes:\n  cut_in: 1100\n  cut_out: 1001\n", 4, "before cut_in"),
    ("schema: bifrost.entity.1\nframes:\n  cut_in: 1\n  cut_out: 2\n  handle_in: -1\n", 5, "negative"),
    ("schema: bifrost.entity.1\ntags: [ok, two words]\n", 2, "one word"),
    ("schema: bifrost.entity.1\ncolour: red\n", 2, "unknown key"),
    ("schema: bifrost.entity.1\nlinks:\n  - {target: x}\n", 3, "a link is"),
    ("- just\n- a list\n", 1, "mapping"),
])
def test_broken_sidecar_names_line_and_reason(text, line, reason):
    read = parse_sidecar(text, "shot/.bifrost-entity.yaml")
    assert read.data is None and not read.ok
    problem = read.problems[0]
    assert problem.where.file == "shot/.bifrost-entity.yaml"
    assert problem.where.line == line
    assert reason in problem.message


@pytest.mark.parametrize("text", [
    "schema: bifrost.entity.1\ncolour: red\n",
    "schema: bifrost.entity.1\nframes: {cut_in: 1, cut_out: 2, handle_in: -1}\n",
    "schema: bifrost.entity.1\ntags: [two words]\n",
])
def test_what_the_parser_refuses_the_schema_refuses(text):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), SCHEMA)


words = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8)
authored = st.builds(
    Authored,
    description=st.text(max_size=40),
    frames=st.none() | st.builds(lambda a, n, h1, h2: FrameRange(a, a + n, h1, h2),
                                 st.integers(-10_000, 10_000), st.integers(0, 5000),
                                 st.integers(0, 100), st.integers(0, 100)),
    tags=st.lists(words, unique=True, max_size=4).map(tuple),
    links=st.lists(st.builds(Link, words, words), max_size=3).map(tuple),
    fields=st.dictionaries(words, st.integers() | words, max_size=3),
)


@given(authored)
def test_render_then_parse_is_identity(data):
    text = render_sidecar(data)
    jsonschema.validate(yaml.safe_load(text), SCHEMA)
    assert parse_sidecar(text, "x").data == data


@pytest.mark.parametrize("text", ["\x85", "line\u2028separator", "\u2029", "caf\u00e9 \u30b7\u30e7\u30c3\u30c8"])
def test_a_description_with_unicode_line_breaks_reads_back_as_written(text):
    data = Authored(description=text)
    assert parse_sidecar(render_sidecar(data), "x").data == data


def test_read_missing_is_empty(tmp_path):
    read = read_sidecar(tmp_path)
    assert read.ok and read.data == Authored()


def test_update_writes_atomically_and_keeps_other_keys(tmp_path):
    update_sidecar(tmp_path, lambda a: FULL)
    update_sidecar(tmp_path, lambda a: Authored(a.description, a.frames, (*a.tags, "wip"), a.links, a.fields))
    assert read_sidecar(tmp_path).data == Authored(FULL.description, FULL.frames, ("hero", "night", "wip"),
                                                   FULL.links, FULL.fields)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bifrost-tmp-")]


def test_update_refuses_a_broken_sidecar_and_leaves_it(tmp_path):
    broken = "schema: bifrost.entity.1\nframes:\n  cut_in: 1001\n  cut_out: oops\n"
    (tmp_path / SIDECAR_NAME).write_text(broken)
    with pytest.raises(SidecarBroken) as caught:
        update_sidecar(tmp_path, lambda a: FULL)
    assert f"{tmp_path / SIDECAR_NAME}:4:" in str(caught.value)
    assert caught.value.exit_code == 18
    assert (tmp_path / SIDECAR_NAME).read_text() == broken


def _add_tags(folder: str, prefix: str, count: int, start) -> None:
    start.wait()
    for i in range(count):
        update_sidecar(folder, lambda a, t=f"{prefix}{i}": Authored(a.description, a.frames, (*a.tags, t)))


def test_racing_processes_never_lose_a_change(tmp_path):
    """Four real processes each add 25 tags at once; every one of the 100 is there afterwards."""
    race(_add_tags, [(str(tmp_path), f"p{n}-", 25) for n in range(4)], timeout=60)
    data = read_sidecar(tmp_path).data
    assert data is not None
    assert sorted(data.tags) == sorted(f"p{n}-{i}" for n in range(4) for i in range(25))


# -- the catalog's index of sidecars ----------------------------------------------------------------


def test_catalog_keeps_the_last_good_values_of_a_broken_sidecar(tmp_path):
    from bifrostd.catalog import Catalog

    folder = tmp_path / "sh0010"
    folder.mkdir()
    update_sidecar(folder, lambda a: FULL)
    with Catalog.open(tmp_path / "catalog.db", write=True) as catalog:
        catalog.index_sidecar("projects", "demo/sh0010", read_sidecar(folder))
        assert catalog.authored("projects", "demo/sh0010").data == FULL
        assert catalog.broken_sidecars() == []
        (folder / SIDECAR_NAME).write_text("schema: bifrost.entity.1\ntags: [a b]\n")
        catalog.index_sidecar("projects", "demo/sh0010", read_sidecar(folder))
        row = catalog.authored("projects", "demo/sh0010")
        assert row.data == FULL  # never blanked
        assert [(p["line"], p["key"]) for p in row.problems] == [(2, "tags")]
        assert [b.folder for b in catalog.broken_sidecars()] == ["demo/sh0010"]
        (folder / SIDECAR_NAME).write_text(render_sidecar(Authored("new")))
        catalog.index_sidecar("projects", "demo/sh0010", read_sidecar(folder))
        assert catalog.authored("projects", "demo/sh0010").data == Authored("new")
        assert catalog.broken_sidecars() == []
        assert catalog.authored("projects", "elsewhere") is None


def test_a_sidecar_broken_from_the_start_has_no_values_but_its_problems(tmp_path):
    from bifrostd.catalog import Catalog

    (tmp_path / SIDECAR_NAME).write_text("nonsense: [\n")
    with Catalog.open(tmp_path / "catalog.db", write=True) as catalog:
        catalog.index_sidecar("projects", "x", read_sidecar(tmp_path))
        row = catalog.authored("projects", "x")
        assert row.data is None and row.problems[0]["code"] == "syntax"
