"""Likelihood and link breadth: parameter recovery on simulated data, and classic multilevel
examples against published maximum-likelihood fits (lme4, data/lme4_reference.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from hmdiag.errors import DataError
from hmdiag.model.data import prepare_data
from hmdiag.spec import load_spec
from hmdiag.workflows.fit import fit

from .conftest import ROOT

EXAMPLES = ROOT / "configs" / "examples"
LME4 = json.loads((ROOT / "data" / "lme4_reference.json").read_text())


def simulate(
    family: str, link: str, rng: np.random.Generator, n: int = 300
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Data from known values: intercept, slope of x, and the family's extra parameter."""
    x = rng.normal(size=n)
    truth = {"intercept": 0.3, "b_x": 0.6}
    eta = truth["intercept"] + truth["b_x"] * x
    frame = pd.DataFrame({"x": x})
    if family in ("bernoulli", "binomial"):
        from scipy.stats import norm

        p = {
            "logit": 1 / (1 + np.exp(-eta)),
            "probit": norm.cdf(eta),
            "cloglog": 1 - np.exp(-np.exp(eta)),
        }[link]
        trials = 1 if family == "bernoulli" else 8
        frame["y"] = rng.binomial(trials, p)
        frame["n"] = trials
    elif family == "poisson":
        frame["y"] = rng.poisson(np.exp(eta))
    elif family == "negative_binomial":
        truth["alpha"] = 3.0
        mu = np.exp(eta)
        frame["y"] = rng.negative_binomial(truth["alpha"], truth["alpha"] / (truth["alpha"] + mu))
    elif family == "normal":
        truth["sigma"] = 0.8
        frame["y"] = eta + rng.normal(scale=truth["sigma"], size=n)
    elif family == "student_t":
        truth["sigma"] = 0.8
        frame["y"] = eta + truth["sigma"] * rng.standard_t(4, size=n)
    return frame, truth


CASES = [
    ("bernoulli", "cloglog"),
    ("binomial", "probit"),
    ("poisson", "log"),
    ("negative_binomial", "log"),
    ("normal", "identity"),
    ("student_t", "identity"),
]


@pytest.mark.parametrize(
    ("family", "link"), CASES, ids=[f"{family}-{link}" for family, link in CASES]
)
def test_known_values_are_recovered(family: str, link: str, tmp_path: Path) -> None:
    """Each known value lies within 3 posterior sd of the posterior mean.

    (A 94% HDI misses a true value 6% of the time by design; 3 sd makes a miss a real bias.)
    """
    frame, truth = simulate(family, link, np.random.default_rng(11))
    frame.to_csv(tmp_path / "sim.csv", index=False)
    spec: dict[str, Any] = {
        "name": f"sim_{family}",
        "data": {"path": "sim.csv"},
        "response": "y",
        "likelihood": family,
        "link": link,
        "intercept": {"prior": "normal(0, 2)"},
        "predictors": [{"column": "x", "prior": "normal(0, 2)"}],
        "sampler": {"draws": 500, "tune": 500, "chains": 2, "seed": 5},
    }
    if family == "binomial":
        spec["trials"] = "n"
    if family in ("normal", "student_t"):
        spec["sigma"] = {"prior": "halfnormal(2)"}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = fit(load_spec(tmp_path / "spec.yaml"))
    post = result.idata.posterior
    for name, value in truth.items():
        mean, sd = float(post[name].mean()), float(post[name].std())
        assert abs(mean - value) < 3 * sd, (family, name, value, mean, sd)
    assert int(result.idata.sample_stats["diverging"].sum()) == 0


def test_offset_enters_the_linear_predictor(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    exposure = rng.uniform(1, 20, size=200)
    frame = pd.DataFrame(
        {"y": rng.poisson(exposure * np.exp(-1.0)), "log_exposure": np.log(exposure)}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "rate",
        "data": {"path": "d.csv"},
        "response": "y",
        "likelihood": "poisson",
        "offset": "log_exposure",
        "sampler": {"draws": 400, "tune": 400, "chains": 2, "seed": 1},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    result = fit(load_spec(tmp_path / "s.yaml"))
    assert float(result.idata.posterior["intercept"].mean()) == pytest.approx(-1.0, abs=0.1)


def test_standardized_predictor_records_its_transform(tmp_path: Path) -> None:
    pd.DataFrame({"y": [0, 1, 1, 0, 1], "x": [10.0, 12.0, 14.0, 16.0, 18.0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec = {
        "name": "s",
        "data": {"path": "d.csv"},
        "response": "y",
        "likelihood": "bernoulli",
        "predictors": [{"column": "x", "standardize": True}],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    data = prepare_data(load_spec(tmp_path / "s.yaml"))
    mean, sd = data.transforms["x"]
    assert (mean, sd) == (14.0, pytest.approx(np.std([10, 12, 14, 16, 18])))
    np.testing.assert_allclose(data.predictors["x"], (np.array([10, 12, 14, 16, 18]) - 14) / sd)
    pd.DataFrame({"y": [0, 1], "x": [3.0, 3.0]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="predictor column 'x' has zero variance"):
        prepare_data(load_spec(tmp_path / "s.yaml"))


def test_categorical_predictor_uses_treatment_coding() -> None:
    data = prepare_data(load_spec(EXAMPLES / "cbpp.yaml"))
    cat = data.categorical["period"]
    assert cat.reference == 1 and cat.levels == [2, 3, 4]
    frame = pd.read_csv(ROOT / "data" / "cbpp.csv")
    expected = np.stack([(frame["period"] == k).to_numpy(float) for k in (2, 3, 4)], axis=1)
    np.testing.assert_array_equal(cat.matrix, expected)


def test_eight_schools_complete_pooling_matches_the_closed_form() -> None:
    """A nearly flat prior: the posterior of the common effect is the precision-weighted mean."""
    ref = LME4["eight_schools_pooled"]
    result = fit(load_spec(EXAMPLES / "eight_schools_pooled.yaml"))
    mu = result.idata.posterior["mu"].values.ravel()
    assert mu.mean() == pytest.approx(ref["estimate"], abs=0.25)
    assert mu.std() == pytest.approx(ref["se"], rel=0.05)


@pytest.mark.slow
def test_cbpp_matches_lme4() -> None:
    ref = LME4["models"]["cbpp_period"]
    result = fit(load_spec(EXAMPLES / "cbpp.yaml"))
    post = result.idata.posterior
    fixed = ref["fixed_effects"]
    assert float(post["intercept"].mean()) == pytest.approx(
        fixed["(Intercept)"]["estimate"], abs=fixed["(Intercept)"]["se"]
    )
    b = post["b_period"].mean(("chain", "draw")).values
    for value, key in zip(
        b, ("factor(period)2", "factor(period)3", "factor(period)4"), strict=True
    ):
        assert value == pytest.approx(fixed[key]["estimate"], abs=fixed[key]["se"])
    sd_herd = float(np.median(post["sigma_herd"].values))
    assert sd_herd == pytest.approx(ref["random_effects_sd"]["herd"]["(Intercept)"], rel=0.35)
    assert int(result.idata.sample_stats["diverging"].sum()) == 0


def assert_sleepstudy_matches(post: Any, ref: dict[str, Any]) -> None:
    """Fixed effects within 1 SE of lme4's, subject sds within 25%."""
    fixed = ref["fixed_effects"]
    assert float(post["intercept"].mean()) == pytest.approx(
        fixed["(Intercept)"]["estimate"], abs=fixed["(Intercept)"]["se"]
    )
    assert float(post["b_days"].mean()) == pytest.approx(
        fixed["days"]["estimate"], abs=fixed["days"]["se"]
    )
    sds = ref["random_effects_sd"]["subject"]
    assert float(np.median(post["sigma_subject"])) == pytest.approx(sds["(Intercept)"], rel=0.25)
    assert float(np.median(post["sigma_subject_days"])) == pytest.approx(sds["days"], rel=0.25)


@pytest.mark.slow
def test_sleepstudy_matches_lme4() -> None:
    ref = LME4["models"]["sleepstudy_uncorrelated"]
    result = fit(load_spec(EXAMPLES / "sleepstudy.yaml"))
    post = result.idata.posterior
    assert_sleepstudy_matches(post, ref)
    assert float(np.median(post["sigma"])) == pytest.approx(ref["residual_sd"], rel=0.1)


def test_prior_check_flags_a_prior_on_the_wrong_scale(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hmdiag.cli import app

    runner = CliRunner()
    good = runner.invoke(
        app, ["prior", str(EXAMPLES / "sleepstudy.yaml"), "--json", "--draws", "200"]
    )
    assert good.exit_code == 0, good.output
    doc = json.loads(good.stdout)
    assert doc["kind"] == "prior" and doc["draws"] == 200
    assert doc["observed_mean"] == pytest.approx(
        pd.read_csv(ROOT / "data" / "sleepstudy.csv")["reaction"].mean()
    )
    assert 0.05 < doc["observed_mean_quantile"] < 0.95
    raw = yaml.safe_load((EXAMPLES / "sleepstudy.yaml").read_text())
    raw["data"]["path"] = str(ROOT / "data" / "sleepstudy.csv")
    raw["intercept"]["prior"] = "normal(0, 2.5)"  # unit scale for reaction times of ~300 ms
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["prior", str(bad), "--json", "--draws", "200"])
    doc = json.loads(result.stdout)
    assert doc["observed_mean_quantile"] > 0.99 and doc["share_impossible"] > 0.3
    assert any("negative" in w for w in doc["warnings"]) and any(
        "barely allow" in w for w in doc["warnings"]
    )


def test_percentile_ordinals() -> None:
    from hmdiag.diagnose.checks import percentile

    assert [percentile(x) for x in (0.01, 0.02, 0.03, 0.05, 0.11, 0.22, 0.999)] == [
        "1st percentile",
        "2nd percentile",
        "3rd percentile",
        "5th percentile",
        "11th percentile",
        "22nd percentile",
        "100th percentile",
    ]


@pytest.mark.slow
def test_sleepstudy_correlated_matches_lme4() -> None:
    ref = LME4["models"]["sleepstudy_correlated"]
    result = fit(load_spec(EXAMPLES / "sleepstudy_correlated.yaml"))
    post = result.idata.posterior
    assert_sleepstudy_matches(post, ref)
    corr = post["corr_subject"].sel(subject_coef="intercept", subject_coef_b="days")
    # lme4's ML correlation is 0.08; the posterior is wide with 18 subjects: it must cover it.
    low, high = np.quantile(corr.values, [0.03, 0.97])
    assert low < ref["random_effects_cor"]["subject"]["(Intercept),days"] < high
    assert set(post["r_subject"].dims) == {"chain", "draw", "subject"}
    assert int(result.idata.sample_stats["diverging"].sum()) == 0


def test_correlated_needs_slopes_and_one_scale_family() -> None:
    from hmdiag.errors import SpecError
    from hmdiag.spec import validate_spec

    base = {"name": "m", "data": {"path": "d.csv"}, "response": "y", "likelihood": "bernoulli"}
    with pytest.raises(SpecError, match="correlated: true needs varying slopes"):
        validate_spec({**base, "groups": [{"factor": "g", "correlated": True}]}, "s")
    mixed = {
        "factor": "g",
        "correlated": True,
        "scale": {"prior": "exponential(1)"},
        "slopes": [{"column": "x", "scale": {"prior": "halfnormal(1)"}}],
    }
    with pytest.raises(SpecError, match="one scale prior family"):
        validate_spec({**base, "groups": [mixed]}, "s")
    with pytest.raises(SpecError, match="prior for correlation matrices"):
        validate_spec({**base, "intercept": {"prior": "lkj(2)"}}, "s")
    with pytest.raises(SpecError, match="must be lkj"):
        validate_spec(
            {**base, "groups": [{"factor": "g", "correlation_prior": "normal(0, 1)"}]}, "s"
        )


def test_interaction_coefficient_is_recovered(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    x1, x2 = rng.normal(size=400), rng.normal(size=400)
    y = 1.0 + 0.5 * x1 - 0.3 * x2 + 0.8 * x1 * x2 + rng.normal(scale=0.5, size=400)
    pd.DataFrame({"y": y, "x1": x1, "x2": x2}).to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "inter",
        "data": {"path": "d.csv"},
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(2)"},
        "predictors": [{"column": "x1"}, {"column": "x2"}],
        "interactions": [{"columns": ["x1", "x2"]}],
        "sampler": {"draws": 400, "tune": 400, "chains": 2, "seed": 3},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    loaded = load_spec(tmp_path / "s.yaml")
    assert loaded.spec.parameter_names() == ["intercept", "b_x1", "b_x2", "b_x1_x2", "sigma"]
    post = fit(loaded).idata.posterior
    assert float(post["b_x1_x2"].mean()) == pytest.approx(0.8, abs=3 * float(post["b_x1_x2"].std()))
    from hmdiag.errors import SpecError

    spec["interactions"] = [{"columns": ["x1"]}]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"interactions\[0\]\.columns"):
        load_spec(tmp_path / "s.yaml")


PYTHON_MODEL = """
import pymc as pm


def build(frame):
    district = frame["district"].astype("category").cat.codes.to_numpy()
    with pm.Model(coords={"district": [1, 2, 3]}) as model:
        a_bar = pm.Normal("a_bar", 0.0, 1.5)
        sigma = pm.HalfNormal("sigma", 0.5)
        z = pm.Normal("z", 0.0, 1.0, dims="district")
        a = pm.Deterministic("a", a_bar + z * sigma, dims="district")
        y = frame["use_contraception"].to_numpy()
        pm.Bernoulli("use_contraception", p=pm.math.invlogit(a[district]), observed=y)
    return model


def not_a_model(frame):
    return 42
"""


def test_python_escape_hatch_fits_and_checks(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hmdiag.cli import app

    (tmp_path / "model.py").write_text(PYTHON_MODEL)
    spec = {
        "name": "mme4_python",
        "data": {"path": str(ROOT / "data" / "bangladesh.csv"), "where": {"district": [1, 2, 3]}},
        "response": "use_contraception",
        "model": {"python": "model.py:build"},
        "sampler": {"draws": 200, "tune": 200, "chains": 2, "seed": 4, "target_accept": 0.95},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    runner = CliRunner()
    shown = runner.invoke(app, ["validate", str(path)])
    assert shown.exit_code == 0 and "built by model.py:build (trusted code)" in shown.output
    out = tmp_path / "run.nc"
    result = runner.invoke(app, ["fit", str(path), "--out", str(out), "--json"])
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    assert {p["variable"] for p in doc["parameters"]} == {"a_bar", "sigma", "z", "a"}
    assert doc["divergences"]["total"] == 0
    assert runner.invoke(app, ["check", str(out)]).exit_code in (0, 1)
    for builder, message in (
        ("nope", "defines no function 'nope'"),
        ("not_a_model", "returned int, not a pm.Model"),
    ):
        spec["model"] = {"python": f"model.py:{builder}"}
        path.write_text(yaml.safe_dump(spec))
        bad = runner.invoke(app, ["fit", str(path), "--out", str(tmp_path / "x.nc")])
        assert bad.exit_code == 2 and message in bad.output
    spec["model"] = {"python": "model.py:build"}
    spec["groups"] = [{"factor": "district"}]
    path.write_text(yaml.safe_dump(spec))
    clash = runner.invoke(app, ["validate", str(path)])
    assert clash.exit_code == 2 and "remove groups" in clash.output


def assert_fixed_effects_match(post: Any, ref: dict[str, Any]) -> None:
    fixed = ref["fixed_effects"]
    assert float(post["intercept"].mean()) == pytest.approx(
        fixed["(Intercept)"]["estimate"], abs=fixed["(Intercept)"]["se"]
    )
    b = post["b_year"]
    for level, key in ((96, "factor(year)96"), (97, "factor(year)97")):
        assert float(b.sel(year_level=level).mean()) == pytest.approx(
            fixed[key]["estimate"], abs=fixed[key]["se"]
        )


@pytest.mark.slow
def test_grouseticks_poisson_with_crossed_groups_matches_lme4() -> None:
    ref = LME4["models"]["grouseticks_poisson"]
    result = fit(load_spec(EXAMPLES / "grouseticks_poisson.yaml"))
    post = result.idata.posterior
    assert_fixed_effects_match(post, ref)
    sds = ref["random_effects_sd"]
    assert float(np.median(post["sigma_location"])) == pytest.approx(
        sds["location"]["(Intercept)"], rel=0.25
    )
    assert float(np.median(post["sigma_brood"])) == pytest.approx(
        sds["brood"]["(Intercept)"], rel=0.25
    )


@pytest.mark.slow
def test_grouseticks_negative_binomial_matches_lme4() -> None:
    ref = LME4["models"]["grouseticks_negbin"]
    result = fit(load_spec(EXAMPLES / "grouseticks_negbin.yaml"))
    post = result.idata.posterior
    assert_fixed_effects_match(post, ref)
    assert float(np.median(post["alpha"])) == pytest.approx(ref["theta"], rel=0.25)
    assert float(np.median(post["sigma_location"])) == pytest.approx(
        ref["random_effects_sd"]["location"]["(Intercept)"], rel=0.25
    )


@pytest.mark.slow
def test_sleepstudy_student_t_agrees_with_the_normal_fit() -> None:
    ref = LME4["models"]["sleepstudy_uncorrelated"]["fixed_effects"]
    post = fit(load_spec(EXAMPLES / "sleepstudy_robust.yaml")).idata.posterior
    assert float(post["b_days"].mean()) == pytest.approx(
        ref["days"]["estimate"], abs=ref["days"]["se"]
    )
    assert float(post["nu"].median()) > 2
