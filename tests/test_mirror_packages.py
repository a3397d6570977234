"""A mirror backend's package not installed is its own error (exit 16) naming the package and the pip
command; a file:// target needs none of the cloud packages.

The packages are made unimportable the way a missing install is: the child
interpreter gets ``sys.modules[name] = None``, so ``import name`` raises a
real ImportError and ``find_spec`` finds nothing; nothing of Bifrost is patched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bifrostd import packages
from bifrostd.errors import PackageMissing
from conftest import installed

CLOUD = ("s3fs", "gcsfs", "adlfs")


def bifrostctl_without(modules: tuple[str, ...], config: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys\nfor name in sys.argv.pop(1).split(','): sys.modules[name] = None\n" \
           "from bifrostd.cli import main\nmain()"
    return subprocess.run([sys.executable, "-c", code, ",".join(modules), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def config(tmp_path) -> Path:
    """The demo studio's config, the studio scanned, with an S3 target and a folder target."""
    folder = tmp_path
    root = folder / "studio"
    subprocess.run([installed("bifrostctl"), "init", "--demo", str(root)], check=True, capture_output=True)
    config = root / "bifrost.yaml"
    targets = {"offsite": {"url": "s3://studio-backup/bifrost"}, "local": {"url": (folder / "bucket").as_uri()}}
    config.write_text(config.read_text().rstrip("\n") + "\nmirror:\n  targets: " + json.dumps(targets) + "\n")
    subprocess.run([installed("bifrostctl"), "--config", str(config), "scan"], check=True, capture_output=True)
    return config


def test_a_run_to_a_target_whose_package_is_missing_exits_16_with_the_pip_command(config):
    done = bifrostctl_without(("s3fs",), config, "mirror", "run", "offsite")
    assert done.returncode == PackageMissing.exit_code == 16, done.stderr
    assert done.stderr.startswith("Error: mirror target 'offsite' (s3://) needs the Python package s3fs, "
                                  "which is not installed"), done.stderr
    assert f"install it with: {sys.executable} -m pip install 's3fs>={s3fs_lower_bound()}" in done.stderr
    assert "unreachable" not in done.stderr and "Traceback" not in done.stderr
    status = json.loads(bifrostctl_without(("s3fs",), config, "mirror", "status", "--json").stdout)
    offsite = {t["target"]: t for t in status["targets"]}["offsite"]
    assert offsite["last_run"]["status"] == "failed"
    assert offsite["last_error"]["error"].startswith("PackageMissing: mirror target 'offsite' (s3://) needs")


def test_a_target_whose_package_is_missing_holds_no_other_target_back(config):
    done = bifrostctl_without(("s3fs",), config, "mirror", "run")
    assert done.returncode == 16, done.stderr
    assert "local: ok: uploaded" in done.stdout
    assert "Error: mirror target 'offsite' (s3://) needs the Python package s3fs" in done.stderr


def test_verify_opens_the_backend_and_says_the_same(config):
    done = bifrostctl_without(("s3fs",), config, "mirror", "verify", "offsite")
    assert done.returncode == 16, done.stderr
    assert "halted; None in sys.modules" in done.stderr  # the import itself failed, not a lookup
    assert "-m pip install 's3fs>=" in done.stderr


def test_a_folder_target_needs_no_cloud_package(config):
    done = bifrostctl_without(CLOUD, config, "mirror", "run", "local", "--json")
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)["targets"]
    assert report["status"] == "ok" and report["counts"]["uploaded"] > 0, report
    assert (config.parent.parent / "bucket" / "projects").is_dir()


@pytest.mark.parametrize("module", ["s3fs", "gcsfs", "adlfs", "fsspec"])
def test_the_pip_command_carries_the_range_bifrostd_was_installed_with(module):
    command = packages.install_command(module)
    assert command.startswith(f"{sys.executable} -m pip install '{module}>=") and command.endswith("'")
    assert packages._ordered("<2027,>=2024.6") == ">=2024.6,<2027"  # as metadata writes it, as people do


def test_check_and_require_raise_the_same_error_for_a_missing_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "adlfs", None)
    with pytest.raises(PackageMissing, match=r"needs the Python package adlfs.*-m pip install 'adlfs>="):
        packages.check("adlfs", feature="mirror target 'x' (az://)")
    with pytest.raises(PackageMissing, match=r"halted; None in sys.modules"):
        packages.require("adlfs", feature="mirror target 'x' (az://)")
    with pytest.raises(PackageMissing, match=r"no module named 'not_a_package\.sub'"):
        packages.check("not_a_package.sub", feature="a test", package="not-a-package")
    assert packages.requirement("not-a-package") == "not-a-package"


def s3fs_lower_bound() -> str:
    """The lowest s3fs pyproject.toml allows: the pip hint carries the installed metadata's range."""
    import re
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    return re.search(r"s3fs>=([^,\"]+)", " ".join(project["optional-dependencies"]["s3"]))[1]
