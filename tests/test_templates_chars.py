"""String keys with a named character set (``chars``): Unicode letters and digits, and any safe path component."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrostd.errors import FieldValueError
from bifrostd.templates.check import check_template_set
from bifrostd.templates.keys import Key, KeyType, windows_name_problem
from bifrostd.templates.source import Where

SET = """\
roots: {projects: /mnt/projects}
keys:
  kind: {type: str, chars: alpha}
  asset: {type: str, chars: alphanumeric}
  name: {type: str, chars: any}
  version: {type: int, padding: 3}
templates:
  work: '{kind}/{asset}/{name}_v{version}.ma'
  notes: '{kind}/{asset}/notes/{name}.txt'
"""


@pytest.fixture(scope="module")
def template_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("chars") / "set.yaml"
    path.write_text(SET, encoding="utf-8")
    found, problems = check_template_set(path)
    assert problems == []  # a sanctioned set: not flagged as unsafe, no overlap, one reading
    return found


@pytest.mark.parametrize(("relative", "fields"), [
    ("props/Ñandú/héro final_v001.ma", {"kind": "props", "asset": "Ñandú", "name": "héro final", "version": 1}),
    ("Персонажи/Łódź2/a.b-c_v012.ma", {"kind": "Персонажи", "asset": "Łódź2", "name": "a.b-c", "version": 12}),
    ("props/猫/x_v001.ma", {"kind": "props", "asset": "猫", "name": "x", "version": 1}),
])
def test_unicode_values_match(template_set, relative, fields):
    assert template_set.match_relative("projects", relative).fields == fields


@pytest.mark.parametrize("relative", [
    "props/a_b/x_v001.ma",      # alphanumeric has no '_'
    "pr0ps/a/x_v001.ma",        # alpha has no digits
    "props/a/../x_v001.ma",     # '..' is never a value
    "props/a/con_v001.ma",      # a Windows device name
    "props/a/x._v001.ma",       # a name ending in '.'
    "props/a/x _v001.ma",       # a name ending in a space
    "props/a/x:y_v001.ma",      # a drive's ':'
])
def test_unsafe_or_outside_the_set_is_refused(template_set, relative):
    assert template_set.match_relative("projects", relative) is None


def test_format_checks_the_set(template_set):
    work = template_set.templates["work"]
    assert work.format({"kind": "props", "asset": "Łódź", "name": "a b", "version": 3}) == "props/Łódź/a b_v003.ma"
    with pytest.raises(FieldValueError, match="alphanumeric"):
        work.format({"kind": "props", "asset": "a_b", "name": "x", "version": 3})
    with pytest.raises(FieldValueError, match="device"):
        work.format({"kind": "props", "asset": "a", "name": "nul", "version": 3})


def test_chars_and_pattern_together_is_a_problem(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text("keys:\n  a: {type: str, chars: any, pattern: '[a-z]+'}\n  b: {type: str, chars: unicode}\n"
                    "templates:\n  t: '{a}/{b}'\n")
    _, problems = check_template_set(path)
    messages = [str(p) for p in problems]
    assert any("chars or a pattern, not both" in m for m in messages)
    assert any("unknown character set 'unicode'" in m for m in messages)


ALPHANUMERIC = Key("asset", KeyType.STR, "asset", Where("t", 1, 1), chars="alphanumeric")


@given(st.text(min_size=1, max_size=8))
def test_alphanumeric_accepts_what_shotgrid_toolkit_accepts(text):
    """tk-core's filter_by: alphanumeric refuses a value holding any match of [\\W_] (Unicode-aware);
    Bifrost also refuses Windows device names (con, COM¹), on every OS."""
    tk_accepts = re.search(r"[\W_]", text) is None and windows_name_problem(text) is None
    try:
        ALPHANUMERIC.render(text)
        accepted = True
    except FieldValueError:
        accepted = False
    assert accepted == tk_accepts


@given(st.text(alphabet="ab1_", min_size=1, max_size=8), st.text(alphabet="ab1_-. ", min_size=1, max_size=12),
       st.integers(0, 1200), st.sampled_from(["work", "notes"]))
def test_the_ascii_twin_reads_an_ascii_path_as_the_unicode_regex_does(template_set, asset, name, version, which):
    """A template with a Unicode set is matched by an ASCII twin on ASCII paths: it must answer alike."""
    from bifrostd.templates.compiled import PATTERN_FLAGS, _parse_with_captures, ascii_twin

    template = template_set.templates[which]
    assert ascii_twin(template.source) is not None  # the sets' twin exists, so it is what parse() used
    relative = f"props/{asset}/{name}_v{version:03d}.ma" if which == "work" else f"props/{asset}/notes/{name}.txt"
    unicode_regex = re.compile(template.source, PATTERN_FLAGS)
    assert template.parse(relative) == _parse_with_captures(unicode_regex, template.captures, relative)
