"""The pathology gallery (configs/pathologies/): each catalog entry is named on its case, the
doctor repairs what a sampler change can repair and says so where none can, and the healthy
reference models raise no alarm. Real fits with each spec's own settings (slow)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from hmdiag.diagnose.pathologies._base import BOUNDARY_HOTSPOT_RANK, BOUNDARY_ZERO_BIN, ks_critical
from hmdiag.diagnose.report import assess, thresholds_from_checks
from hmdiag.spec import load_spec
from hmdiag.workflows.doctor import DoctorResult, run_doctor
from hmdiag.workflows.fit import fit

from .conftest import ROOT

GALLERY = ROOT / "configs" / "pathologies"
HEALTHY = [
    ROOT / "configs" / "bangladesh" / "mme4.yaml",
    ROOT / "configs" / "bangladesh" / "mfe.yaml",
    *(
        ROOT / "configs" / "examples" / f"{name}.yaml"
        for name in ("eight_schools", "cbpp", "grouseticks_negbin", "sleepstudy_robust")
    ),
]
# Models that sample cleanly but do not fit their data, as the literature says (#25):
# sleepstudy's subject 332 has outlying reaction times (the example of Koller 2016, robustlmm),
# and grouseticks' counts vary more than a Poisson allows without an observation-level
# effect (lme4's own grouseticks example adds one). Their model-fit entries are the finding.
KNOWN_MISFIT = {
    "sleepstudy": ("influential_observations", "subject 332"),
    "sleepstudy_correlated": ("influential_observations", "subject 332"),
    "grouseticks_poisson": ("influential_observations", "ticks"),
}

pytestmark = pytest.mark.slow


def fitted_report(loaded: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(loaded)
        checks = loaded.spec.checks
        # The fit's own model fit, with its pointwise elpd, as `hmdiag fit` and the doctor use.
        return assess(
            result.idata,
            result.info,
            thresholds_from_checks(checks),
            hdi_prob=checks.hdi_prob,
            model_fit=result.model_fit,
        )


_DOCTOR: dict[str, DoctorResult] = {}


def doctored(name: str) -> DoctorResult:
    """The doctor's run on one gallery case (once per session), with its default budget."""
    if name not in _DOCTOR:
        loaded = load_spec(GALLERY / f"{name}.yaml")
        _DOCTOR[name] = run_doctor(loaded, lambda spec, n: (fitted_report(spec), None))
    return _DOCTOR[name]


def kinds(report: Any) -> list[str]:
    return [p.kind for p in report.verdict.pathologies]


def test_every_gallery_case_has_a_test() -> None:
    assert sorted(p.stem for p in GALLERY.glob("*.yaml")) == sorted(EXPECTED)


EXPECTED = {
    "funnel": ["funnel"],
    "ridge_crossed": ["ridge"],
    "boundary": ["funnel"],
    "separation": ["prior_data_conflict"],
    "multimodal": ["multimodal"],
    "collinear": ["ridge", "treedepth_saturation"],
    "overdispersion": ["overdispersion", "misfit", "influential_observations"],
    "misfit": ["misfit"],
    "influential": ["influential_observations"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gallery_case_is_named_as_written(name: str) -> None:
    first = doctored(name).attempts[0].report
    assert kinds(first)[: len(EXPECTED[name])] == EXPECTED[name], kinds(first)
    advice = [a.remedy for a in first.verdict.advice]
    if name != "funnel" and name != "boundary":
        assert "raise_target_accept" not in advice, advice  # the evidence points elsewhere


def test_overdispersed_ticks_pass_the_checks_and_the_doctor_keeps_a_negative_binomial() -> None:
    result = doctored("overdispersion")
    first = result.attempts[0].report
    assert first.verdict.passed  # sampling is fine; the model is not
    dispersion = first.verdict.pathologies[0]
    assert dispersion.numbers["observed"] > 20  # var/mean 27 in lme4's grouseticks
    assert result.attempts[1].change == "likelihood: poisson -> negative_binomial"
    assert "kept: elpd_loo" in result.attempts[1].reason
    assert result.fixed is not None and result.fixed.spec.likelihood == "negative_binomial"
    assert "overdispersion" not in kinds(result.fixed.report)


def test_misfit_names_the_subjects_and_the_doctor_tries_their_days_slope_by_loo() -> None:
    result = doctored("misfit")
    first = result.attempts[0].report
    assert first.verdict.passed  # sampling is fine; the model is not
    (misfit,) = first.verdict.pathologies
    (grouped,) = [g for g in misfit.numbers["grouped"] if g["statistic"] == "sd"]
    assert grouped["factor"] == "subject" and grouped["extreme"] >= 2
    # Steep (308) and flat (309, 335) subjects: lme4's sleepstudy needs (days | subject).
    assert "subject 308 (" in misfit.evidence and "subject 309 (" in misfit.evidence
    second = result.attempts[1]
    assert second.change == (
        "groups[0] (subject): add a varying slope for days (scale prior halfnormal(20))"
    )
    assert "elpd_loo" in second.reason  # judged by PSIS-LOO, kept or undone with its numbers
    assert result.fixed is not None


def test_influential_rows_are_subject_332s_and_the_doctor_keeps_a_student_t() -> None:
    result = doctored("influential")
    first = result.attempts[0].report
    assert first.verdict.passed
    assert "line 58 (subject 332)" in first.verdict.pathologies[0].evidence
    assert result.attempts[1].change == "likelihood: normal -> student_t"
    assert "kept: elpd_loo" in result.attempts[1].reason
    assert result.fixed is not None and result.fixed.spec.likelihood == "student_t"
    assert "influential_observations" not in kinds(result.fixed.report)


def test_ridge_names_the_intercept_and_the_crossed_mean_and_the_doctor_makes_it_zero_sum() -> None:
    result = doctored("ridge_crossed")
    ridge = result.attempts[0].report.verdict.pathologies[0]
    assert abs(ridge.numbers["correlation"]) >= 0.95
    assert "mean(r_sample)" in ridge.evidence and "`intercept`" in ridge.evidence
    assert result.attempts[1].change == "groups[1] (sample): effects normal -> zero_sum"
    assert result.fixed is not None and result.fixed.spec.groups[1].effects == "zero_sum"


def test_boundary_is_named_once_the_funnel_is_gone_and_the_doctor_passes() -> None:
    result = doctored("boundary")
    assert "non_centered" in result.attempts[1].change
    second = result.attempts[1].report
    d = second.diagnosis
    # The pile at 0 is in the draws whatever the divergences do.
    (shape,) = [s for s in d.evidence.scales if s.scale == "sigma_batch"]
    assert shape.zero_bin_ratio >= BOUNDARY_ZERO_BIN
    # Non-centered, the few divergences left (3 of 4000 on one machine, a handful on another:
    # numba compiles for the host CPU, so the draws differ in the last bits across machines)
    # name the boundary exactly when they concentrate at small sigma_batch beyond chance.
    beyond_chance = bool(d.divergences_total) and any(
        h.variable == "sigma_batch"
        and h.score >= ks_critical(d.divergences_total, d.chains * d.draws)
        for h in d.hotspots[:BOUNDARY_HOTSPOT_RANK]
    )
    assert (kinds(second)[:1] == ["boundary"]) == beyond_chance, (d.hotspots[:3], kinds(second))
    if beyond_chance:
        boundary = second.verdict.pathologies[0]
        assert boundary.numbers["zero_bin_ratio"] == shape.zero_bin_ratio
        assert "little or no variation between batch levels" in boundary.meaning
    assert "funnel" not in kinds(second)
    assert result.fixed is not None and len(result.attempts) <= 5
    assert not result.fixed.report.diagnosis.divergences_total


def test_separation_passes_its_checks_but_is_named_prior_driven() -> None:
    result = doctored("separation")
    first = result.attempts[0]
    assert first.passed and result.fixed is first
    conflict = first.report.verdict.pathologies[0]
    assert conflict.where == "`b_dose`" and not conflict.sampler_fixable
    assert conflict.numbers["prior_z"] >= 1.5 and "separation" in conflict.meaning
    estimate = next(p for p in first.report.diagnosis.parameters if p.name == "b_dose")
    assert estimate.mean > 15 and estimate.sd > 3  # held by normal(0, 10), not by the data


def test_multimodal_names_the_chains_and_the_doctor_stops_at_once() -> None:
    result = doctored("multimodal")
    assert len(result.attempts) == 1 and result.fixed is None
    modes = result.attempts[0].report.verdict.pathologies[0]
    assert modes.numbers["parameter"] == "intercept" and modes.numbers["outlying_chains"]
    assert result.stopped_because.startswith("several modes at `intercept`")
    assert "no sampler setting" in result.stopped_because


def test_collinear_gets_a_dense_mass_matrix_and_passes() -> None:
    result = doctored("collinear")
    saturation = result.attempts[0].report.verdict.pathologies[1]
    assert saturation.numbers["fraction"] >= 0.05
    assert saturation.numbers["correlation"] < -0.99
    assert result.attempts[1].change == "sampler.mass_matrix: diag -> dense"
    assert result.fixed is result.attempts[1]


def test_funnel_is_non_centered_first_and_the_doctor_passes() -> None:
    result = doctored("funnel")
    assert "centered -> non_centered" in result.attempts[1].change
    assert "funnel" in result.attempts[1].reason
    assert result.fixed is not None


@pytest.mark.parametrize("name", sorted(KNOWN_MISFIT))
def test_known_misfit_is_named_and_no_sampling_pathology(name: str) -> None:
    report = fitted_report(load_spec(ROOT / "configs" / "examples" / f"{name}.yaml"))
    assert report.verdict.passed, [c.message for c in report.verdict.failed()]
    kind, words = KNOWN_MISFIT[name]
    found = {p.kind: p for p in report.verdict.pathologies}
    assert kind in found and words in found[kind].evidence, found
    assert all(not p.sampler_fixable for p in report.verdict.pathologies), found
    fit_check = next(c for c in report.verdict.checks if c.name == "model_fit")
    assert fit_check.status == "warn"


@pytest.mark.parametrize("path", HEALTHY, ids=lambda p: Path(p).stem)
def test_no_false_alarm_on_healthy_reference_models(path: Path) -> None:
    report = fitted_report(load_spec(path))
    assert report.verdict.passed, [c.message for c in report.verdict.failed()]
    assert kinds(report) == [], [(p.kind, p.evidence) for p in report.verdict.pathologies]
    assert report.verdict.advice == []
