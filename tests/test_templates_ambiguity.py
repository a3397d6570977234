"""One reading per path: templates check finds paths that split into fields two ways, and path refuses to write them."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.errors import FieldValueError
from bifrostd.templates import KeyType, load_template_set
from bifrostd.templates.check import check_template_set

HEADER = """\
schema: bifrost.templates.1
roots:
  p: {linux: /mnt/p, windows: 'P:\\p', mac: /Volumes/p}
keys:
  name: {type: str}
  channel: {type: str, pattern: '[a-z_]+'}
  layer: {type: str}
  under: {type: str, pattern: '[a-z_]+'}
  word: {type: str, pattern: '[a-z]+'}
  kind: {type: str, choices: [x, x_y]}
  version: {type: int, padding: 3}
  frame: {type: frame, padding: 4}
templates:
"""


def write(folder: Path, templates: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "set.yaml").write_text(HEADER + templates)
    return folder


def ambiguous(folder: Path) -> dict[str, str]:
    return {p.key.split(".")[1]: p.message for p in check_template_set(folder)[1] if p.code == "ambiguous"}


def test_check_reports_each_template_with_two_readings_and_an_example(tmp_path):
    folder = write(tmp_path / "t", """\
  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}
  pair: {path: 'pair/{under}_{channel}.txt', root: p}
  fine: {path: 'fine/{name}_{word}_v{version}.{frame}.exr', root: p}
  choice: {path: 'choice/{kind}[_{word}].txt', root: p}
  choices_apart: {path: 'apart/{kind}_{word}.txt', root: p}
""")
    found = ambiguous(folder)
    assert set(found) == {"tex", "pair", "choice"}
    example = re.search(r"two readings: '([^']+)'", found["tex"]).group(1)
    assert example.startswith("tex/") and "channel=" in found["tex"] and "no layer" in found["tex"]
    assert "layer=" in found["tex"].split(", or ")[1]
    template_set = load_template_set(folder)
    # matching agrees with the proof: the example is refused as ambiguous, with both of its readings
    found = template_set.match(f"/mnt/p/{example}")
    assert found.ambiguous and found.candidates == ("tex",) and len(found.readings) == 2
    assert {"layer" in reading for reading in found.readings} == {True, False}
    assert template_set.match("/mnt/p/fine/a_b_v001.1001.exr").fields == {"name": "a", "word": "b", "version": 1,
                                                                          "frame": 1001}


def test_path_refuses_a_path_with_two_readings(tmp_path):
    template_set = load_template_set(write(tmp_path / "t", "  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}\n"))
    for fields in ({"name": "n", "channel": "ch", "layer": "la"}, {"name": "n", "channel": "ch_la"}):
        with pytest.raises(FieldValueError, match=r"would write 'tex/n_ch_la.tif', which reads two ways: "
                                                  r"channel='ch_la', no layer, or channel='ch', layer='la'"):
            template_set.format("tex", fields)
    # a layer its key alone can hold, and a channel without '_', read back one way: written
    assert template_set.format("tex", {"name": "n", "channel": "ch", "layer": "LA"}) == "/mnt/p/tex/n_ch_LA.tif"
    assert template_set.format("tex", {"name": "n", "channel": "ch"}) == "/mnt/p/tex/n_ch.tif"
    assert template_set.match("/mnt/p/tex/n_ch_LA.tif").fields == {"name": "n", "channel": "ch", "layer": "LA"}


@pytest.mark.parametrize(("rule", "reading", "refused"), [
    ("longest-first", {"name": "n", "channel": "ch_la"}, {"name": "n", "channel": "ch", "layer": "la"}),
    ("shortest-first", {"name": "n", "channel": "ch", "layer": "la"}, {"name": "n", "channel": "ch_la"}),
])
@pytest.mark.parametrize("where", ["set", "template"])
def test_a_declared_rule_picks_one_reading_everywhere(tmp_path, rule, reading, refused, where):
    line = ("  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p"
            + (f", readings: {rule}}}\n" if where == "template" else "}\n"))
    folder = write(tmp_path / "t", line)
    if where == "set":
        (folder / "set.yaml").write_text(f"readings: {rule}\n" + (folder / "set.yaml").read_text())
    template_set, problems = check_template_set(folder)
    assert [p for p in problems if p.code != "unused-key"] == []  # the rule decides: not a problem of the set
    found = template_set.match("/mnt/p/tex/n_ch_la.tif")
    assert not found.ambiguous and found.fields == reading
    assert template_set.format("tex", reading) == "/mnt/p/tex/n_ch_la.tif"
    with pytest.raises(FieldValueError, match="reads back as"):  # the other reading would not read back
        template_set.format("tex", refused)


def test_reading_rules_are_checked_where_declared(tmp_path):
    folder = write(tmp_path / "t", "  tex: {path: 'tex/{name}.tif', root: p, readings: longest}\n")
    (folder / "more.yaml").write_text("readings: shortest-first\n")
    (folder / "set.yaml").write_text("readings: refuse\n" + (folder / "set.yaml").read_text())
    problems = [str(p) for p in check_template_set(folder)[1]]
    assert any("set.yaml:" in p and "templates.tex.readings: unknown reading rule 'longest'" in p
               and "longest-first" in p for p in problems), problems
    # more.yaml is read first: set.yaml's other rule is the problem, pointing back at the first
    assert any("set.yaml:1:11: readings: the set's rule is already 'shortest-first' (at " in p and "more.yaml:1:11" in p
               for p in problems), problems


def test_the_default_set_has_one_reading_per_path():
    folder = Path(__file__).resolve().parent.parent / "templates"
    assert ambiguous(folder) == {}


# -- generated sets: flagged by check, or format and parse are inverses ---------------------------------

PARTS = ["{name}", "{under}", "{word}", "{kind}", "v{version}", "{frame}"]


@st.composite
def file_names(draw):
    pieces = draw(st.lists(st.sampled_from(PARTS), min_size=1, max_size=3))
    seps = [draw(st.sampled_from(["_", ".", "", "-"])) for _ in pieces[1:]]
    text = pieces[0] + "".join(s + p for s, p in zip(seps, pieces[1:]))
    if draw(st.booleans()):
        text += "[_" + draw(st.sampled_from(PARTS)) + "]"
    return text + ".ext"


def values(key):
    if key.type is KeyType.STR:
        if key.choices:
            return st.sampled_from(key.choices)
        return st.from_regex(re.compile(f"(?:{key.regex()})", re.ASCII), fullmatch=True).filter(lambda v: len(v) < 6)
    if key.type is KeyType.INT:
        return st.integers(min_value=0, max_value=2000)
    return st.one_of(st.integers(min_value=0, max_value=2000), st.sampled_from(["####", "[1001-1100]", "1001-1100#"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_names(), st.data())
def test_generated_templates_are_flagged_or_round_trip(name, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp), f"  t: {{path: 'f/{name}', root: p}}\n")
        template_set, problems = check_template_set(folder)
        if template_set is None or any(p.code == "ambiguous" for p in problems):
            return
        template = template_set.templates["t"]
        for _ in range(5):
            fields = {}
            for key in template.keys.values():
                fields.setdefault(key.field, data.draw(values(key)))
            try:
                path = template_set.format("t", fields)
            except FieldValueError as exc:
                assert "reads back" not in str(exc), f"{name}: check found one reading, but {exc}"
                continue
            found = template_set.match(path)
            assert found is not None and template_set.format("t", found.fields) == path
            by_field = {key.field: key for key in template.keys.values()}
            written = {f: by_field[f].parse(by_field[f].render(v)) for f, v in fields.items()}
            assert {f: v for f, v in found.fields.items()} == {f: written[f] for f in found.fields}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_names())
def test_the_cheap_proof_never_hides_two_readings(name):
    """What compiling proves without automata (and matching then trusts) the automaton proof confirms."""
    from bifrostd.templates.ambiguity import find_two_readings, tagged_regex
    from bifrostd.templates.check import ProofCache, _symbol_chars
    from bifrostd.templates.readings import piece_proven, pieces

    with tempfile.TemporaryDirectory() as tmp:
        template = load_template_set(write(Path(tmp), f"  t: {{path: 'f/{name}', root: p}}\n")).templates["t"]
        proofs = ProofCache()
        for piece in pieces(template.tokens, template.keys):
            if piece_proven(piece, template.keys):
                fsm = proofs.fsm(tagged_regex(piece, template.keys))
                found = find_two_readings(piece.fields, fsm, _symbol_chars(fsm))
                # the automaton ignores that a repeated key repeats its value: its witness may be no real one
                assert found is None or not found.confirmed, (name, found)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_names(), st.data())
def test_matching_refuses_exactly_the_paths_with_two_readings(name, data):
    """A path matching gives one reading for has one (format gives it back); one it refuses has two."""
    with tempfile.TemporaryDirectory() as tmp:
        template_set = load_template_set(write(Path(tmp), f"  t: {{path: 'f/{name}', root: p}}\n"))
        template = template_set.templates["t"]
        for _ in range(5):
            fields = {}
            for key in template.keys.values():
                fields.setdefault(key.field, data.draw(values(key)))
            relative = "".join(template._render(template.tokens, fields, True, {}))  # written unchecked
            found = template_set.match_relative("p", relative)
            every = template.readings(relative, limit=3)
            if found is None:
                assert every == []
            elif found.ambiguous:
                assert len(every) >= 2 and list(found.readings) == every[:2]
            else:
                assert every == [found.fields]


def test_resolve_refuses_a_path_with_two_readings_and_shows_both(tmp_path, capsys):
    from bifrostd.cli import main

    write(tmp_path / "t", "  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}\n")
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: state\n")
    code = main(["--config", str(config), "resolve", "/mnt/p/tex/n_ch_la.tif"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.strip() == ("/mnt/p/tex/n_ch_la.tif: reads two ways under template 'tex': "
                           "channel='ch_la', no layer, or channel='ch', layer='la'")
    code = main(["--config", str(config), "resolve", "--json", "/mnt/p/tex/n_ch_la.tif", "/mnt/p/tex/n_ch.tif"])
    ambiguous_one, plain = json.loads(capsys.readouterr().out)["results"]
    assert code == 1 and ambiguous_one["matched"] is False and ambiguous_one["candidates"] == ["tex"]
    assert ambiguous_one["readings"] == [{"name": "n", "channel": "ch_la"}, {"name": "n", "channel": "ch", "layer": "la"}]
    assert plain["matched"] is True and plain["fields"] == {"name": "n", "channel": "ch"}


def test_the_api_raises_for_a_path_with_two_readings(tmp_path):
    from bifrostd import Studio
    from bifrostd.errors import ResolveError

    write(tmp_path / "t", "  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}\n")
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: state\n")
    studio = Studio.open(config)
    answer = studio.explain("/mnt/p/tex/n_ch_la.tif")
    assert [dict(r) for r in answer.readings] == [{"name": "n", "channel": "ch_la"},
                                                 {"name": "n", "channel": "ch", "layer": "la"}]
    with pytest.raises(ResolveError, match=r"reads two ways under template 'tex': channel='ch_la', no layer"):
        studio.resolve("/mnt/p/tex/n_ch_la.tif")


def test_a_scan_catalogues_a_path_with_two_readings_as_unmanaged_and_says_why(tmp_path, capsys):
    from bifrostd.cli import main

    tree = tmp_path / "tree"
    (tree / "tex").mkdir(parents=True)
    (tree / "tex" / "n_ch_la.tif").write_bytes(b"two readings")
    (tree / "tex" / "n_ch.tif").write_bytes(b"one reading")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "set.yaml").write_text(HEADER.replace("{linux: /mnt/p, windows: 'P:\\p', mac: /Volumes/p}", str(tree))
                                             + "  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}\n")
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: t\nstate: state\n")
    assert main(["-v", "--config", str(config), "scan"]) == 0
    out = capsys.readouterr().out
    assert "ambiguous-match p:tex/n_ch_la.tif: reads two ways under template tex" in out, out
    assert main(["--config", str(config), "drift", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["unmanaged"][0]["examples"] == ["n_ch_la.tif"]


@st.composite
def pinned_templates(draw):
    """A folder holding one or two keys, then a file name that repeats some of them."""
    folder = draw(st.lists(st.sampled_from(["{name}", "{under}", "{word}", "v{version}"]), min_size=1, max_size=2))
    return "_".join(folder) + "/" + draw(file_names())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pinned_templates(), st.data())
def test_what_the_compile_time_proof_calls_single_reads_one_way(name, data):
    """A template proven at compile time (repeated keys pinned by an earlier folder included) is matched
    without looking for a second reading: every path it can write must then have one."""
    with tempfile.TemporaryDirectory() as tmp:
        template_set = load_template_set(write(Path(tmp), f"  t: {{path: 'f/{name}', root: p}}\n"))
        template = template_set.templates["t"]
        if not template.single_reading:
            return
        for _ in range(8):
            fields = {}
            for key in template.keys.values():
                fields.setdefault(key.field, data.draw(values(key)))
            relative = "".join(template._render(template.tokens, fields, True, {}))
            assert len(template.readings(relative, limit=2)) <= 1, (name, relative)
