"""Property tests of the pure core: format and parse are exact inverses; nothing escapes a root."""

from __future__ import annotations

import posixpath
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrostd.errors import FieldValueError
from bifrostd.templates import KeyType, load_template_set
from bifrostd.templates.pattern import KeyRef, Optional, walk_tokens

SMALL = load_template_set(Path(__file__).resolve().parent.parent / "fixtures" / "templates" / "small")


def value_strategy(key):
    if key.type is KeyType.STR:
        if key.choices:
            return st.sampled_from(key.choices)
        return st.from_regex(f"(?:{key.regex()})", fullmatch=True)
    if key.type is KeyType.INT:
        return st.integers(min_value=0, max_value=10**6)
    if key.type is KeyType.FRAME:
        return st.one_of(st.integers(min_value=-999, max_value=10**6), st.sampled_from(["####", "%04d", "$F4", "@@@@"]))
    return st.one_of(st.integers(min_value=1001, max_value=9999), st.just("<UDIM>"))


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
