"""Model criticism (#25): Pareto k per observation, posterior predictive p-values, the
model_fit check, the misfit catalog entries and the doctor's likelihood switch."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.diagnose.model_fit import (
    FitData,
    ModelFit,
    RowLabels,
    draws_for_fit,
    elpd_difference,
    measure_model_fit,
    model_fit_from_dict,
    pareto_k_limit,
    predictive_checks,
    thin_posterior,
)

runner = CliRunner()


# --- thresholds and statistics against independent computations ------------------------------


def test_pareto_k_limit_follows_vehtari_et_al() -> None:
    # min(1 - 1/log10(S), 0.7): 0.7 from S = 10^(1/0.3) ~ 2154 draws on.
    assert pareto_k_limit(100) == pytest.approx(0.5)
    assert pareto_k_limit(1000) == pytest.approx(2 / 3)
    assert pareto_k_limit(4000) == 0.7
    assert pareto_k_limit(2154) == pytest.approx(0.7, abs=1e-4)


def test_draws_for_fit_keeps_small_runs_whole_and_bounds_large_ones() -> None:
    assert draws_for_fit(1000, 200) == 1000
    assert draws_for_fit(4000, 1934) == 2000  # MAX_DRAWS: the k limit stays at 0.697
    assert draws_for_fit(4000, 73_421) == 400  # InstEval: the floor, 29 M values


def test_thin_posterior_takes_every_kth_draw_of_each_chain() -> None:
    import xarray as xr

    post = xr.Dataset({"a": (("chain", "draw"), np.arange(4000.0).reshape(4, 1000))})
    thinned, note = thin_posterior(post, 400)
    assert thinned.sizes["draw"] == 100 and "every 10th" in note
    np.testing.assert_array_equal(thinned["a"].values[1, :3], [1000.0, 1010.0, 1020.0])
    same, note = thin_posterior(post, 5000)
    assert same is post and note == "all 4,000 draws"


def test_predictive_p_values_equal_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    y = rng.poisson(3.0, 150)
    rep = rng.poisson(3.0, (500, 150))
    checks = {c.statistic: c for c in predictive_checks(y, rep, "poisson")}
    assert set(checks) == {"mean", "sd", "dispersion", "share_zeros", "max"}
    disp_rep = rep.var(axis=1, ddof=1) / rep.mean(axis=1)
    disp_obs = y.var(ddof=1) / y.mean()
    want = np.mean(disp_rep > disp_obs) + 0.5 * np.mean(disp_rep == disp_obs)
    assert checks["dispersion"].p_value == pytest.approx(want)
    max_rep = rep.max(axis=1)
    want_max = np.mean(max_rep > y.max()) + 0.5 * np.mean(max_rep == y.max())
    assert checks["max"].p_value == pytest.approx(want_max)
    # The dispersion index has the limits; the rest share a 2% level (Bonferroni).
    assert (checks["dispersion"].low, checks["dispersion"].high) == (0.01, 0.99)
    assert checks["max"].low == pytest.approx(0.01 / 4)
    assert not any(c.extreme for c in checks.values())


def test_binomial_statistics_are_proportions_of_trials() -> None:
    rng = np.random.default_rng(1)
    trials = rng.integers(5, 30, 80)
    y = rng.binomial(trials, 0.3)
    rep = rng.binomial(trials, 0.3, size=(300, 80))
    mean = next(c for c in predictive_checks(y, rep, "binomial", trials) if c.statistic == "mean")
    assert mean.observed == pytest.approx(np.mean(y / trials))


def _loo_tree(log_lik: np.ndarray) -> Any:
    import xarray as xr

    chains, draws, _ = log_lik.shape
    return xr.DataTree.from_dict(
        {
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs_id"), log_lik)}),
            "posterior": xr.Dataset(
                {"mu": (("chain", "draw"), np.random.default_rng(2).normal(size=(chains, draws)))}
            ),
        }
    )


def _normal_fit(y: np.ndarray, draws: int = 1000, seed: int = 3) -> tuple[Any, np.ndarray]:
    """Exact conjugate posterior of a normal mean (sigma known 1): log-likelihood and replicates."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(y.mean(), 1 / math.sqrt(y.size), size=(2, draws // 2))
    log_lik = -0.5 * (y[None, None, :] - mu[..., None]) ** 2 - 0.5 * math.log(2 * math.pi)
    rep = rng.normal(mu.reshape(-1, 1), 1.0, size=(draws, y.size))
    return _loo_tree(log_lik), rep


def test_outliers_are_named_by_line_and_group_and_a_clean_sample_is_not() -> None:
    import arviz_stats as azs

    rng = np.random.default_rng(4)
    y = rng.normal(0.0, 1.0, 60)
    tree, rep = _normal_fit(y)
    clean = measure_model_fit(FitData("y", y, tree, rep, likelihood="normal"))
    assert clean.n_influential == 0 and not clean.extreme()
    # elpd and k are arviz-stats' own loo.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = azs.loo(tree, pointwise=True)
    assert clean.elpd_loo == pytest.approx(float(ref.elpd), rel=1e-6)

    # Ten rows, one logged x100: leaving it out moves the mean by far more than its sd.
    bad = y[:10].copy()
    bad[7] = 30.0
    tree, rep = _normal_fit(bad)
    rows = RowLabels(lines=np.arange(10) + 2, groups={"subject": np.repeat(list("AB"), 5)})
    fit = measure_model_fit(FitData("y", bad, tree, rep, likelihood="normal", rows=rows))
    assert fit.n_influential == 1, fit.max_k
    first = fit.influential[0]
    assert (first.label, first.groups, first.value) == ("line 9", {"subject": "B"}, 30.0)
    assert first.pareto_k > fit.k_limit
    assert "max" in {c.statistic for c in fit.extreme()}


def test_the_stored_summary_reads_back_without_its_pointwise_values() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=40)
    tree, rep = _normal_fit(y)
    fit = measure_model_fit(FitData("y", y, tree, rep, likelihood="normal"))
    raw = json.loads(json.dumps(fit.to_dict()))
    assert "pointwise_elpd" not in raw
    back = model_fit_from_dict(raw)
    assert back == fit and back.pointwise_elpd is None


def test_elpd_difference_is_the_pointwise_sum_and_its_se() -> None:
    a = ModelFit(pointwise_elpd=np.array([-1.0, -2.0, -1.5, -0.5]))
    b = ModelFit(pointwise_elpd=np.array([-1.2, -2.5, -1.4, -0.9]))
    delta, se = elpd_difference(a, b)
    diff = a.pointwise_elpd - b.pointwise_elpd
    assert delta == pytest.approx(diff.sum())
    assert se == pytest.approx(math.sqrt(4 * diff.var(ddof=1)))
    assert elpd_difference(a, ModelFit()) is None


# --- end to end: simulated data with known truth --------------------------------------------


def _write(tmp: Path, name: str, frame: pd.DataFrame, body: str) -> Path:
    frame.to_csv(tmp / f"{name}.csv", index=False)
    spec = tmp / f"{name}.yaml"
    spec.write_text(f"name: {name}\ndata: {{path: {name}.csv}}\n{body}")
    return spec


COUNTS = """response: count
likelihood: {likelihood}
intercept: {{prior: "normal(0, 2)"}}
groups:
  - factor: site
    parameterization: non_centered
    scale: {{prior: "halfnormal(1)"}}
sampler: {{seed: {seed}, draws: 400, tune: 400}}
"""


def _counts(seed: int, overdispersed: bool, sites: int = 15, visits: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(sites), visits)
    mu = np.exp(1.3 + rng.normal(0, 0.4, sites))[site]
    y = rng.negative_binomial(1.5, 1.5 / (1.5 + mu)) if overdispersed else rng.poisson(mu)
    return pd.DataFrame({"site": site, "count": y})


def _fit_json(spec: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["fit", str(spec), "--out", str(spec.with_suffix(".nc")), "--json", *args]
    )
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("seed", [11, 12])
def test_overdispersed_counts_fitted_as_poisson_are_named(tmp_path: Path, seed: int) -> None:
    spec = _write(
        tmp_path, "od", _counts(seed, True), COUNTS.format(likelihood="poisson", seed=seed)
    )
    code, doc = _fit_json(spec)
    kinds = [p["kind"] for p in doc["pathologies"]]
    assert kinds[0] == "overdispersion", kinds
    assert code == 0 or any(
        c["status"] == "fail" for c in doc["checks"] if c["name"] != "model_fit"
    )
    od = doc["pathologies"][0]
    assert od["sampler_fixable"] is False and od["numbers"]["p_value"] < 0.01
    assert od["remedies"][0]["remedy"] == "likelihood"
    assert od["remedies"][0]["target"] == "negative_binomial"
    fit_check = next(c for c in doc["checks"] if c["name"] == "model_fit")
    assert fit_check["status"] == "warn"
    assert doc["model_fit"]["assessed"] and doc["model_fit"]["n_obs"] == 150
    # A warning alone does not fail the run; CI can make it fail.
    code_gate, doc_gate = _fit_json(spec, "--force", "--fail-on-misfit")
    assert code_gate == 1 and "model_fit" in [
        c["name"] for c in doc_gate["checks"] if c["status"] == "fail"
    ]
    # check reads the summary the fit stored, with the same numbers.
    checked = runner.invoke(app, ["check", str(spec.with_suffix(".nc")), "--json"])
    assert json.loads(checked.stdout)["model_fit"] == doc_gate["model_fit"]


@pytest.mark.parametrize("seed", [21, 22])
def test_poisson_counts_fitted_as_poisson_gain_no_misfit(tmp_path: Path, seed: int) -> None:
    spec = _write(
        tmp_path,
        "ok",
        _counts(seed, False, sites=20),
        COUNTS.format(likelihood="poisson", seed=seed),
    )
    _, doc = _fit_json(spec)
    kinds = {p["kind"] for p in doc["pathologies"]}
    assert not kinds & {"overdispersion", "misfit", "influential_observations"}, doc["model_fit"]
    assert next(c for c in doc["checks"] if c["name"] == "model_fit")["status"] == "pass"


def test_fail_on_misfit_from_the_spec(tmp_path: Path) -> None:
    body = COUNTS.format(likelihood="poisson", seed=31) + "checks: {fail_on_misfit: true}\n"
    spec = _write(tmp_path, "gate", _counts(31, True), body)
    code, doc = _fit_json(spec)
    assert code == 1 and doc["thresholds"]["fail_on_misfit"] is True
    # --warn-on-misfit turns the spec's gate off again.
    checked = runner.invoke(
        app, ["check", str(spec.with_suffix(".nc")), "--json", "--warn-on-misfit"]
    )
    fit_check = next(c for c in json.loads(checked.stdout)["checks"] if c["name"] == "model_fit")
    assert fit_check["status"] == "warn"


def test_check_recomputes_the_model_fit_of_a_run_without_a_summary(tmp_path: Path) -> None:
    from hmdiag.runs import load_run, read_info
    from hmdiag.workflows.fit import model_fit_for_run

    spec = _write(tmp_path, "re", _counts(41, True), COUNTS.format(likelihood="poisson", seed=41))
    _fit_json(spec)
    run = load_run(spec.with_suffix(".nc"))
    info = read_info(run, "re")
    from dataclasses import replace

    again = model_fit_for_run(run, replace(info, model_fit=None))
    assert again.to_dict() == model_fit_from_dict(info.model_fit).to_dict()


OUTLIERS = """response: rt
likelihood: normal
sigma: {prior: "halfnormal(100)"}
intercept: {prior: "normal(300, 200)"}
groups:
  - factor: subject
    parameterization: centered
    scale: {prior: "halfnormal(100)"}
sampler: {seed: 5, draws: 400, tune: 400}
"""


def test_doctor_switches_outliers_to_student_t_judged_by_loo(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    subject = np.repeat(np.arange(10), 20)
    rt = 300 + rng.normal(0, 40, 10)[subject] + rng.normal(0, 30, subject.size)
    rt[rng.choice(subject.size, 4, replace=False)] *= 10  # trials logged x10
    spec = _write(tmp_path, "rt", pd.DataFrame({"subject": subject, "rt": rt}), OUTLIERS)
    _, doc = _fit_json(spec)
    assert doc["pathologies"][0]["kind"] in ("misfit", "influential_observations")
    assert doc["advice"][0]["remedy"] == "likelihood" and doc["advice"][0]["target"] == "student_t"
    lines = {f"line {i + 2}" for i in np.flatnonzero(rt > 1000)}
    named = next(p for p in doc["pathologies"] if p["kind"] == "influential_observations")
    assert set(named["numbers"]["rows"]) <= lines and named["numbers"]["rows"]

    from hmdiag.spec import load_spec
    from hmdiag.workflows.doctor import fit_attempt, run_doctor

    result = run_doctor(
        load_spec(spec), fit_attempt({}, force=False, keep_runs=False), max_attempts=3
    )
    switch = next(a for a in result.attempts if a.change == "likelihood: normal -> student_t")
    assert "kept: elpd_loo" in switch.reason
    last = result.fixed or result.attempts[-1]
    assert last.spec.likelihood == "student_t"
    assert last.report.diagnosis.model_fit.n_influential == 0
