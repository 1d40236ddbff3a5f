"""Categorical varying slopes (issue #26): `(1 + urban | district)` with urban holding Y/N.

Against lme4 on public data (mlmRev's Contraception, data/bangladesh.csv with urban recoded to
its N/Y factor; reference in data/lme4_reference.json, made by data/lme4_reference.R) with the
tolerances of tests/test_families.py; and on a simulation with known truth: a three-level
factor slope, one dummy per non-reference level, in the long form and the formula form alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hmdiag.spec import load_spec
from hmdiag.spec.formula import to_formula
from hmdiag.workflows.fit import fit

ROOT = Path(__file__).resolve().parents[1]
LME4 = json.loads((ROOT / "data" / "lme4_reference.json").read_text())


def _bangladesh_yn(folder: Path) -> Path:
    frame = pd.read_csv(ROOT / "data" / "bangladesh.csv")
    frame["urban"] = frame["urban"].map({0: "N", 1: "Y"})
    path = folder / "bangladesh_yn.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_factor_slope_by_district_matches_lme4(tmp_path: Path) -> None:
    _bangladesh_yn(tmp_path)
    spec = tmp_path / "urban.yaml"
    spec.write_text(
        "name: urban\ndata: {path: bangladesh_yn.csv}\n"
        "formula: use_contraception ~ urban + (1 + urban | district)\nfamily: bernoulli\n"
        "groups: {district: {parameterization: non_centered}}\nsampler: {seed: 3}\n"
    )
    loaded = load_spec(spec)
    (slope,) = loaded.spec.groups[0].slopes
    assert slope.categorical and slope.column == "urban"  # strings: categorical, no C()
    result = fit(loaded)
    post = result.idata.posterior
    ref = LME4["models"]["bangladesh_urban_slope"]
    fixed, sds = ref["fixed_effects"], ref["random_effects_sd"]["district"]
    assert float(post["intercept"].mean()) == pytest.approx(
        fixed["(Intercept)"]["estimate"], abs=fixed["(Intercept)"]["se"]
    )
    assert float(post["b_urban"].sel(urban_level="Y").mean()) == pytest.approx(
        fixed["urbanY"]["estimate"], abs=fixed["urbanY"]["se"]
    )
    assert float(np.median(post["sigma_district"])) == pytest.approx(sds["(Intercept)"], rel=0.25)
    assert float(np.median(post["sigma_district_urban_Y"])) == pytest.approx(
        sds["urbanY"], rel=0.25
    )
    # The correlation: lme4's ML estimate -0.82; the LKJ(2) prior pulls toward 0 with 60 groups.
    corr = float(
        post["corr_district"].sel(district_coef="intercept", district_coef_b="urban_Y").mean()
    )
    assert -0.95 < corr < -0.4
    assert int(result.idata.sample_stats["diverging"].sum()) == 0


def _three_levels(folder: Path, seed: int) -> tuple[Path, dict[str, float]]:
    """y ~ normal; dose in {low, mid, high} with mid/high effects that vary by clinic."""
    rng = np.random.default_rng(seed)
    clinics, rows = 12, 30
    clinic = np.repeat(np.arange(clinics), rows)
    dose = rng.choice(["low", "mid", "high"], size=clinic.size)
    truth = {"mid": 1.0, "high": 2.0, "sd_mid": 0.6, "sd_high": 0.05}
    mid = truth["mid"] + truth["sd_mid"] * rng.standard_normal(clinics)
    high = truth["high"] + truth["sd_high"] * rng.standard_normal(clinics)
    y = (
        0.5 * rng.standard_normal(clinics)[clinic]
        + np.where(dose == "mid", mid[clinic], 0.0)
        + np.where(dose == "high", high[clinic], 0.0)
        + 0.3 * rng.standard_normal(clinic.size)
    )
    path = folder / "dose.csv"
    pd.DataFrame({"clinic": clinic, "dose": dose, "y": y}).to_csv(path, index=False)
    return path, truth


LONG = """name: dose
data: {path: dose.csv}
response: y
likelihood: normal
sigma: {prior: "halfnormal(1)"}
predictors:
  - {column: dose, categorical: true, reference: low, prior: "normal(0, 3)"}
groups:
  - factor: clinic
    scale: {prior: "halfnormal(1)"}
    slopes:
      - {column: dose, categorical: true, scale: {prior: "halfnormal(1)"}}
sampler: {seed: 7, draws: 600, tune: 600}
"""


def test_one_slope_per_non_reference_level_recovers_the_truth(tmp_path: Path) -> None:
    _, truth = _three_levels(tmp_path, 11)
    (tmp_path / "dose.yaml").write_text(LONG)
    loaded = load_spec(tmp_path / "dose.yaml")
    result = fit(loaded)
    post = result.idata.posterior
    # The slope's reference is the population predictor's (low): dummies high and mid.
    assert {"r_clinic_dose_high", "r_clinic_dose_mid", "sigma_clinic_dose_mid"} <= set(
        post.data_vars
    )
    assert "r_clinic_dose_low" not in post.data_vars
    assert post["r_clinic_dose_mid"].dims[-1] == "clinic"
    for level in ("mid", "high"):
        b = post["b_dose"].sel(dose_level=level)
        assert float(b.mean()) == pytest.approx(truth[level], abs=3 * float(b.std()) + 0.1)
    # The varying mid effect (sd 0.6) is found; the nearly constant high one (sd 0.05) is small.
    assert float(np.median(post["sigma_clinic_dose_mid"])) == pytest.approx(0.6, rel=0.5)
    assert float(np.median(post["sigma_clinic_dose_high"])) < 0.3
    # The formula twin is the same model: C(dose) in the group term.
    twin = to_formula(loaded.spec)
    assert twin["formula"] == "y ~ 1 + C(dose) + (1 + C(dose) || clinic)"


def test_a_correlated_factor_slope_has_one_block_coefficient_per_level(tmp_path: Path) -> None:
    _three_levels(tmp_path, 12)
    (tmp_path / "dose.yaml").write_text(
        "name: dose\ndata: {path: dose.csv}\nformula: y ~ C(dose) + (1 + C(dose) | clinic)\n"
        "family: normal\nsigma: {prior: 'halfnormal(1)'}\n"
        "sampler: {seed: 7, draws: 300, tune: 300, chains: 2}\n"
    )
    loaded = load_spec(tmp_path / "dose.yaml")
    result = fit(loaded)
    corr = result.idata.posterior["corr_clinic"]
    # Reference "high" (first in sorted order): dummies low and mid.
    assert list(corr["clinic_coef"].values) == ["intercept", "dose_low", "dose_mid"]
    assert corr.shape[-2:] == (3, 3)


def test_bad_factor_slope_specs_exit_2_with_one_message(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hmdiag.cli import app

    _three_levels(tmp_path, 13)
    bad = LONG.replace(
        "{column: dose, categorical: true, scale", "{column: dose, reference: low, scale"
    )
    (tmp_path / "bad.yaml").write_text(bad)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 2 and "categorical" in result.output
    clash = LONG.replace(
        "{column: dose, categorical: true, scale",
        "{column: dose, categorical: true, reference: mid, scale",
    )
    (tmp_path / "clash.yaml").write_text(clash)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "clash.yaml")])
    assert result.exit_code == 2 and "reference" in result.output
    numeric = LONG.replace("{column: dose, categorical: true, scale", "{column: dose, scale")
    (tmp_path / "numeric.yaml").write_text(numeric)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "numeric.yaml")])
    assert result.exit_code == 2 and "dose" in result.output and "Traceback" not in result.output
