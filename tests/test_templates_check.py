"""Checking template sets: every problem names file, line, column and key; overlaps are proven."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bifrostd.errors import TemplateSetInvalid
from bifrostd.templates import load_template_set
from bifrostd.templates.check import check_template_set

HEADER = """\
schema: bifrost.templates.1
roots:
  projects: /mnt/projects
keys:
  project: {type: str, pattern: '[a-z]+'}
  shot: {type: str, pattern: 'sh\\d{4}'}
  task: {type: str, choices: [anim, comp]}
  version: {type: int, padding: 3}
"""


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "studio.yaml"
    path.write_text(header + textwrap.dedent(body))
    return path


def problems_of(path: Path):
    return check_template_set(path)[1]


def only(problems, code):
    found = [p for p in problems if p.code == code]
    assert found, f"no {code} problem in {[str(p) for p in problems]}"
    return found[0]


def test_a_clean_set_has_no_problems(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: '{project}/{shot}'
          work: '{project}/{shot}/{task}/{shot}_{task}_v{version}.ma'
        """)
    assert problems_of(path) == []


def test_unknown_key_option_names_line_column_and_suggests(tmp_path):
    path = write(tmp_path, """\
          seq: {type: str, patern: 'sq\\d+'}
        templates:
          shot: '{project}/{seq}/{shot}/{task}_v{version}.ma'
        """)
    problem = only(problems_of(path), "unknown-option")
    assert problem.key == "keys.seq.patern"
    assert (problem.where.file, problem.where.line) == (str(path), 9)
    assert problem.where.column == 20
    assert "did you mean 'pattern'" in problem.hint


def test_unknown_section_is_not_silently_ignored(tmp_path):
    path = write(tmp_path, """\
        template:
          shot: '{project}/{shot}'
        """)
    problem = only(problems_of(path), "unknown-section")
    assert problem.key == "template" and "did you mean 'templates'" in problem.hint


def test_undefined_key_and_reference_suggest_names(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: '{project}/{shoot}'
          work: '{@shto}/{task}/{shot}_{task}_v{version}.ma'
        """)
    problems = problems_of(path)
    key = only(problems, "undefined-key")
    assert "{shoot}" in key.message and "did you mean 'shot'" in key.hint and key.where.line == 10
    ref = only(problems, "undefined-reference")
    assert "{@shto}" in ref.message and "did you mean 'shot'" in ref.hint and ref.where.line == 11


def test_reference_cycle_is_reported_with_its_chain(tmp_path):
    path = write(tmp_path, """\
        templates:
          a: '{@b}/{project}'
          b: '{@a}/{shot}/{task}_v{version}.ma'
        """)
    problem = only(problems_of(path), "reference-cycle")
    assert "a -> b -> a" in problem.message or "b -> a -> b" in problem.message


def test_unused_key_is_a_problem(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: '{project}/{shot}/{task}'
        """)
    assert only(problems_of(path), "unused-key").key == "keys.version"


def test_tabs_duplicate_keys_and_invalid_regex(tmp_path):
    path = write(tmp_path, "  bad: {type: str, pattern: '[a-z'}\n  task: {type: str}\ntemplates:\n  shot:\t'{project}/{shot}/{task}/{bad}_v{version}'\n")
    problems = problems_of(path)
    assert only(problems, "invalid-regex").key == "keys.bad.pattern"
    duplicate = only(problems, "duplicate-key")
    assert duplicate.key == "keys.task" and "first defined at line 7" in duplicate.message
    tab = only(problems, "tab")
    assert tab.where.line == 12


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "templates:\n  shot: '{project}/{shot}\n  other: x\n")
    problem = only(problems_of(path), "syntax")
    assert problem.where.file == str(path) and problem.where.line >= 10


def test_load_raises_with_every_problem(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: {pth: '{project}/{shot}'}
        """)
    with pytest.raises(TemplateSetInvalid) as caught:
        load_template_set(path)
    text = str(caught.value)
    assert f"{path}:10" in text and "did you mean 'path'" in text


def test_unsafe_key_pattern_is_refused_with_an_example(tmp_path):
    path = write(tmp_path, """\
          name: {type: str, pattern: '.+'}
        templates:
          shot: '{project}/{shot}/{task}/{name}_v{version}.ma'
        """)
    problem = only(problems_of(path), "unsafe-pattern")
    assert problem.key == "keys.name.pattern"


def test_static_dot_dot_segment_is_refused(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: '{project}/../{shot}/{task}_v{version}.ma'
        """)
    assert any("'..' segment" in p.message for p in problems_of(path))


def test_overlap_is_reported_with_an_example_both_templates_match(tmp_path):
    path = write(tmp_path, """\
        templates:
          review: '{project}/{shot}/{task}/review/{shot}_{task}_v{version}.mov'
          comp_review: '{project}/{shot}/{task}/review/{shot}_comp_v{version}.mov'
        """)
    template_set, problems = check_template_set(path)
    problem = only(problems, "overlap")
    example = problem.message.split("both match ")[1].strip("'")
    assert template_set.templates["review"].parse(example) is not None
    assert template_set.templates["comp_review"].parse(example) is not None
    assert "priority" in problem.hint


def test_priority_makes_an_overlap_explicit(tmp_path):
    path = write(tmp_path, """\
        templates:
          review: '{project}/{shot}/{task}/review/{shot}_{task}_v{version}.mov'
          comp_review: {path: '{project}/{shot}/{task}/review/{shot}_comp_v{version}.mov', priority: 1}
        """)
    assert problems_of(path) == []


def test_disjoint_templates_are_proven_disjoint_even_with_similar_shapes(tmp_path):
    path = write(tmp_path, """\
          kind: {type: str, choices: [plate, element]}
        templates:
          a: '{project}/{shot}/{task}/{shot}_{task}_v{version}.ma'
          b: '{project}/{shot}/{kind}/{shot}_{kind}_v{version}.ma'
          c: '{project}/{shot}/{task}/{shot}_{task}_v{version}.mb'
        """)
    assert problems_of(path) == []


def test_overlap_through_a_loose_pattern_is_found(tmp_path):
    path = write(tmp_path, """\
          name: {type: str, pattern: '[a-z0-9_]+'}
        templates:
          work: '{project}/{shot}/{task}/{name}_v{version}.ma'
          named: '{project}/{shot}/{task}/{shot}_{task}_v{version}.ma'
        """)
    problem = only(problems_of(path), "overlap")
    assert "'work'" in problem.message or "'named'" in problem.message


def test_proofs_kept_between_checks_find_what_a_fresh_check_finds(tmp_path):
    from bifrostd.templates.check import ProofCache

    proofs = ProofCache()
    disjoint = """\
          kind: {type: str, choices: [plate, element]}
        templates:
          a: '{project}/{shot}/{task}/{shot}_{task}_v{version}.ma'
          b: '{project}/{shot}/{kind}/{shot}_{kind}_v{version}.ma'
        """
    path = write(tmp_path, disjoint)
    assert check_template_set(path, proofs=proofs)[1] == []
    # proven on the one folder where they differ: two small automata, none for the whole templates
    overlap_fsms = sorted(r for r in proofs.fsms if "\ue000" not in r)  # the others prove one reading per path
    assert overlap_fsms == ["(?:anim|comp)", "(?:element|plate)"]
    assert len(proofs.disjoint) == 2 and ("(?:anim|comp)", "(?:element|plate)") in proofs.disjoint
    edited = disjoint + "  c: '{project}/{shot}/{task}/{shot}_comp_v{version}.ma'\n"  # overlaps a
    write(tmp_path, edited)
    warm = [str(p) for p in check_template_set(path, proofs=proofs)[1]]
    assert warm == [str(p) for p in check_template_set(path)[1]] and "overlaps template 'a'" in warm[0]
    a_as_mb = disjoint.replace("_{task}_v{version}.ma'", "_{task}_v{version}.mb'")  # a changed: a new regex
    assert a_as_mb != disjoint
    write(tmp_path, a_as_mb)
    assert check_template_set(path, proofs=proofs)[1] == []
    from bifrostd.templates.ambiguity import tagged_regex
    from bifrostd.templates.check import segment_regexes
    from bifrostd.templates.readings import pieces

    templates = check_template_set(path)[0].templates.values()
    regexes = {t.approx_regex for t in templates} | {s.regex for t in templates for s in segment_regexes(t) or ()}
    pieces_regexes = {tagged_regex(p, t.keys) for t in templates for p in pieces(t.tokens, t.keys)}
    assert set(proofs.fsms) <= regexes | pieces_regexes  # what the set no longer uses is dropped
    assert all(a in regexes and b in regexes for a, b in proofs.disjoint)


def test_entity_needs_its_keys(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: {path: '{project}/{shot}/{task}_v{version}.ma', entity: shot}
        """)
    problem = only(problems_of(path), "invalid")
    assert "identify a shot" in problem.message and "sequence" in problem.hint


def test_every_bad_key_option_is_reported_once_and_not_as_undefined(tmp_path):
    path = tmp_path / "studio.yaml"
    path.write_text("roots: {p: /p}\nkeys:\n  a: {type: int, padding: 40, min: x, strict: 1}\n"
                    "  b: {type: str, case: lowr, alias: 'x y'}\ntemplates:\n  t: '{a}/{b}'\n")
    problems = problems_of(path)
    assert [(p.where.line, p.key) for p in problems] == [
        (3, "keys.a.padding"), (3, "keys.a.min"), (3, "keys.a.strict"), (4, "keys.b.case"), (4, "keys.b.alias")]
    assert "did you mean 'lower'" in problems[3].hint


def test_an_inline_global_flag_is_refused_with_a_hint_instead_of_crashing_later(tmp_path):
    path = write(tmp_path, """\
          variant: {type: str, pattern: '(?i)v\\\\d+'}
        templates:
          shot: '{project}/{shot}/{variant}'
        """)
    problem = only(problems_of(path), "invalid-regex")
    assert problem.key == "keys.variant.pattern" and "(?i:...)" in problem.hint
    assert problem.where.line == 9
    with pytest.raises(TemplateSetInvalid):
        load_template_set(path)


def test_patterns_read_digits_and_word_characters_as_ascii_like_the_overlap_proof(tmp_path):
    path = write(tmp_path, """\
          arabic: {type: str, pattern: '[٠-٩]+'}
        templates:
          numbered: '{project}/{shot}/v{version}'
          written: '{project}/{shot}/v{arabic}'
        """)
    template_set, problems = check_template_set(path)
    assert [p for p in problems if p.code == "overlap"] == []
    assert template_set.match("/mnt/projects/demo/sh0100/v003").template.name == "numbered"
    assert template_set.match("/mnt/projects/demo/sh0100/v٠٠٣").template.name == "written"  # never version 3
    assert template_set.match("/mnt/projects/demo/sh0100/v００３") is None  # full-width digits are no number


def test_merge_keys_and_tags_are_problems_with_positions_not_crashes(tmp_path):
    path = write(tmp_path, """\
          base: &base {type: str}
          variant:
            <<: *base
            pattern: 'v[0-9]+'
          !custom other: {type: str}
          odd: {type: !!python/name:os.system str}
        templates:
          shot: '{project}/{shot}/{base}/{variant}'
        """)
    problems = [p for p in problems_of(path) if p.code == "syntax"]
    assert [(p.where.line, p.message) for p in problems] == [
        (11, "YAML merge keys (<<) are not supported"),
        (13, "unsupported YAML tag '!custom'"),
        (14, "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'"),
    ]


def test_one_mistake_is_one_problem_not_a_cascade(tmp_path):
    broken = write(tmp_path, "templates:\n  shot: '{project}/{shot}\n")
    assert [p.code for p in problems_of(broken)] == ["syntax"]  # not also "the set defines no roots"
    undefined = write(tmp_path, "templates:\n  shot: '{@nope}/{project}/{shot}/{task}/v{version}'\n")
    assert [p.code for p in problems_of(undefined)] == ["undefined-reference"]  # not also "leading '/'"
    cycle = write(tmp_path, "templates:\n  a: '{@b}/{project}/{shot}'\n  b: '{@a}/{task}/v{version}'\n")
    assert {p.code for p in problems_of(cycle)} == {"reference-cycle"}  # its keys are not "unused"


def test_a_file_that_cannot_be_read_is_its_problem_alone_not_every_use_of_what_it_declares(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "core.yaml").write_text(HEADER + "  broken: [\n")
    (folder / "shots.yaml").write_text("schema: bifrost.templates.1\ntemplates:\n"
                                       "  shot: '{project}/{shot}'\n  work: '{project}/{shot}/{task}_v{version}.ma'\n")
    problems = problems_of(folder)
    assert [(Path(p.where.file).name, p.code) for p in problems] == [("core.yaml", "syntax")]  # no "undefined key"
    (folder / "core.yaml").write_text(HEADER + "\tother: {type: str}\n")
    problems = problems_of(folder)
    assert [(Path(p.where.file).name, p.code, p.where.line) for p in problems] == [("core.yaml", "tab", 9)]
    (folder / "core.yaml").write_text("- a list\n- not sections\n")
    assert [p.message for p in problems_of(folder)] == ["a template file must be a mapping of sections"]


def test_an_empty_range_and_an_absurd_inline_padding_are_problems(tmp_path):
    path = write(tmp_path, """\
          take: {type: int, min: 5, max: 1}
        templates:
          shot: '{project}/{shot}/{task}/v{version:99}_t{take}'
        """)
    problems = problems_of(path)
    assert any(p.key == "keys.take.min" and "min 5 is above max 1" in p.message for p in problems)
    assert any("padding 99 is above 16" in p.message for p in problems)


@pytest.mark.parametrize(("pattern", "example"), [
    ("[A-Za-z0-9:]+", ":"),
    ("[a-z]+(?:\\.[a-z]+)*\\.?", "a."),
    ("[a-z][a-z ]*", "a "),
    ("[a-z\\\\\\\\]+", "\\"),
])
def test_a_pattern_admitting_a_drive_colon_or_a_windows_trailing_dot_is_unsafe(tmp_path, pattern, example):
    path = write(tmp_path, f"""\
          name: {{type: str, pattern: '{pattern}'}}
        templates:
          shot: '{{project}}/{{shot}}/{{task}}/{{name}}_v{{version}}.ma'
        """)
    problem = only(problems_of(path), "unsafe-pattern")
    assert (problem.key, problem.where.line) == ("keys.name.pattern", 9)
    assert f"can match {example!r}" in problem.message


@pytest.mark.parametrize("choice", ["con", "NUL", "nul.txt", "com1", "C:x", "a.", "a "])
def test_choices_and_defaults_that_windows_cannot_hold_are_problems(tmp_path, choice):
    path = write(tmp_path, f"""\
          pick: {{type: str, choices: [a, '{choice}']}}
          name: {{type: str, pattern: '[A-Za-z0-9:. ]+', default: '{choice}'}}
        templates:
          shot: '{{project}}/{{shot}}/{{task}}/{{pick}}_{{name}}_v{{version}}.ma'
        """)
    problems = problems_of(path)
    assert any(p.key == "keys.pick.choices" and p.where.line == 9 and repr(choice) in p.message for p in problems)
    assert any(p.key == "keys.name.default" and p.where.line == 10 for p in problems)


def test_static_text_with_a_drive_colon_is_refused(tmp_path):
    path = write(tmp_path, """\
        templates:
          shot: '{project}/c:{shot}/{task}_v{version}.ma'
        """)
    assert any("contains ':'" in p.message and p.where.line == 10 for p in problems_of(path))


def test_unknown_tags_on_mappings_and_sequences_are_problems(tmp_path):
    path = write(tmp_path, """\
          other: !custom {type: str}
        templates: !!omap
          - shot: '{project}/{shot}/{task}/{other}_v{version}.ma'
        """)
    problems = [p for p in problems_of(path) if p.code == "syntax"]
    assert [(p.where.line, p.key, p.message) for p in problems] == [
        (9, "keys.other", "unsupported YAML tag '!custom'"),
        (10, "templates", "unsupported YAML tag 'tag:yaml.org,2002:omap'"),
    ]


#: 272 bytes that expand to 5.3 million values (the "billion laughs"): each line repeats the one above nine times.
BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""

#: Checks a file in a child whose address space and CPU time are capped, and reports CPU seconds and peak RSS (KiB).
_BOUNDED_CHECK = """
import resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
from bifrostd.templates.check import check_template_set
start = time.process_time()
problems = check_template_set(Path(sys.argv[1]))[1]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec (a pytest grown
# big by the whole suite), while VmHWM is this program's own peak.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(time.process_time() - start, peak)
for problem in problems:
    print(problem)
"""


def test_an_alias_bomb_is_refused_quickly_naming_file_line_and_limit(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    child = subprocess.run([sys.executable, "-c", _BOUNDED_CHECK, str(path)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    first, *problems = child.stdout.splitlines()
    seconds, peak_kib = first.split()
    assert float(seconds) < 2 and int(peak_kib) < 200 * 1024
    assert problems == [f"{path}:6:4: this value holds 597,871 values once YAML anchors and aliases are expanded; "
                        "a file may hold at most 100,000 (write the values out, or use fewer aliases)"]


@pytest.mark.parametrize(("text", "message"), [
    ("a: &a [*a]\n", "1:4: a YAML alias refers to the value that contains it"),
    ("a: " + "[" * 90 + "]" * 90 + "\n", "values nest more than 64 levels deep"),
])
def test_recursive_and_deeply_nested_yaml_are_problems(tmp_path, text, message):
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    problems = problems_of(path)
    assert [p.code for p in problems] == ["yaml-limit"] and message in str(problems[0])


def test_a_file_above_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(HEADER + "# " + "x" * (1 << 20) + "\n")
    (problem,) = problems_of(path)
    assert problem.code == "yaml-limit" and "a file may be at most 1 MiB" in problem.message


SEGMENT_PARTS = ["{project}", "{shot}", "{task}", "work", "comp", "sh0100", "{shot}_{task}", "{project}_v{version}",
                 "[{task}_]v{version}", "x[/{task}]"]


def _template_paths():
    from hypothesis import strategies as st

    return st.lists(st.sampled_from(SEGMENT_PARTS), min_size=1, max_size=3).map(lambda parts: "/".join(parts) + ".ma")


def test_a_segment_proof_never_calls_overlapping_templates_disjoint():
    """Whatever the per-folder proof calls disjoint, the automaton of the whole templates agrees with."""
    import tempfile

    from hypothesis import HealthCheck, given, settings

    from bifrostd.templates.check import ProofCache, _Overlaps, segment_regexes

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_template_paths(), _template_paths())
    def check(a_path, b_path):
        with tempfile.TemporaryDirectory() as tmp:
            template_set = load_template_set(write(Path(tmp), f"templates:\n  a: '{a_path}'\n  b: '{b_path}'\n"))
            a, b = template_set.templates["a"], template_set.templates["b"]
            proofs = ProofCache()
            if _Overlaps(template_set, proofs)._disjoint_segment(segment_regexes(a), segment_regexes(b)):
                assert (proofs.fsm(a.approx_regex) & proofs.fsm(b.approx_regex)).empty(), (a_path, b_path)

    check()
