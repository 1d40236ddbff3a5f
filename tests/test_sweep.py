"""hmdiag sweep on a local Dask cluster: the grid, the manifest, re-runs and lost workers."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.errors import HmdiagError, SpecError
from hmdiag.workflows.sweep import expand, parse_set

from .conftest import small_spec
from .test_e2e import HMDIAG

pytest.importorskip("distributed")
runner = CliRunner()
GRID = [
    "--set",
    "sampler.target_accept=0.8,0.9,0.99",
    "--set",
    "groups.0.parameterization=centered,non_centered",
]


def test_parse_set_reads_yaml_scalars() -> None:
    assert parse_set("sampler.target_accept=0.8, 0.9") == ("sampler.target_accept", [0.8, 0.9])
    assert parse_set("groups.0.parameterization=centered") == (
        "groups.0.parameterization",
        ["centered"],
    )
    with pytest.raises(HmdiagError, match="write KEY=V1,V2"):
        parse_set("sampler.target_accept")


def test_expand_builds_the_validated_grid(tmp_path: Path) -> None:
    spec = small_spec("mme0", tmp_path)
    variants = expand([spec], GRID[1::2], seeds=2)
    assert len(variants) == 12 and len({v.id for v in variants}) == 12
    first = variants[0]
    assert first.settings == {
        "sampler.target_accept": 0.8,
        "groups.0.parameterization": "centered",
        "sampler.seed": 19,
    }
    assert "target_accept: 0.8" in first.spec_text
    assert variants[1].settings["sampler.seed"] == 20
    with pytest.raises(SpecError, match="target_accept: Input should be less than 1"):
        expand([spec], ["sampler.target_accept=0.9,1.5"])
    with pytest.raises(SpecError, match=r"groups\.5"):
        expand([spec], ["groups.5.parameterization=centered"])


def run_sweep(spec: Path, out: Path, *extra: str) -> Any:
    result = runner.invoke(
        app, ["sweep", str(spec), *GRID, "--out", str(out), "--workers", "2", "--json", *extra]
    )
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


def test_sweep_of_mme0_runs_six_variants_and_reruns_skip_them(tmp_path: Path) -> None:
    spec = small_spec("mme0", tmp_path, draws=150, tune=150)
    out = tmp_path / "sweep"
    result, doc = run_sweep(spec, out, "--plot", str(tmp_path / "sweep.png"))
    assert result.exit_code in (0, 1), result.output
    assert len(doc["variants"]) == 6 and doc["skipped"] == 0
    assert all(v["status"] == "done" for v in doc["variants"])
    settings = {
        (v["settings"]["sampler.target_accept"], v["settings"]["groups.0.parameterization"])
        for v in doc["variants"]
    }
    assert len(settings) == 6
    assert all(Path(v["run"]).exists() for v in doc["variants"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["variants"]) == 6
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")
    _, doc2 = run_sweep(spec, out)
    assert doc2["skipped"] == 6 and doc2["variants"] == doc["variants"]


def test_a_failing_variant_is_recorded_and_the_others_finish(tmp_path: Path) -> None:
    spec = small_spec("mme4", tmp_path, draws=100, tune=100)
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "sweep",
            str(spec),
            "--set",
            f"data.path={spec.parent / 'missing.csv'},{spec.parent.parent / 'x'}",
            "--out",
            str(out),
            "--json",
        ],
    )
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [v["status"] for v in doc["variants"]] == ["failed", "failed"]
    assert "data file not found" in doc["variants"][0]["error"]
    ok = runner.invoke(
        app, ["sweep", str(spec), "--set", "sampler.target_accept=0.9", "--out", str(out), "--json"]
    )
    assert json.loads(ok.stdout)["variants"][0]["status"] == "done"


def test_sweep_bad_input_exits_2_before_any_cluster(tmp_path: Path) -> None:
    spec = small_spec("mme0", tmp_path)
    result = runner.invoke(
        app, ["sweep", str(spec), "--set", "sampler.draws=0", "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 2 and "sampler.draws" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_killing_a_worker_loses_no_finished_run_and_a_rerun_completes(tmp_path: Path) -> None:
    import psutil

    spec = small_spec("mme0", tmp_path, draws=300, tune=300)
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        [HMDIAG, "sweep", str(spec), *GRID, "--out", str(out), "--workers", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not manifest.exists():
        time.sleep(0.5)
    assert manifest.exists(), "no variant finished"
    done_before = {
        k for k, v in json.loads(manifest.read_text())["variants"].items() if v["status"] == "done"
    }
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if not p.children()]
    assert workers, "no worker processes found"
    workers[0].send_signal(signal.SIGKILL)
    proc.communicate(timeout=600)
    entries = json.loads(manifest.read_text())["variants"]
    assert done_before <= {
        k for k, v in entries.items() if v["status"] == "done"
    }  # nothing finished was lost
    rerun = subprocess.run(
        [HMDIAG, "sweep", str(spec), *GRID, "--out", str(out), "--workers", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(rerun.stdout)
    assert len(doc["variants"]) == 6 and all(v["status"] == "done" for v in doc["variants"])
    assert doc["skipped"] >= len(done_before)
