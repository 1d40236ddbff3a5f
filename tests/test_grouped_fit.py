"""Posterior predictive statistics per group level (issue #25: "per group where that helps").

Known truth by construction: replicated data drawn from the very distribution of the observed
data (a model that fits) must stay within chance over many seeds; a few groups whose rows vary
four times as much as the model allows must be found and named.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom

from hmdiag.diagnose.grouped_fit import (
    GROUPED_FAMILY_LEVEL,
    LEVEL_TAIL,
    MIN_LEVEL_ROWS,
    binomial_tail,
    grouped_checks,
)
from hmdiag.diagnose.model_fit import (
    FitData,
    RowLabels,
    measure_model_fit,
    model_fit_from_dict,
)

LEVELS, ROWS, DRAWS = 30, 10, 400


def _groups() -> dict[str, np.ndarray]:
    return {"subject": np.repeat([f"s{i:02d}" for i in range(LEVELS)], ROWS)}


def test_binomial_tail_matches_scipy_and_survives_thousands_of_levels() -> None:
    assert binomial_tail(0, 10, 0.01) == 1.0
    assert binomial_tail(3, 30, 0.01) == pytest.approx(binom.sf(2, 30, 0.01))
    assert 0.0 <= binomial_tail(300, 3000, 0.01) < 1e-100


def test_a_model_that_fits_stays_within_chance_over_many_seeds() -> None:
    flagged = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=LEVELS * ROWS)
        rep = rng.normal(size=(DRAWS, LEVELS * ROWS))
        checks = grouped_checks(y, rep, _groups(), ["mean", "sd", "min", "max"])
        assert {c.statistic for c in checks} == {"mean", "sd", "min", "max"}
        assert all(c.levels == LEVELS and c.level == GROUPED_FAMILY_LEVEL / 4 for c in checks)
        flagged += any(c.extreme for c in checks)
    # The family level is 2% per run; 60 runs at 2% flag about 1.2 (5 or more: p < 0.01).
    assert flagged <= 4


def test_groups_that_vary_four_times_as_much_are_named_by_their_level() -> None:
    rng = np.random.default_rng(1)
    noisy = ["s03", "s17", "s25"]
    groups = _groups()["subject"]
    scale = np.where(np.isin(groups, noisy), 4.0, 1.0)
    y = rng.normal(size=groups.size) * scale
    # The model has one sd for every row: the pooled sd of the data.
    rep = rng.normal(size=(DRAWS, groups.size)) * float(np.sqrt(np.mean(scale**2)))
    (sd,) = [c for c in grouped_checks(y, rep, {"subject": groups}, ["sd"])]
    assert sd.extreme and sd.n_extreme >= 3 and sd.expected == pytest.approx(LEVELS * LEVEL_TAIL)
    # Too much spread only in the noisy levels, and they come first; the pooled sd the
    # model adopts leaves other levels too quiet, which is a misfit too.
    high = [w for w in sd.worst if w.observed > w.replicated_high]
    assert len(high) >= 2 and {w.level for w in high} <= set(noisy)
    assert sd.worst[: len(high)] == high
    assert all(w.rows == ROWS for w in sd.worst)


def test_small_levels_are_not_tested_and_too_few_draws_test_nothing() -> None:
    rng = np.random.default_rng(2)
    labels = np.array(["a"] * MIN_LEVEL_ROWS + ["b"] * MIN_LEVEL_ROWS + ["c"] * 2)
    y = rng.normal(size=labels.size)
    (check,) = grouped_checks(y, rng.normal(size=(DRAWS, labels.size)), {"g": labels}, ["sd"])
    assert check.levels == 2  # "c" has 2 rows
    assert grouped_checks(y, rng.normal(size=(100, labels.size)), {"g": labels}, ["sd"]) == []


def test_the_grouped_checks_travel_in_the_model_fit_record_and_name_a_misfit() -> None:
    rng = np.random.default_rng(3)
    groups = _groups()["subject"]
    scale = np.where(np.isin(groups, ["s03", "s17", "s25"]), 3.0, 1.0)
    y = rng.normal(size=groups.size) * scale
    rep = rng.normal(size=(DRAWS, groups.size)) * float(np.sqrt(np.mean(scale**2)))
    rows = RowLabels(lines=np.arange(2, groups.size + 2), groups={"subject": groups})
    fit = measure_model_fit(FitData("y", y, None, rep, likelihood="normal", rows=rows))
    assert [c.statistic for c in fit.extreme_grouped()] == ["sd"]
    record = json.loads(json.dumps(fit.to_dict()))
    assert [g["extreme"] for g in record["grouped"]] == [c.extreme for c in fit.grouped]
    assert model_fit_from_dict(record).grouped == fit.grouped


def test_the_varying_slope_remedy_skips_predictors_constant_inside_the_levels(tmp_path) -> None:
    import pandas as pd

    from hmdiag.spec import load_spec
    from hmdiag.workflows.doctor import apply_remedy
    from hmdiag.workflows.remedies import varies_within, varying_slope_remedy

    rng = np.random.default_rng(4)
    subject = np.repeat(np.arange(6), 5)
    frame = pd.DataFrame(
        {
            "subject": subject,
            "age": rng.normal(size=6)[subject],  # one value per subject
            "days": np.tile(np.arange(5), 6),
            "y": rng.normal(size=30),
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "name: s\ndata: {path: d.csv}\nresponse: y\nlikelihood: normal\nsigma: {prior: 'halfnormal(1)'}\n"
        "predictors:\n  - {column: age, prior: 'normal(0, 3)'}\n"
        "  - {column: days, prior: 'normal(0, 20)'}\n"
        "groups:\n  - {factor: subject}\n"
    )
    loaded = load_spec(tmp_path / "s.yaml")
    within = varies_within(loaded)
    assert not within("age", "subject") and within("days", "subject")
    remedy = varying_slope_remedy(loaded.spec, "subject", within)
    assert remedy is not None and remedy.kind == "varying_slope"
    assert remedy.change == (
        "groups[0] (subject): add a varying slope for days (scale prior halfnormal(20))"
    )
    slope = apply_remedy(loaded.spec, remedy).groups[0].slopes[0]
    assert slope.column == "days" and str(slope.scale.prior) == "halfnormal(20)"
    # Once days varies by subject, nothing is left to add.
    assert varying_slope_remedy(apply_remedy(loaded.spec, remedy), "subject", within) is None
