"""Installing hmdiag into a modeler's existing PyMC 6 environment changes none of its stack.

A fresh venv gets the PyMC and ArviZ releases this suite runs on first (as a modeler's
environment would hold them), then hmdiag from this checkout. PyMC, PyTensor, ArviZ and its
three layers, NumPy and xarray must keep their versions, and ``pip check`` must stay clean.
Needs the package index (CI has it); slow because it builds a venv.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEPT = ("pymc", "pytensor", "arviz", "arviz-base", "arviz-stats", "arviz-plots", "numpy", "xarray")


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


def _versions(python: Path) -> dict[str, str]:
    listed = _pip(python, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}


@pytest.mark.slow
def test_install_into_an_existing_pymc6_environment_keeps_its_stack(tmp_path: Path) -> None:
    venv = tmp_path / "modeler"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    existing = [f"pymc=={version('pymc')}", f"arviz=={version('arviz')}"]
    setup = _pip(python, "install", "--quiet", *existing)
    assert setup.returncode == 0, setup.stderr
    before = _versions(python)

    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "hmdiag-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    installed = _pip(python, "install", "--quiet", str(source))
    assert installed.returncode == 0, installed.stderr
    after = _versions(python)

    assert after.get("hmdiag") == version("hmdiag")
    for name in KEPT:
        assert after[name] == before[name], f"installing hmdiag changed {name}"
    checked = _pip(python, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    smoke = subprocess.run(
        [str(venv / "bin" / "hmdiag"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert smoke.returncode == 0 and version("hmdiag") in smoke.stdout
