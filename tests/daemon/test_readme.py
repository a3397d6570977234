"""The README's walkthrough, pasted as a newcomer would: against the demo studio and a running bifrostd."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, demo_studio, installed, wait_until

REPO = Path(__file__).resolve().parents[2]
MARK = "@@exit="


def walkthrough() -> list[str]:
    """The lines of the README's shell block that starts with ``cd demo-studio``."""
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    block = next(b for b in blocks if b.startswith("cd demo-studio"))
    return [line for line in block.splitlines() if line.strip()]


def run_pasted(lines: list[str], parent: Path) -> list[tuple[str, int, str]]:
    """Run the lines in one shell, as pasted from ``parent``; each line's text, exit code and output."""
    script = "".join(f"{line.replace('../.venv/bin/', f'{BIN}/')}\necho '{MARK}'$?\n" for line in lines)
    done = subprocess.run(["bash", "-c", script], cwd=parent, capture_output=True, text=True, timeout=180)
    parts = done.stdout.split(MARK)  # output of line 1, then "code 1\noutput of line 2", ...
    outputs = [parts[0]] + [part.partition("\n")[2] for part in parts[1:]]
    codes = [int(part.partition("\n")[0]) for part in parts[1:]]
    assert len(codes) == len(lines), done.stderr
    return list(zip(lines, codes, outputs))


@pytest.mark.slow
def test_the_readme_walkthrough_works_when_pasted(tmp_path, daemon_factory):
    studio = demo_studio(tmp_path / "demo-studio", settle_short=False)  # as make demo writes it
    subprocess.run([installed("bifrostctl"), "scan"], cwd=studio, check=True, capture_output=True)
    daemon = daemon_factory(studio / "bifrost.yaml")  # the demo's own config: the default settle interval

    results = {line.split("#")[0].strip(): (code, out) for line, code, out in run_pasted(walkthrough(), tmp_path)}

    for line, (code, out) in results.items():
        expected = 1 if line.endswith("bifrostctl drift") else 0
        assert code == expected, f"{line!r} exited {code}:\n{out}"
    log = next(out for line, (_, out) in results.items() if "log --limit 5" in line)
    assert "sh0100_anim_v003.ma" in log
    windows = next(out for line, (_, out) in results.items() if "--os windows" in line)
    assert windows.strip() == r"P:\projects\demo\sequences\sq010\sh0100"
    latest = next(out for line, (_, out) in results.items() if "version=latest" in line and "template=" not in line)
    assert "/publish/v002" in latest.replace("\\", "/")
    wait_until(lambda: daemon.process.poll() is not None, timeout=60, what="bifrostd to stop")
    assert daemon.process.returncode == 0
