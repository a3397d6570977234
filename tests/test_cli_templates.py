"""bifrostctl over the template set: resolve, path, templates check; in-process and as the installed command."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bifrostd.cli import main
from bifrostd.errors import all_error_classes

SHOT = "/mnt/projects/demo/sequences/sq010/sh0100"
WORK = f"{SHOT}/anim/work/maya/sh0100_anim_v003.ma"


@pytest.fixture
def studio(tmp_path, small_set_dir):
    config = tmp_path / "bifrost.yaml"
    config.write_text("schema: bifrost.config.1\ntemplates: templates\nstate: state\n")
    return config


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_resolve_path_to_fields_and_entity(studio, capsys):
    code, out, _ = run(capsys, "--config", str(studio), "resolve", "--json", WORK)
    assert code == 0
    document = json.loads(out)
    assert document["schema"] == "bifrost.resolve.1"
    (result,) = document["results"]
    assert result["template"] == "shot_work_maya"
    assert result["fields"]["version"] == 3
    assert result["entity"]["uri"] == "bifrost:///version/shot/demo/sq010/sh0100/anim/3"


def test_resolve_unmatched_path_exits_1(studio, capsys):
    code, out, _ = run(capsys, "--config", str(studio), "resolve", f"{SHOT}/notes.txt")
    assert code == 1 and "matches no template" in out


def test_resolve_reference_to_path_per_os(studio, capsys):
    code, out, _ = run(capsys, "--config", str(studio), "resolve", "--os", "windows", "--json", "bifrost:///shot/demo/sq010/sh0100")
    assert code == 0
    assert json.loads(out)["results"][0]["path"] == r"P:\projects\demo\sequences\sq010\sh0100"


def test_path_command_formats_and_rejects_escapes(studio, capsys):
    args = ["--config", str(studio), "path", "shot_work_maya", "project=demo", "sequence=sq010", "shot=sh0100", "task=anim", "version=7", "ext=ma"]
    code, out, _ = run(capsys, *args)
    assert (code, out.strip()) == (0, f"{SHOT}/anim/work/maya/sh0100_anim_v007.ma")
    code, _, err = run(capsys, *args[:-1], "ext=../ma")
    assert code == 5 and err.startswith("Error: invalid value '../ma' for key 'maya_ext'")
    code, _, err = run(capsys, *args[:4], "project=demo")
    assert code == 5 and "needs a value for ext, sequence, shot, task, version" in err


def test_templates_check_json_and_exit_code(studio, small_set_dir, capsys):
    code, out, _ = run(capsys, "--config", str(studio), "templates", "check", "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    text = (small_set_dir / "studio.yaml").read_text().replace("  shot_root:", "  shot_root:\n    prority: 1\n    path2: x\n  shot_rootx:", 1)
    (small_set_dir / "studio.yaml").write_text(text.replace("shot_rootx:", "shot_rootx: {path: 'x/{shot}'}\n  shot_root_:"))
    code, out, _ = run(capsys, "--config", str(studio), "templates", "check", "--json")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert any(p["key"] == "templates.shot_root.prority" and "priority" in p["hint"] for p in document["problems"])


def test_missing_config_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "resolve", WORK)
    assert code == 3 and "no bifrost.yaml found" in err


def test_installed_command_reads_paths_from_stdin_as_json_lines(studio, bifrostctl_bin):
    odd = os.fsencode(f"{SHOT}/anim/work/maya/") + b"caf\xe9.ma"
    stdin = b"\n".join([WORK.encode(), odd, f"{SHOT}/comp/render/v002/sh0100_comp_v002.1001.exr".encode()]) + b"\n"
    done = subprocess.run([bifrostctl_bin, "--config", str(studio), "resolve", "-"], input=stdin, capture_output=True,
                          timeout=30, env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"})
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and not done.stderr, done.stderr  # no deprecated click API on the way
    assert [line["matched"] for line in lines] == [True, False, True]
    assert lines[2]["fields"]["frame"] == 1001


def test_exit_codes_are_distinct_per_error_family():
    codes = {}
    for cls in all_error_classes():
        parent_codes = {c.exit_code for c in cls.__mro__[1:] if hasattr(c, "exit_code")}
        if cls.exit_code not in parent_codes:
            assert cls.exit_code not in codes, f"{cls.__name__} reuses {codes.get(cls.exit_code)}'s exit code"
            codes[cls.exit_code] = cls.__name__
    assert all(code >= 2 for code in codes)


def test_one_bad_input_among_many_is_reported_and_the_rest_answered(studio, bifrostctl_bin):
    bad_value = "bifrost:///shot/demo/sq010/.."
    good = "bifrost:///shot/demo/sq010/sh0100"
    stdin = f"{good}\r\n{bad_value}\n{WORK}\r\n".encode()  # CRLF lines from a Windows editor
    done = subprocess.run([bifrostctl_bin, "--config", str(studio), "resolve", "-"], input=stdin, capture_output=True,
                          timeout=30)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr
    assert [(line["input"], line["matched"]) for line in lines] == [(good, True), (bad_value, False), (WORK, True)]
    assert "invalid value '..'" in lines[1]["reason"]
    done = subprocess.run([bifrostctl_bin, "--config", str(studio), "resolve", "--json", good, bad_value],
                          capture_output=True, timeout=30, text=True)
    assert done.returncode == 1 and [r["matched"] for r in json.loads(done.stdout)["results"]] == [True, False]
    alone = subprocess.run([bifrostctl_bin, "--config", str(studio), "resolve", bad_value], capture_output=True,
                           timeout=30, text=True)
    assert alone.returncode == 5 and alone.stderr.startswith("Error: invalid value '..'")


def test_a_doubled_leading_slash_and_a_root_itself_are_under_the_root(studio, capsys):
    code, out, err = run(capsys, "--config", str(studio), "resolve", "--json", "/" + WORK, "/mnt/projects")
    results = json.loads(out)["results"]
    assert results[0]["matched"] and results[0]["template"] == "shot_work_maya"
    assert results[1] == {"input": "/mnt/projects", "matched": False, "reason": "matches no template", "root": "projects"}
    assert code == 1


@pytest.mark.parametrize(("args", "message"), [
    (("path", "shot_root", "project=demo", "sequence=sq010", "shott=sh0100"), "no field 'shott'; did you mean 'shot'?"),
    (("path", "shot_root", "project=demo", "sequence=sq010", "shot=sh0100", "bogus=1"), "no field 'bogus'"),
    (("resolve", "bifrost:///shot/demo/sq010/sh0100?foo=bar"), "no field 'foo'"),
    (("resolve", "bifrost:///shot/demo/sq010/sh0100?shot=sh0200"), "the query sets 'shot', which the reference"),
])
def test_a_field_the_template_does_not_use_is_an_error_not_ignored(studio, capsys, args, message):
    code, out, err = run(capsys, "--config", str(studio), *args)
    assert code == 5 and message in err and out == ""
