"""One reading per path: templates check finds paths that split into fields two ways, and path refuses to write them."""

from __future__ import annotations

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
    # both readings are real: the path reads one way, and formatting the other reading writes the same path
    first = template_set.match(f"/mnt/p/{example}").fields
    assert first is not None


def test_path_refuses_a_path_that_would_not_read_back(tmp_path):
    template_set = load_template_set(write(tmp_path / "t", "  tex: {path: 'tex/{name}_{channel}[_{layer}].tif', root: p}\n"))
    with pytest.raises(FieldValueError, match=r"reads back as name='n', channel='ch_la'"):
        template_set.format("tex", {"name": "n", "channel": "ch", "layer": "la"})
    assert template_set.format("tex", {"name": "n", "channel": "ch_la"}) == "/mnt/p/tex/n_ch_la.tif"
    assert template_set.format("tex", {"name": "n", "channel": "ch", "layer": "LA"}) == "/mnt/p/tex/n_ch_LA.tif"


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
def test_the_separator_shortcut_never_hides_two_readings(name):
    from bifrostd.templates.ambiguity import find_two_readings, pieces
    from bifrostd.templates.check import ProofCache, _one_reading_by_separators, _symbol_chars

    with tempfile.TemporaryDirectory() as tmp:
        template = load_template_set(write(Path(tmp), f"  t: {{path: 'f/{name}', root: p}}\n")).templates["t"]
        proofs = ProofCache()
        for piece in pieces(template):
            if _one_reading_by_separators(piece.tokens, template.keys, proofs):
                fsm = proofs.fsm(piece.regex(template.keys))
                assert find_two_readings(piece.fields, fsm, _symbol_chars(fsm)) is None
