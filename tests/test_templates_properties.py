"""Property tests of the pure core: format and parse are exact inverses; nothing escapes a root."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.errors import FieldValueError
from bifrostd.templates import KeyType, load_template_set
from bifrostd.templates.compiled import _parse_with_captures
from bifrostd.templates.keys import unsafe_reason
from bifrostd.templates.pattern import KeyRef, Optional, walk_tokens

SMALL = load_template_set(Path(__file__).resolve().parent.parent / "fixtures" / "templates" / "small")


def value_strategy(key):
    if key.type is KeyType.STR:
        if key.choices:
            return st.sampled_from(key.choices)
        # a pattern admits Windows device names ('nUL'), which formatting refuses on purpose
        return st.from_regex(re.compile(f"(?:{key.regex()})", re.ASCII), fullmatch=True).filter(
            lambda v: unsafe_reason(v) is None)
    if key.type is KeyType.INT:
        return st.integers(min_value=0, max_value=10**6)
    if key.type is KeyType.FRAME:
        return st.one_of(st.integers(min_value=-999, max_value=10**6), st.sampled_from(["####", "%04d", "$F4", "@@@@", "[1001-1100]", "1001-1100#", "[-0005-0010]"]))
    return st.one_of(st.integers(min_value=1001, max_value=9999), st.sampled_from(["<UDIM>", "$UDIM", "<UVTILE>"]))


@st.composite
def template_and_fields(draw):
    template = draw(st.sampled_from(sorted(SMALL.templates.values(), key=lambda t: t.name)))
    optional_fields = {SMALL.keys[t.name].field for tok in template.tokens if isinstance(tok, Optional)
                       for t in walk_tokens(tok.parts) if isinstance(t, KeyRef)}
    fields = {}
    for key in template.keys.values():
        if key.field in fields:
            continue
        if key.field in optional_fields and draw(st.booleans()):
            continue
        fields[key.field] = draw(value_strategy(key))
    return template, fields


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(template_and_fields())
def test_parse_of_format_gives_back_the_fields_and_template(case):
    template, fields = case
    path = SMALL.format(template.name, fields)
    found = SMALL.match(path)
    assert found is not None and found.template is template
    assert found.fields == fields


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(template_and_fields())
def test_format_of_parse_gives_back_the_path(case):
    template, fields = case
    relative = template.format(fields)
    parsed = template.parse(relative)
    assert template.format(parsed) == relative


@settings(max_examples=500)
@given(st.sampled_from(["project", "name", "asset"]), st.text(min_size=0, max_size=12))
def test_no_value_formats_a_path_outside_its_root(field, value):
    fields = {"project": "demo", "asset_type": "prop", "asset": "chair", "task": "model", "version": 2, "name": "wood", "udim": 1001}
    fields[field] = value
    try:
        path = SMALL.format("asset_texture", fields)
    except FieldValueError:
        return
    assert posixpath.normpath(path) == path
    assert path.startswith("/mnt/projects/")
    assert "\x00" not in path and ".." not in path.split("/")


DEFAULT = load_template_set(Path(__file__).resolve().parent.parent / "templates")
SPECIALISED = sorted((t for t in DEFAULT.templates.values() if t.simple), key=lambda t: t.name)


def test_most_default_templates_get_a_specialised_parser():
    assert len(SPECIALISED) >= len(DEFAULT.templates) * 3 // 4


@st.composite
def relative_paths(draw):
    """A default template and a path it formats, sometimes damaged so that it no longer fits."""
    template = draw(st.sampled_from(SPECIALISED))
    optional = {DEFAULT.keys[t.name].field for tok in template.tokens if isinstance(tok, Optional)
                for t in walk_tokens(tok.parts) if isinstance(t, KeyRef)}
    fields = {}
    for key in template.keys.values():
        if key.field not in fields and not (key.field in optional and draw(st.booleans())):
            fields[key.field] = draw(value_strategy(key))
    relative = template.format(fields)
    if draw(st.booleans()):
        at = draw(st.integers(min_value=0, max_value=len(relative)))
        relative = relative[:at] + draw(st.sampled_from(["", "x", "0", "/", "_", ".", "#"])) + relative[at + 1:]
    return template, relative


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(relative_paths())
def test_specialised_parsers_agree_with_the_general_one(case):
    template, relative = case
    general = _parse_with_captures(template.regex, template.captures, relative)
    special = template.parser(relative)
    assert (None if special is None else list(special.items())) == (None if general is None else list(general.items()))
