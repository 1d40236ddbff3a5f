"""The doctor's remedy choice on constructed diagnoses, its loop, and the Bangladesh runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hmdiag.diagnose.checks import Thresholds
from hmdiag.diagnose.report import assess
from hmdiag.runs import RunInfo
from hmdiag.spec import load_spec
from hmdiag.spec.written import fixed_spec_text, spec_diff
from hmdiag.workflows.doctor import apply_remedy, choose_remedy, run_doctor

from .conftest import CONFIGS, healthy_stats, make_idata
from .test_e2e import run_hmdiag

CHAINS, DRAWS = 4, 500


def term(parameterization: str, smallest: int = 2) -> dict[str, Any]:
    return {
        "factor": "district",
        "effect": "a",
        "scale": "sigma",
        "offset": "z" if parameterization == "non_centered" else None,
        "parameterization": parameterization,
        "pooling": "partial",
        "levels": 3,
        "smallest_level": smallest,
    }


def report_for(
    *,
    diverging: str | None = None,
    div_share: float = 0.05,
    sticky: bool = False,
    parameterization: str = "centered",
    smallest: int = 2,
    target_accept: float = 0.8,
) -> Any:
    """A report of a hand-built run shaped like the Bangladesh models."""
    import arviz as az

    rng = np.random.default_rng(7)
    log_sigma = rng.normal(-0.5, 0.8, size=(CHAINS, DRAWS))
    a_bar = rng.normal(-0.7, 0.4, size=(CHAINS, DRAWS))
    if sticky:  # slow AR(1) chains for the population mean and the scale
        for t in range(1, DRAWS):
            a_bar[:, t] = 0.98 * a_bar[:, t - 1] + 0.08 * rng.normal(size=CHAINS)
            log_sigma[:, t] = 0.98 * log_sigma[:, t - 1] + 0.16 * rng.normal(size=CHAINS)
    a = a_bar[..., None] + rng.normal(size=(CHAINS, DRAWS, 3)) * np.exp(log_sigma)[..., None]
    stats = healthy_stats(rng, CHAINS, DRAWS)
    if diverging == "sigma":
        stats["diverging"] = log_sigma < np.quantile(log_sigma, div_share)
    elif diverging == "a_bar":
        stats["diverging"] = a_bar > np.quantile(a_bar, 1 - div_share)
    posterior = {"a_bar": a_bar, "sigma": np.exp(log_sigma), "a": a}
    idata = make_idata(az, posterior, stats)
    info = RunInfo(
        label="mme",
        target_accept=target_accept,
        group_terms=[term(parameterization, smallest)],
        free_variables=["a_bar", "sigma", "a"],
    )
    return assess(idata, info, Thresholds())


@pytest.fixture(scope="module")
def mme0() -> Any:
    return load_spec(CONFIGS / "mme0.yaml")


def test_funnel_at_centered_scale_is_non_centered_first(mme0: Any) -> None:
    report = report_for(diverging="sigma")
    remedy = choose_remedy(mme0.spec, report, set())
    assert remedy.kind == "non_center"
    assert "small `sigma`" in remedy.reason and "funnel" in remedy.reason
    fixed = apply_remedy(mme0.spec, remedy)
    assert fixed.groups[0].parameterization == "non_centered"
    assert fixed.sampler == mme0.spec.sampler and fixed.groups[0].scale == mme0.spec.groups[0].scale


def test_divergences_elsewhere_raise_target_accept_by_rung_or_jump(mme0: Any) -> None:
    few = choose_remedy(mme0.spec, report_for(diverging="a_bar", div_share=0.004), set())
    assert few.kind == "raise_target_accept" and few.change == "sampler.target_accept: 0.8 -> 0.9"
    many = choose_remedy(mme0.spec, report_for(diverging="a_bar", div_share=0.05), set())
    assert many.change == "sampler.target_accept: 0.8 -> 0.99" and "5.0% of draws" in many.reason
    assert apply_remedy(mme0.spec, many).sampler.target_accept == 0.99


def test_tried_remedies_are_not_repeated(mme0: Any) -> None:
    report = report_for(diverging="sigma")
    first = choose_remedy(mme0.spec, report, set())
    # The funnel explains the divergences: smaller steps are not the fallback for it.
    assert choose_remedy(mme0.spec, report, {first.change}) is None


def test_only_ess_short_runs_longer(mme0: Any) -> None:
    report = report_for(sticky=True)
    assert {c.name for c in report.verdict.failed()} <= {"ess_bulk", "ess_tail", "r_hat"}
    remedy = choose_remedy(mme0.spec, report, set())
    assert remedy.kind in {"more_draws", "more_tune"}


def test_non_centered_with_data_rich_groups_goes_back_to_centered(mme0: Any) -> None:
    nc = apply_remedy(mme0.spec, choose_remedy(mme0.spec, report_for(diverging="sigma"), set()))
    report = report_for(sticky=True, parameterization="non_centered", smallest=200)
    remedy = choose_remedy(nc, report, set())
    assert remedy.kind == "center" and "200 rows" in remedy.reason
    assert apply_remedy(nc, remedy).groups[0].parameterization == "centered"
    # Sparse groups (2 rows in one district) keep the non-centered form.
    sparse = choose_remedy(
        nc, report_for(sticky=True, parameterization="non_centered", smallest=2), set()
    )
    assert sparse.kind != "center"


def test_loop_stops_at_first_pass_and_counts_attempts(mme0: Any) -> None:
    reports = iter([report_for(diverging="sigma"), report_for(diverging="a_bar"), report_for()])
    seen: list[Any] = []
    result = run_doctor(
        mme0, lambda spec, n: (next(reports), None), max_attempts=5, on_attempt=seen.append
    )
    assert [a.number for a in result.attempts] == [1, 2, 3] and seen == result.attempts
    assert result.fixed is result.attempts[2]
    assert result.attempts[1].spec.groups[0].parameterization == "non_centered"
    assert result.attempts[2].spec.sampler.target_accept == 0.99
    bad = run_doctor(mme0, lambda spec, n: (report_for(diverging="sigma"), None), max_attempts=2)
    assert bad.fixed is None and "within 2 attempts" in bad.stopped_because


def test_fixed_spec_text_and_diff(mme0: Any, tmp_path: Path) -> None:
    fixed = apply_remedy(mme0.spec, choose_remedy(mme0.spec, report_for(diverging="sigma"), set()))
    target = tmp_path / "out" / "mme0.fixed.yaml"
    text = fixed_spec_text(
        mme0, fixed, target, ["groups[0] (district): parameterization centered -> non_centered"]
    )
    target.parent.mkdir()
    target.write_text(text)
    reloaded = load_spec(target)
    assert reloaded.data_path.resolve() == mme0.data_path.resolve()
    assert reloaded.spec.groups[0].parameterization == "non_centered"
    diff = spec_diff(mme0.spec, fixed, "a.yaml", "b.yaml")
    assert "-  parameterization: centered" in diff and "+  parameterization: non_centered" in diff
    assert len(diff.splitlines()) < 12


@pytest.mark.slow
def test_doctor_repairs_mme0_by_non_centering_sigma(tmp_path: Path) -> None:
    # PyMC's own NUTS, the reference post's sampler (as in the README's tutorial). With nutpie
    # the same ladder leaves 3 divergences at attempt 3 and r_hat 1.011 at attempt 4.
    fixed = tmp_path / "mme0.fixed.yaml"
    result = run_hmdiag(
        "doctor",
        CONFIGS / "mme0.yaml",
        "--backend",
        "pymc",
        "--out-config",
        fixed,
        "--runs-dir",
        tmp_path / "runs",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] and doc["fixed_at_attempt"] <= 3
    second = doc["attempts"][1]
    assert (
        "non_centered" in second["change"]
        and "funnel" in second["reason"]
        and "`sigma`" in second["reason"]
    )
    assert doc["attempts"][0]["divergences"] > 0 and doc["attempts"][-1]["divergences"] == 0
    spec = yaml.safe_load(fixed.read_text())
    assert spec["groups"][0]["parameterization"] == "non_centered"
    assert all(Path(a["run"]).exists() for a in doc["attempts"])
    assert load_spec(fixed).spec.name == "mme0"


@pytest.mark.slow
def test_doctor_passes_mme4_on_attempt_one_and_writes_no_spec(tmp_path: Path) -> None:
    before = set(CONFIGS.iterdir())
    result = run_hmdiag("doctor", CONFIGS / "mme4.yaml", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    assert "passes as written; nothing to fix" in result.stdout
    assert set(CONFIGS.iterdir()) == before  # no mme4.fixed.yaml


def test_doctor_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    result = run_hmdiag("doctor", CONFIGS / "mme0.yaml", "--out-config", CONFIGS / "mme0.yaml")
    assert result.returncode == 2 and "would overwrite the input spec" in result.stderr


@pytest.mark.parametrize(
    ("change", "undo"),
    [
        (
            "groups[1] (col): parameterization centered -> non_centered",
            "groups[1] (col): parameterization non_centered -> centered",
        ),
        (
            "groups[1] (sample): effects normal -> zero_sum",
            "groups[1] (sample): effects zero_sum -> normal",
        ),
        ("sampler.target_accept: 0.8 -> 0.9", "sampler.target_accept: 0.9 -> 0.8"),
        (
            "groups[0] (g) slope x: scale prior halfstudent_t(3, 2) -> halfnormal(1)",
            "groups[0] (g) slope x: scale prior halfnormal(1) -> halfstudent_t(3, 2)",
        ),
    ],
)
def test_the_doctor_knows_which_change_would_undo_its_own(change: str, undo: str) -> None:
    # A remedy that reverses an earlier attempt is never chosen: the doctor centered a
    # non-centered term (an inverted funnel), then a funnel named at its scale proposed to
    # non-center it again (make bench-diagnosis, funnel_inverted_zero_sum).
    from hmdiag.workflows.doctor import _undo

    assert _undo(change) == undo and _undo(undo) == change


def test_a_funnel_whose_only_remedy_reverses_the_doctor_may_get_smaller_steps(mme0: Any) -> None:
    # The doctor non-centered the term; a funnel whose remedy is to non-center it again is
    # blocked, and then no longer speaks for the divergences: smaller steps are the fallback.
    report = report_for(diverging="sigma")
    first = choose_remedy(mme0.spec, report, set())
    assert first.kind == "non_center"
    reversed_change = first.change.replace("centered -> non_centered", "non_centered -> centered")
    fallback = choose_remedy(mme0.spec, report, {reversed_change})
    assert fallback is not None and fallback.kind == "raise_target_accept"
