"""`hmdiag compare --baseline` (issue #26): a regression gate between runs of one model.

Known truth by construction, on the eight schools (BDA3 5.5): two seeds of one model must not
fail the shift gate; a changed prior on mu (normal(20, 1) against normal(0, 5)) must shift mu;
the centered parameterization must drop tau's ESS per second (its funnel mixes far worse).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hmdiag
from hmdiag.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gate")
    base = (ROOT / "configs" / "examples" / "eight_schools.yaml").read_text()
    base = base.replace("../../data/eight_schools.csv", str(ROOT / "data" / "eight_schools.csv"))
    base = base.replace("  seed: 8", "  seed: 8\n  draws: 600\n  tune: 600")
    variants = {
        "base": base,
        "seed": base.replace("  seed: 8", "  seed: 9"),
        "prior": base.replace("prior: normal(0, 5)", "prior: normal(20, 1)"),
        "centered": base.replace("parameterization: non_centered", "parameterization: centered"),
        "gated": base.replace("sampler:", "checks:\n  baseline_shift: 0.5\nsampler:"),
    }
    out = {}
    for name, text in variants.items():
        spec = folder / f"{name}.yaml"
        spec.write_text(text)
        out[name] = folder / f"{name}.nc"
        result = runner.invoke(app, ["fit", str(spec), "--out", str(out[name]), "-q"])
        assert result.exit_code in (0, 1), result.output
    return out


def _compare(*args: str) -> Any:
    return runner.invoke(app, ["compare", *args])


def _gate(result: Any) -> dict[str, Any]:
    (gate,) = json.loads(result.stdout)["baseline"]
    return gate


def test_two_seeds_of_one_model_pass_the_shift_gate(runs: dict[str, Path]) -> None:
    result = _compare(
        "--baseline", str(runs["base"]), str(runs["seed"]), "--fail-on-shift", "0.5", "--json"
    )
    assert result.exit_code == 0, result.output
    gate = _gate(result)
    assert gate["passed"] and gate["fail_on_shift"] == 0.5
    names = {p["name"] for p in gate["parameters"]}
    assert {"mu", "tau", "theta[A]"} <= names
    for p in gate["parameters"]:
        # Noise only: every shift within a few MCSEs of the difference.
        assert abs(p["shift_sds"]) < 0.5, p
        assert p["mcse_sds"] > 0 and p["ess_per_second"] > 0


def test_a_changed_prior_is_a_shift_named_per_parameter(runs: dict[str, Path]) -> None:
    args = ["--baseline", str(runs["base"]), str(runs["prior"]), "--fail-on-shift", "0.5"]
    result = _compare(*args, "--json")
    assert result.exit_code == 1
    failed = {p["name"]: p for p in _gate(result)["parameters"] if p["failed"]}
    assert failed["mu"]["shifted"] and failed["mu"]["shift_sds"] > 2
    assert failed["mu"]["mean"] > 15  # normal(20, 1) pulls mu there
    github = _compare(*args, "--format", "github")
    assert github.exit_code == 1
    assert any(
        line.startswith("::error title=hmdiag baseline") and "mu%3A" not in line and "mu:" in line
        for line in github.stdout.splitlines()
    )
    junit = ET.fromstring(_compare(*args, "--format", "junit").stdout)
    (suite,) = [s for s in junit if s.get("name", "").startswith("baseline")]
    cases = {c.get("name"): c for c in suite}
    assert cases["mu"].find("failure") is not None
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in suite)
    assert int(junit.get("failures")) >= int(suite.get("failures"))


def test_a_worse_parameterization_is_an_ess_drop(runs: dict[str, Path]) -> None:
    args = ["--baseline", str(runs["base"]), str(runs["centered"]), "--fail-on-ess-drop", "0.3"]
    result = _compare(*args, "--json")
    assert result.exit_code == 1
    params = {p["name"]: p for p in _gate(result)["parameters"]}
    # The centered funnel: tau's ESS per second falls by far more than timing noise can.
    assert params["tau"]["ess_dropped"] and params["tau"]["ess_change"] < -0.5
    assert not params["tau"]["shifted"]  # no shift limit was set
    text = _compare(*args)
    assert "ESS/s" in text.stdout and "FAIL" in text.stdout


def test_the_spec_holds_the_gate_and_the_api_returns_it(runs: dict[str, Path]) -> None:
    # The gated run's own spec says checks: baseline_shift: 0.5.
    comparison = hmdiag.compare(runs["gated"], baseline=runs["prior"])
    (gate,) = comparison.gates
    assert gate.fail_on_shift == 0.5 and gate.fail_on_ess_drop is None
    assert not gate.passed and "mu" in {p.name for p in gate.failures}
    # A flag wins over the spec.
    (loose,) = hmdiag.compare(runs["gated"], baseline=runs["prior"], fail_on_shift=50).gates
    assert loose.passed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fail-on-shift", "0.5"], "need --baseline"),
        (["--baseline", "BASE", "--fail-on-shift", "-1"], "--fail-on-shift must be > 0"),
        (["--baseline", "BASE", "--fail-on-ess-drop", "1.5"], "between 0 and 1"),
    ],
)
def test_bad_gate_flags_exit_2_with_one_message(
    runs: dict[str, Path], args: list[str], words: str
) -> None:
    args = [str(runs["base"]) if a == "BASE" else a for a in args]
    result = _compare(*args, str(runs["seed"]), str(runs["prior"]))
    assert result.exit_code == 2 and words in result.output
    assert "Traceback" not in result.output
