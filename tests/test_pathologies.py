"""The pathology catalog on constructed runs: each entry fires on its evidence, names where,
and stays silent on a healthy run (gallery fits are in test_gallery.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hmdiag.diagnose.checks import Thresholds
from hmdiag.diagnose.diagnosis import diagnose
from hmdiag.diagnose.verdict import judge
from hmdiag.runs import RunInfo

from .conftest import healthy_stats, make_idata

CHAINS, DRAWS = 4, 500


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(15)


def sticky(rng: np.random.Generator, size: tuple[int, ...], rho: float = 0.97) -> np.ndarray:
    """AR(1) draws per chain: slow mixing, so r_hat and ESS fail."""
    out = np.empty((CHAINS, DRAWS, *size))
    out[:, 0] = rng.normal(size=(CHAINS, *size))
    for t in range(1, DRAWS):
        out[:, t] = rho * out[:, t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=(CHAINS, *size))
    return out


def judged(idata: Any, info: RunInfo | None = None) -> tuple[Any, Any]:
    d = diagnose(idata, info or RunInfo(label="t"))
    return d, judge(d, Thresholds())


def kinds(verdict: Any) -> list[str]:
    return [p.kind for p in verdict.pathologies]


RIDGE_SPEC = """
name: crossed
data: {path: x.csv}
response: y
likelihood: normal
sigma: {prior: "halfnormal(2)"}
intercept: {prior: "normal(0, 5)"}
groups:
  - {factor: plate, parameterization: non_centered}
  - {factor: sample, parameterization: non_centered}
"""


def crossed_terms() -> list[dict[str, Any]]:
    def term(factor: str, levels: int) -> dict[str, Any]:
        return {
            "factor": factor,
            "effect": f"r_{factor}",
            "scale": f"sigma_{factor}",
            "offset": f"z_{factor}",
            "parameterization": "non_centered",
            "pooling": "partial",
            "levels": levels,
            "smallest_level": 6,
        }

    return [term("plate", 24), term("sample", 6)]


def test_ridge_between_intercept_and_a_crossed_mean_asks_for_zero_sum(
    az: Any, rng: np.random.Generator
) -> None:
    drift = sticky(rng, ())  # the unidentified direction, slow
    intercept = 20 + drift
    r_sample = -drift[..., None] + 0.05 * rng.normal(size=(CHAINS, DRAWS, 6))
    r_plate = intercept[..., None] + 0.3 * rng.normal(size=(CHAINS, DRAWS, 24))
    posterior = {
        "intercept": intercept,
        "r_plate": r_plate,
        "r_sample": r_sample,
        "sigma_plate": np.exp(rng.normal(size=(CHAINS, DRAWS))),
        "sigma_sample": np.exp(rng.normal(size=(CHAINS, DRAWS))),
    }
    info = RunInfo(label="t", spec_text=RIDGE_SPEC, group_terms=crossed_terms())
    d, v = judged(make_idata(az, posterior, healthy_stats(rng)), info)
    assert "r_hat" in {c.name for c in v.failed()}
    ridge = next(p for p in v.pathologies if p.kind == "ridge")
    assert {ridge.numbers["first"], ridge.numbers["second"]} == {"intercept", "mean(r_sample)"}
    assert ridge.numbers["correlation"] < -0.95
    assert ridge.remedies[0].remedy == "zero_sum" and ridge.remedies[0].target == "sample"
    # The absorbing term's mean contains the intercept by construction: never a ridge.
    pairs = [{c.first, c.second} for c in d.evidence.correlations]
    assert {"intercept", "mean(r_plate)"} not in pairs and {"intercept", "mean(r_sample)"} in pairs
    # The evidence points at the ridge, not at step size.
    assert not any(a.remedy == "raise_target_accept" for a in v.advice)


def test_collinear_coefficients_saturating_tree_depth_ask_for_a_dense_mass_matrix(
    az: Any, rng: np.random.Generator
) -> None:
    common = rng.normal(size=(CHAINS, DRAWS))
    posterior = {
        "b_x1": common + 0.01 * rng.normal(size=(CHAINS, DRAWS)),
        "b_x2": -common + 0.01 * rng.normal(size=(CHAINS, DRAWS)),
    }
    stats = healthy_stats(rng)
    stats["reached_max_treedepth"] = rng.random((CHAINS, DRAWS)) < 0.4
    stats["tree_depth"] = np.where(stats["reached_max_treedepth"], 10, 6)
    _, v = judged(make_idata(az, posterior, stats), RunInfo(label="t", max_treedepth=10))
    assert kinds(v) == ["ridge", "treedepth_saturation"]
    assert (
        "combination of these parameters" in v.pathologies[0].meaning
    )  # no spec: not called predictors
    saturation = v.pathologies[1]
    assert 0.35 < saturation.numbers["fraction"] < 0.45
    assert saturation.numbers["correlation"] < -0.99
    assert v.advice[0].remedy == "dense_mass_matrix"
    assert not any(a.remedy == "raise_max_treedepth" for a in v.advice)


def test_a_chain_in_another_mode_is_named_and_called_unfixable_by_the_sampler(
    az: Any, rng: np.random.Generator
) -> None:
    mu = rng.normal(size=(CHAINS, DRAWS))
    mu[2] += 10.0
    _, v = judged(make_idata(az, {"mu": mu}, healthy_stats(rng)))
    assert kinds(v) == ["multimodal"]
    modes = v.pathologies[0]
    assert modes.numbers["outlying_chains"] == [2] and not modes.sampler_fixable
    assert "chain 2" in modes.evidence and modes.remedies[0].remedy == "rethink_model"


def test_a_chain_that_barely_moves_is_a_stuck_chain(az: Any, rng: np.random.Generator) -> None:
    mu = rng.normal(size=(CHAINS, DRAWS))
    mu[1] = 6.0 + 0.01 * rng.normal(size=DRAWS)
    _, v = judged(make_idata(az, {"mu": mu}, healthy_stats(rng)))
    assert kinds(v) == ["stuck_chain"]
    assert v.pathologies[0].numbers["stuck_chains"] == [1]
    assert v.advice[0].remedy == "more_tune"


def test_slow_but_agreeing_chains_are_no_pathology(az: Any, rng: np.random.Generator) -> None:
    _, v = judged(make_idata(az, {"mu": sticky(rng, ())}, healthy_stats(rng)))
    assert "r_hat" in {c.name for c in v.failed()} or "ess_bulk" in {c.name for c in v.failed()}
    assert kinds(v) == []


BOUNDARY_SPEC = """
name: dyes
data: {path: x.csv}
response: y
likelihood: normal
sigma: {prior: "halfnormal(2)"}
groups:
  - {factor: batch, parameterization: non_centered}
"""


def boundary_idata(
    az: Any,
    rng: np.random.Generator,
    *,
    diverge_at_zero: bool,
    diverging: np.ndarray | None = None,
) -> Any:
    sigma = np.abs(rng.normal(0, 1.0, size=(CHAINS, DRAWS)))  # a half-normal: mass at 0
    z = rng.normal(size=(CHAINS, DRAWS, 6))
    posterior = {
        "intercept": rng.normal(5, 0.3, size=(CHAINS, DRAWS)),
        "sigma_batch": sigma,
        "z_batch": z,
        "r_batch": 5 + z * sigma[..., None],
    }
    stats = healthy_stats(rng)
    if diverge_at_zero:
        stats["diverging"] = sigma < np.quantile(sigma, 0.01)
    if diverging is not None:
        stats["diverging"] = diverging
    return make_idata(az, posterior, stats)


def boundary_info() -> RunInfo:
    term = crossed_terms()[0] | {
        "factor": "batch",
        "effect": "r_batch",
        "scale": "sigma_batch",
        "offset": "z_batch",
    }
    return RunInfo(
        label="t",
        spec_text=BOUNDARY_SPEC,
        group_terms=[term],
        free_variables=["intercept", "sigma_batch", "z_batch"],
        target_accept=0.8,
    )


def test_a_scale_piled_at_zero_behind_divergences_is_a_boundary(
    az: Any, rng: np.random.Generator
) -> None:
    _, v = judged(boundary_idata(az, rng, diverge_at_zero=True), boundary_info())
    boundary = next(p for p in v.pathologies if p.kind == "boundary")
    assert boundary.numbers["parameter"] == "sigma_batch" and boundary.numbers["near_zero"] > 0.1
    assert "little or no variation between batch levels" in boundary.meaning
    # Non-centered already: smaller steps, then a tighter prior; dropping the term is reported.
    assert [a.remedy for a in boundary.remedies] == [
        "raise_target_accept",
        "tighten_scale_prior",
        "drop_term",
    ]


def test_the_same_scale_on_a_passing_run_is_no_alarm(az: Any, rng: np.random.Generator) -> None:
    _, v = judged(boundary_idata(az, rng, diverge_at_zero=False), boundary_info())
    assert v.passed and kinds(v) == []


def prior_idata(az: Any, rng: np.random.Generator, *, data_pull: float) -> Any:
    """One coefficient with a Normal(0, 10) prior; the likelihood pulls it up by ``data_pull``."""
    b = rng.normal(25.0 if data_pull else 0.0, 5.0, size=(CHAINS, DRAWS))
    idata = make_idata(az, {"b_dose": b}, healthy_stats(rng))
    log_prior = -0.5 * (b / 10.0) ** 2
    log_lik = data_pull * b if data_pull else np.zeros_like(b) + 1e-9 * rng.normal(size=b.shape)
    extra = az.from_dict(
        {"log_prior": {"b_dose": log_prior}, "log_likelihood": {"y": log_lik[..., None]}}
    )
    for group in ("log_prior", "log_likelihood"):
        idata[group] = extra[group]
    return idata


SEPARATION_SPEC = """
name: sep
data: {path: x.csv}
response: y
likelihood: bernoulli
intercept: false
predictors:
  - {column: dose, prior: "normal(0, 10)"}
"""


def test_a_coefficient_held_by_its_prior_is_a_prior_data_conflict_even_when_checks_pass(
    az: Any, rng: np.random.Generator
) -> None:
    info = RunInfo(label="t", spec_text=SEPARATION_SPEC)
    _, v = judged(prior_idata(az, rng, data_pull=0.25), info)
    assert v.passed
    conflict = next(p for p in v.pathologies if p.kind == "prior_data_conflict")
    assert conflict.numbers["prior_sensitivity"] >= 0.05
    assert conflict.numbers["prior_z"] == pytest.approx(2.5, abs=0.1)
    assert "separation" in conflict.meaning and not conflict.sampler_fixable
    assert "normal(0, 2.5)" in conflict.remedies[0].action
    # A passing run with a named pathology still gets its advice.
    assert v.advice and v.advice[0].remedy == "weakly_informative_prior"


TAIL_SPEC = """
name: tail
data: {path: x.csv}
response: y
likelihood: normal
sigma: {prior: halfnormal(1)}
intercept: false
predictors:
  - {column: dose, prior: "normal(0, %s)"}
"""


@pytest.mark.parametrize(("prior_sd", "named"), [(10, True), (100, False)])
def test_an_estimate_in_the_priors_tail_is_a_conflict_though_the_prior_barely_moves_it(
    az: Any, rng: np.random.Generator, prior_sd: float, named: bool
) -> None:
    # Data pin b at 40 +- 0.5: with a normal(0, 10) prior that is 4 prior sds out (the
    # prior's tail), with normal(0, 100) 0.4 sds (no conflict). Either way the prior's
    # power-scaling sensitivity is far below 0.05.
    b = rng.normal(40.0, 0.5, size=(CHAINS, DRAWS))
    idata = make_idata(az, {"b_dose": b}, healthy_stats(rng))
    extra = az.from_dict(
        {
            "log_prior": {"b_dose": -0.5 * (b / prior_sd) ** 2},
            "log_likelihood": {"y": (-0.5 * ((b - 40.0) / 0.5) ** 2)[..., None]},
        }
    )
    for group in ("log_prior", "log_likelihood"):
        idata[group] = extra[group]
    d, v = judged(idata, RunInfo(label="t", spec_text=TAIL_SPEC % prior_sd))
    sens = next(s for s in d.evidence.sensitivity if s.parameter == "b_dose")
    assert sens.prior < 0.05 <= sens.likelihood
    conflict = [p for p in v.pathologies if p.kind == "prior_data_conflict"]
    assert bool(conflict) is named and v.passed, (sens, kinds(v))
    if named:
        assert conflict[0].numbers["prior_z"] == pytest.approx(4.0, abs=0.1)
        assert "almost cannot be" in conflict[0].meaning and "wrong scale" in conflict[0].evidence


def test_prior_sensitivity_needs_the_log_prior_group(az: Any, rng: np.random.Generator) -> None:
    idata = make_idata(az, {"b_dose": rng.normal(size=(CHAINS, DRAWS))}, healthy_stats(rng))
    d, v = judged(idata, RunInfo(label="t", spec_text=SEPARATION_SPEC))
    assert d.evidence.sensitivity is None and kinds(v) == []
    assert any("no log_prior or log_likelihood group" in n for n in d.notes)


# --- the doctor follows the catalog's remedies ---------------------------------------------


def spec_of(text: str) -> Any:
    import yaml

    from hmdiag.spec import ModelSpec

    return ModelSpec.model_validate(yaml.safe_load(text))


def report_of(idata: Any, info: RunInfo) -> Any:
    from hmdiag.diagnose.report import assess

    return assess(idata, info, Thresholds())


def test_doctor_makes_the_crossed_term_zero_sum(az: Any, rng: np.random.Generator) -> None:
    from hmdiag.workflows.doctor import apply_remedy, choose_remedy

    drift = sticky(rng, ())
    posterior = {
        "intercept": 20 + drift,
        "r_plate": 20 + drift[..., None] + 0.3 * rng.normal(size=(CHAINS, DRAWS, 24)),
        "r_sample": -drift[..., None] + 0.05 * rng.normal(size=(CHAINS, DRAWS, 6)),
    }
    info = RunInfo(label="t", spec_text=RIDGE_SPEC, group_terms=crossed_terms())
    spec = spec_of(RIDGE_SPEC)
    remedy = choose_remedy(
        spec, report_of(make_idata(az, posterior, healthy_stats(rng)), info), set()
    )
    assert remedy.change == "groups[1] (sample): effects normal -> zero_sum"
    assert remedy.reason.startswith(
        "ridge (non-identification) at `intercept` and `mean(r_sample)`"
    )
    fixed = apply_remedy(spec, remedy)
    assert [g.effects for g in fixed.groups] == ["normal", "zero_sum"]


def test_doctor_on_a_boundary_raises_target_accept_then_tightens_the_prior_once(
    az: Any, rng: np.random.Generator
) -> None:
    from hmdiag.workflows.doctor import apply_remedy, choose_remedy

    spec = spec_of(BOUNDARY_SPEC)
    report = report_of(boundary_idata(az, rng, diverge_at_zero=True), boundary_info())
    first = choose_remedy(spec, report, set())
    assert first.change == "sampler.target_accept: 0.8 -> 0.99"
    second = choose_remedy(spec, report, {first.change})
    assert second.change == "groups[0] (batch): scale prior exponential(1) -> exponential(2)"
    tighter = apply_remedy(spec, second)
    assert str(tighter.groups[0].scale.prior) == "exponential(2)"
    # Tightened once: the same report on the tightened spec does not halve it again.
    from hmdiag.workflows.doctor import _once_key

    again = choose_remedy(tighter, report, {first.change, second.change, _once_key(second)})
    assert again is None or again.kind != "tighten_scale_prior"


def test_doctor_stops_and_says_why_when_no_sampler_change_can_help(
    az: Any, rng: np.random.Generator
) -> None:
    from hmdiag.spec import LoadedSpec
    from hmdiag.workflows.doctor import run_doctor

    mu = rng.normal(size=(CHAINS, DRAWS))
    mu[2] += 10.0
    report = report_of(make_idata(az, {"mu": mu}, healthy_stats(rng)), RunInfo(label="t"))
    loaded = LoadedSpec(spec=spec_of(BOUNDARY_SPEC), path=Path("x.yaml"), text=BOUNDARY_SPEC)
    result = run_doctor(loaded, lambda spec, n: (report, None), max_attempts=5)
    assert result.fixed is None and len(result.attempts) == 1
    assert result.stopped_because.startswith("several modes at `mu`")


def test_doctor_stops_when_attempts_stop_improving(az: Any, rng: np.random.Generator) -> None:
    from hmdiag.spec import LoadedSpec
    from hmdiag.workflows.doctor import run_doctor

    reports = iter(
        [
            report_of(boundary_idata(az, rng, diverge_at_zero=True), boundary_info())
            for _ in range(5)
        ]
    )
    loaded = LoadedSpec(spec=spec_of(BOUNDARY_SPEC), path=Path("x.yaml"), text=BOUNDARY_SPEC)
    result = run_doctor(loaded, lambda spec, n: (next(reports), None), max_attempts=5)
    assert len(result.attempts) == 3 and result.fixed is None
    assert "2 attempts in a row did not improve" in result.stopped_because


# --- every output format shows the pathologies ----------------------------------------------


def test_pathologies_reach_json_markdown_terminal_and_html(
    az: Any, rng: np.random.Generator, tmp_path: Path
) -> None:
    import json
    from importlib.resources import files

    from typer.testing import CliRunner

    from hmdiag.cli import app
    from hmdiag.runs import attach_info, save_run

    idata = prior_idata(az, rng, data_pull=0.25)
    attach_info(idata, RunInfo(label="sep", spec_text=SEPARATION_SPEC))
    run = tmp_path / "sep.nc"
    save_run(idata, run, force=False)
    runner = CliRunner()

    as_json = runner.invoke(app, ["check", str(run), "--json"])
    assert as_json.exit_code == 0, as_json.output  # checks pass; the pathology is a finding
    doc = json.loads(as_json.stdout)
    [conflict] = doc["pathologies"]
    assert conflict["kind"] == "prior_data_conflict" and conflict["where"] == "`b_dose`"
    assert conflict["numbers"]["prior"] == "normal(0, 10)" and not conflict["sampler_fixable"]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(files("hmdiag").joinpath("schemas/check-v1.schema.json").read_text())
    jsonschema.validate(doc, schema)

    markdown = runner.invoke(app, ["check", str(run), "--markdown"]).stdout
    assert "**Diagnosis**" in markdown and "| prior-data conflict | `b_dose` |" in markdown

    terminal = runner.invoke(app, ["check", str(run)]).stdout
    assert "but the posterior shows:" in terminal and "prior-data conflict at `b_dose`" in terminal
    assert "no sampler setting can fix this" in terminal

    html = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(run), "--out", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "<h3>Diagnosis</h3>" in page and "prior-data conflict" in page


# --- review findings: no false boundary, settings respected, slopes edited as slopes -------


def test_divergences_unrelated_to_the_scale_are_no_boundary(
    az: Any, rng: np.random.Generator
) -> None:
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[:, ::20] = True  # evenly spaced: tied to no parameter
    idata = boundary_idata(az, rng, diverge_at_zero=False, diverging=diverging)
    _, v = judged(idata, boundary_info())
    assert "divergences" in {c.name for c in v.failed()}
    assert "boundary" not in kinds(v)


def test_remedies_already_in_place_are_not_proposed_again(
    az: Any, rng: np.random.Generator
) -> None:
    from dataclasses import replace

    info = replace(boundary_info(), target_accept=0.99)
    _, v = judged(boundary_idata(az, rng, diverge_at_zero=True), info)
    boundary = next(p for p in v.pathologies if p.kind == "boundary")
    assert [a.remedy for a in boundary.remedies] == ["tighten_scale_prior", "drop_term"]
    assert not any(a.remedy == "raise_target_accept" for a in v.advice)

    common = rng.normal(size=(CHAINS, DRAWS))
    posterior = {"b_x1": common, "b_x2": -common + 0.01 * rng.normal(size=(CHAINS, DRAWS))}
    stats = healthy_stats(rng)
    stats["reached_max_treedepth"] = rng.random((CHAINS, DRAWS)) < 0.4
    dense = RunInfo(label="t", max_treedepth=10, mass_matrix="dense")
    _, v = judged(make_idata(az, posterior, stats), dense)
    saturation = next(p for p in v.pathologies if p.kind == "treedepth_saturation")
    assert saturation.remedies == [] and "with a dense mass matrix" in saturation.meaning


SLOPE_SPEC = """
name: slopes
data: {path: x.csv}
response: y
likelihood: normal
sigma: {prior: "halfnormal(2)"}
groups:
  - factor: g
    parameterization: non_centered
    scale: {prior: "halfnormal(2)"}
    slopes:
      - {column: x, scale: {prior: "halfnormal(1)"}}
"""


def test_a_slope_scale_at_its_boundary_gets_its_own_prior_tightened(
    az: Any, rng: np.random.Generator
) -> None:
    from hmdiag.workflows.doctor import choose_remedy

    sigma = np.abs(rng.normal(0, 1.0, size=(CHAINS, DRAWS)))
    z = rng.normal(size=(CHAINS, DRAWS, 6))
    posterior = {
        "intercept": rng.normal(size=(CHAINS, DRAWS)),
        "sigma_g": np.exp(rng.normal(size=(CHAINS, DRAWS))),
        "z_g": rng.normal(size=(CHAINS, DRAWS, 6)),
        "sigma_g_x": sigma,
        "z_g_x": z,
        "r_g_x": z * sigma[..., None],
    }
    stats = healthy_stats(rng)
    stats["diverging"] = sigma < np.quantile(sigma, 0.01)
    base = crossed_terms()[0] | {"factor": "g", "levels": 6}
    terms = [
        base | {"effect": "r_g_x", "scale": "sigma_g_x", "offset": "z_g_x", "slope": "x"},
        base | {"effect": "r_g", "scale": "sigma_g", "offset": "z_g"},
    ]
    info = RunInfo(
        label="t",
        spec_text=SLOPE_SPEC,
        group_terms=terms,
        target_accept=0.99,
        free_variables=["intercept", "sigma_g", "z_g", "sigma_g_x", "z_g_x"],
    )
    report = report_of(make_idata(az, posterior, stats), info)
    boundary = next(p for p in report.verdict.pathologies if p.kind == "boundary")
    assert boundary.numbers["parameter"] == "sigma_g_x"
    remedy = choose_remedy(spec_of(SLOPE_SPEC), report, set())
    assert remedy.change == "groups[0] (g) slope x: scale prior halfnormal(1) -> halfnormal(0.5)"


UNCENTERED_SPEC = """
name: trend
data: {path: x.csv}
response: y
likelihood: normal
sigma: {prior: "halfnormal(2)"}
predictors:
  - {column: year, prior: "normal(0, 1)"}
"""


def test_intercept_against_an_uncentered_predictor_is_standardized(
    az: Any, rng: np.random.Generator
) -> None:
    from hmdiag.workflows.doctor import apply_remedy, choose_remedy

    drift = sticky(rng, ())
    posterior = {
        "intercept": 3 - 2000 * drift / 1000,
        "b_year": drift / 1000 + 0.0001 * rng.normal(size=(CHAINS, DRAWS)),
        "sigma": np.exp(rng.normal(size=(CHAINS, DRAWS))),
    }
    info = RunInfo(label="t", spec_text=UNCENTERED_SPEC)
    report = report_of(make_idata(az, posterior, healthy_stats(rng)), info)
    ridge = next(p for p in report.verdict.pathologies if p.kind == "ridge")
    assert ridge.remedies[0].remedy == "standardize" and ridge.remedies[0].target == "year"
    assert "far from the data" in ridge.meaning
    remedy = choose_remedy(spec_of(UNCENTERED_SPEC), report, set())
    assert remedy.change == "predictors[0] (year): standardize false -> true"
    assert apply_remedy(spec_of(UNCENTERED_SPEC), remedy).predictors[0].standardize
