"""Simulation-based calibration: the uniformity test, and a correct vs a mismatched model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.workflows.sbc import RANK_DRAWS, SimulationResult, calibration

from .conftest import ROOT

pytest.importorskip("distributed")
runner = CliRunner()


def sims_with(ranks: np.ndarray) -> list[SimulationResult]:
    return [SimulationResult(index=i, ranks={"mu": int(r)}) for i, r in enumerate(ranks)]


def test_uniform_ranks_pass_and_skewed_ranks_fail() -> None:
    rng = np.random.default_rng(4)
    uniform = calibration(sims_with(rng.integers(0, RANK_DRAWS + 1, size=200)))
    assert (
        uniform.passed
        and uniform.parameters[0].bins == 20
        and sum(uniform.parameters[0].counts) == 200
    )
    skewed = calibration(
        sims_with(np.minimum(rng.integers(0, RANK_DRAWS + 1, size=200) + 40, RANK_DRAWS))
    )
    assert not skewed.passed and skewed.parameters[0].p_value < 1e-6
    failed = [
        SimulationResult(index=0, error="boom"),
        *sims_with(rng.integers(0, RANK_DRAWS + 1, size=50)),
    ]
    assert calibration(failed).parameters[0].simulations == 50
    assert not calibration(
        [SimulationResult(index=0, error="boom")]
    ).passed  # nothing ranked is no pass


def pooled_specs(tmp_path: Path) -> tuple[Path, Path]:
    """Eight schools, complete pooling; the mismatched twin draws mu from a different prior."""
    spec = {
        "name": "pooled",
        "data": {"path": str(ROOT / "data" / "eight_schools.csv")},
        "response": "effect",
        "likelihood": "normal",
        "sigma": {"column": "se"},
        "intercept": {"name": "mu", "prior": "normal(0, 5)"},
        "sampler": {"draws": 200, "tune": 200, "chains": 1},
    }
    fit = tmp_path / "fit.yaml"
    fit.write_text(yaml.safe_dump(spec))
    spec["intercept"]["prior"] = "normal(15, 2)"
    sim = tmp_path / "sim.yaml"
    sim.write_text(yaml.safe_dump(spec))
    return fit, sim


@pytest.mark.slow
def test_sbc_of_a_correct_model_passes(tmp_path: Path) -> None:
    fit, _ = pooled_specs(tmp_path)
    plot = tmp_path / "ranks.png"
    result = runner.invoke(app, ["sbc", str(fit), "--sims", "40", "--json", "--plot", str(plot)])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert doc["verdict"] == "pass" and doc["parameters"][0]["parameter"] == "mu"
    assert len(doc["simulations"]) == 40 and not any(s["error"] for s in doc["simulations"])
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_sbc_flags_data_simulated_from_another_prior(tmp_path: Path) -> None:
    fit, sim = pooled_specs(tmp_path)
    result = runner.invoke(
        app, ["sbc", str(fit), "--simulate-with", str(sim), "--sims", "40", "--json"]
    )
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert doc["verdict"] == "fail" and doc["parameters"][0]["p_value"] < 1e-6
    counts = doc["parameters"][0]["counts"]
    assert counts[-1] > sum(counts) / 2  # the truth sits above the posterior: ranks pile up high


def test_sbc_bad_input_exits_2(tmp_path: Path) -> None:
    fit, _ = pooled_specs(tmp_path)
    assert runner.invoke(app, ["sbc", str(fit), "--sims", "3"]).exit_code == 2
    other = yaml.safe_load(fit.read_text())
    other["data"]["path"] = str(ROOT / "data" / "cbpp.csv")
    other["response"], other["sigma"] = "incidence", {"prior": "halfnormal(5)"}
    mismatch = tmp_path / "other.yaml"
    mismatch.write_text(yaml.safe_dump(other))
    result = runner.invoke(app, ["sbc", str(fit), "--simulate-with", str(mismatch), "--sims", "10"])
    assert result.exit_code == 2 and "both specs need the same data" in result.output


def test_a_reused_study_gives_the_draws_a_fresh_one_gives(tmp_path: Path) -> None:
    """#27: simulations reuse one compiled study per worker; the same seed must give the same
    simulation and fit whether the study was compiled for it or reused, and the truth keeps
    the labels the from-scratch path gives (vector parameters: theta[A], ...)."""
    from hmdiag.spec import load_spec
    from hmdiag.workflows import sbc

    text = (ROOT / "configs" / "examples" / "eight_schools.yaml").read_text()
    text = text.replace("../../data/eight_schools.csv", str(ROOT / "data" / "eight_schools.csv"))
    text = text.replace("  seed: 8", "  seed: 8\n  draws: 200\n  tune: 200\n  chains: 1")
    (tmp_path / "eight.yaml").write_text(text)
    spec = load_spec(tmp_path / "eight.yaml")
    assert sbc.simulation_task(spec) is sbc.simulate_and_fit_reused  # nutpie: compiled once
    sbc._STUDIES.clear()
    reused = [sbc.simulate_and_fit_reused(spec, spec, i, 40 + i) for i in range(3)]
    fresh = []
    for i in range(3):
        sbc._STUDIES.clear()
        fresh.append(sbc.simulate_and_fit_reused(spec, spec, i, 40 + i))
    assert [r.error for r in reused] == [None] * 3
    assert [r.ranks for r in reused] == [r.ranks for r in fresh]
    assert [r.divergences for r in reused] == [r.divergences for r in fresh]
    scratch = sbc.simulate_and_fit(spec, spec, 0, 40)
    assert set(scratch.ranks) == set(reused[0].ranks) >= {"mu", "tau", "theta_z[A]"}
