"""Issue #25, part 2: funnels and boundaries inside a correlated (LKJ-Cholesky) block.

Simulated data with known truth: a correlated intercept + slope term ``(1 + x | g)`` over few
groups with a small group sd, fitted centered (a funnel at the block's scales, with the
non-centered remedy the doctor applies) and non-centered (no funnel); a healthy model with
plenty of data gains no alarm; and the scale/correlation derivation from a packed factor only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hmdiag.diagnose.blocks import (
    cholesky_correlations,
    cholesky_scales,
    find_blocks,
    unpack_cholesky,
)
from hmdiag.diagnose.checks import Thresholds
from hmdiag.diagnose.diagnosis import diagnose
from hmdiag.diagnose.verdict import judge
from hmdiag.runs import RunInfo

from .conftest import healthy_stats, make_idata

# (seed, groups, rows per group, true sd of the intercepts and slopes)
FEW_GROUPS = [(1, 6, 15, 0.15), (7, 6, 25, 0.1)]


def simulate(seed: int, groups: int, rows: int, sd: float, rho: float = 0.3) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    cov = np.array([[sd**2, rho * sd * sd], [rho * sd * sd, sd**2]])
    ab = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + ab[g, 0] + ab[g, 1] * x + rng.normal(scale=1.0, size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def write_spec(folder: Path, frame: Any, parameterization: str, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    path = folder / f"{parameterization}.yaml"
    path.write_text(
        f"""name: correlated_block
data: {{path: data.csv}}
formula: y ~ 1 + x + (1 + x | g)
family: normal
sigma: {{prior: halfnormal(2)}}
intercept: {{prior: "normal(0, 2)"}}
predictors: {{x: {{prior: "normal(0, 2)"}}}}
groups:
  g:
    parameterization: {parameterization}
    scale: {{prior: halfnormal(1)}}
    slopes: {{x: {{scale: {{prior: halfnormal(1)}}}}}}
sampler: {{chains: 2, draws: 400, tune: 400, seed: {seed}, cores: 1}}
"""
    )
    return path


def fitted(path: Path) -> Any:
    from hmdiag import api

    return api.fit(path)


def summary_of(report: Any) -> dict[str, Any]:
    d = report.diagnosis
    return {
        "divergences": d.divergences_total,
        "max_rhat": max(p.r_hat for p in d.parameters if np.isfinite(p.r_hat)),
        "top": [(h.parameter, round(h.score, 2), round(h.quantile, 2)) for h in d.hotspots[:3]],
    }


_CENTERED: dict[int, tuple[Path, Any]] = {}


def centered_fit(tmp_path_factory: Any, case: tuple[int, int, int, float]) -> tuple[Path, Any]:
    seed, groups, rows, sd = case
    if seed not in _CENTERED:
        folder = tmp_path_factory.mktemp(f"block{seed}")
        path = write_spec(folder, simulate(seed, groups, rows, sd), "centered", seed)
        _CENTERED[seed] = (path, fitted(path))
    return _CENTERED[seed]


@pytest.mark.parametrize("case", FEW_GROUPS, ids=lambda c: f"seed{c[0]}-{c[1]}x{c[2]}")
def test_centered_correlated_term_is_a_funnel_inside_the_block(
    tmp_path_factory: Any, case: tuple[int, int, int, float]
) -> None:
    _, report = centered_fit(tmp_path_factory, case)
    funnels = [p for p in report.verdict.pathologies if p.kind == "funnel"]
    print("centered", case, summary_of(report), [p.evidence for p in funnels])
    assert report.diagnosis.divergences_total >= 5
    assert funnels, summary_of(report)
    funnel = funnels[0]
    assert funnel.numbers["parameter"] in ("sigma_g", "sigma_g_x")
    assert "chol_g" in funnel.evidence
    assert (funnel.remedies[0].remedy, funnel.remedies[0].target) == ("non_center", "g")
    # The first advice is the reparameterization, not target_accept.
    assert report.verdict.advice[0].remedy == "non_center"


@pytest.mark.parametrize("case", FEW_GROUPS, ids=lambda c: f"seed{c[0]}-{c[1]}x{c[2]}")
def test_the_doctor_non_centers_the_block_and_the_funnel_goes(
    tmp_path_factory: Any, case: tuple[int, int, int, float]
) -> None:
    from hmdiag.spec import load_spec
    from hmdiag.workflows.doctor import apply_remedy, choose_remedy

    path, centered = centered_fit(tmp_path_factory, case)
    spec = load_spec(path).spec
    remedy = choose_remedy(spec, centered, set())
    assert remedy is not None and remedy.kind == "non_center"
    repaired = apply_remedy(spec, remedy)
    assert repaired.groups[0].correlated
    assert repaired.groups[0].parameterization == "non_centered"
    # The doctor's spec is the formula's non-centered correlated term.
    non_centered = write_spec(path.parent, simulate(*case), "non_centered", case[0])
    assert load_spec(non_centered).spec.groups == repaired.groups
    report = fitted(non_centered)
    print("non_centered", case, summary_of(report), "centered", summary_of(centered))
    assert not [p for p in report.verdict.pathologies if p.kind == "funnel"]
    assert report.diagnosis.divergences_total < centered.diagnosis.divergences_total


def test_a_healthy_correlated_model_gains_no_alarm(tmp_path: Path) -> None:
    frame = simulate(3, 30, 20, 0.8, rho=0.4)
    report = fitted(write_spec(tmp_path, frame, "centered", 3))
    print("healthy", summary_of(report), [(c.name, c.status) for c in report.verdict.checks])
    assert report.diagnosis.blocks and report.diagnosis.blocks[0].scales == ("sigma_g", "sigma_g_x")
    # 2 chains x 400 draws may fail the strict r_hat/ESS checks: the correlation boundary then
    # gets its chance to fire, and must not (the true correlation is 0.4).
    assert not report.verdict.pathologies
    assert report.diagnosis.divergences_total == 0
    assert all(e.near_one < 0.05 for e in report.diagnosis.block_correlations)


def _packed_draws(rng: np.random.Generator, chains: int, draws: int) -> np.ndarray:
    """Packed lower Cholesky factors (row by row) of random 3 x 3 covariances."""
    out = np.empty((chains, draws, 6))
    rows, cols = np.tril_indices(3)
    for c in range(chains):
        for t in range(draws):
            a = rng.normal(size=(3, 5))
            out[c, t] = np.linalg.cholesky(a @ a.T / 5)[rows, cols]
    return out


def test_scales_are_the_row_norms_of_a_packed_cholesky_factor(az: Any) -> None:
    rng = np.random.default_rng(0)
    packed = _packed_draws(rng, 2, 50)
    factor = unpack_cholesky(packed)
    cov = factor @ np.swapaxes(factor, -1, -2)
    np.testing.assert_allclose(cholesky_scales(packed), np.sqrt(np.diagonal(cov, 0, -2, -1)))
    sd = np.sqrt(np.diagonal(cov, 0, -2, -1))
    np.testing.assert_allclose(
        cholesky_correlations(packed), cov / (sd[..., :, None] * sd[..., None, :])
    )
    # A hand-built run with only the packed factor: the block's scales are derived.
    idata = make_idata(az, {"chol_g": packed}, healthy_stats(rng, 2, 50))
    (block,) = find_blocks(idata.posterior, [], {"chol_g": "cholesky"})
    assert block.derived and block.packed == "chol_g" and len(block.scales) == 3


def test_a_funnel_at_a_derived_scale_is_named_inside_the_packed_block(az: Any) -> None:
    rng = np.random.default_rng(1)
    chains, draws = 2, 300
    packed = _packed_draws(rng, chains, draws)
    scales = cholesky_scales(packed)
    stats = healthy_stats(rng, chains, draws)
    # Divergences where the first scale is smallest: the funnel's signature.
    low = scales[..., 0] < np.quantile(scales[..., 0], 0.05)
    stats["diverging"] = low
    idata = make_idata(az, {"chol_g": packed, "mu": rng.normal(size=(chains, draws))}, stats)
    info = RunInfo(label="packed", free_variables=["chol_g", "mu"])
    d = diagnose(idata, info)
    verdict = judge(d, Thresholds())
    funnels = [p for p in verdict.pathologies if p.kind == "funnel"]
    assert funnels and funnels[0].numbers["parameter"] == "sd(chol_g)[0]"
    assert "row norm" in funnels[0].evidence
    assert funnels[0].remedies[0].remedy == "non_center"


def test_correlations_piled_at_one_are_a_boundary_when_a_check_fails(az: Any) -> None:
    rng = np.random.default_rng(2)
    chains, draws = 2, 300
    r = 1 - np.abs(rng.normal(scale=0.02, size=(chains, draws)))
    corr = np.ones((chains, draws, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = r
    sd = np.abs(rng.normal(1, 0.1, size=(chains, draws, 2)))
    stats = healthy_stats(rng, chains, draws)
    stats["diverging"] = rng.random((chains, draws)) < 0.05
    idata = make_idata(az, {"L": sd[..., [0, 0, 1]], "L_stds": sd, "L_corr": corr}, stats)
    d = diagnose(idata, RunInfo(label="lkj", free_variables=["L"]))
    edges = d.block_correlations
    assert len(edges) == 1 and edges[0].near_one > 0.9
    verdict = judge(d, Thresholds())
    assert any(p.kind == "boundary" and "L_corr" in p.where for p in verdict.pathologies)
    # The same correlations on a passing run are no alarm.
    calm = make_idata(
        az,
        {"L": sd[..., [0, 0, 1]], "L_stds": sd, "L_corr": corr},
        healthy_stats(rng, chains, draws),
    )
    assert not judge(diagnose(calm, RunInfo(label="lkj")), Thresholds()).pathologies


def _sticky(rng: np.random.Generator, chains: int, draws: int, rho: float) -> np.ndarray:
    """AR(1) draws with autocorrelation ``rho``: a parameter that mixes slowly."""
    out = np.empty((chains, draws))
    out[:, 0] = rng.normal(size=chains)
    for t in range(1, draws):
        out[:, t] = rho * out[:, t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=chains)
    return out


def _block_run(az: Any, *, slope_sticks: bool) -> tuple[Any, RunInfo]:
    """A non-centered (1 + x | g) block whose slope scale sits at 0; when ``slope_sticks``
    it (and its Cholesky row) mixes far slower than every other parameter."""
    rng = np.random.default_rng(5)
    chains, draws = 4, 1000
    sd = np.exp(rng.normal(np.log(0.7), 0.3, size=(chains, draws)))
    raw = _sticky(rng, chains, draws, 0.995) if slope_sticks else rng.normal(size=(chains, draws))
    sd_x = np.abs(0.3 * raw)  # a half-normal: its mode at 0
    rho = np.tanh(rng.normal(0, 0.5, size=(chains, draws)))
    corr = np.ones((chains, draws, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = rho
    packed = np.stack([sd, sd_x * rho, sd_x * np.sqrt(1 - rho**2)], axis=-1)
    posterior = {
        "intercept": rng.normal(2, 0.2, size=(chains, draws)),
        "b_x": rng.normal(0.5, 0.2, size=(chains, draws)),
        "sigma": np.abs(rng.normal(1, 0.1, size=(chains, draws))),
        "z_g": rng.normal(size=(chains, draws, 6, 2)),
        "chol_g": packed,
        "corr_g": corr,
        "sigma_g": sd,
        "sigma_g_x": sd_x,
        "r_g": rng.normal(0, 0.7, size=(chains, draws, 6)),
        "r_g_x": rng.normal(0, 0.2, size=(chains, draws, 6)),
    }
    idata = az.from_dict(
        {"posterior": posterior, "sample_stats": healthy_stats(rng, chains, draws)},
        dims={"corr_g": ["g_coef", "g_coef_b"]},
        coords={"g_coef": ["1", "x"], "g_coef_b": ["1", "x"]},
    )
    term = {
        "factor": "g",
        "effect": "r_g",
        "scale": "sigma_g",
        "offset": "z_g",
        "parameterization": "non_centered",
        "pooling": "partial",
        "levels": 6,
        "smallest_level": 8,
        "correlated": True,
    }
    info = RunInfo(
        label="block",
        group_terms=[term],
        free_variables=["intercept", "b_x", "sigma", "z_g", "chol_g"],
    )
    return idata, info


def test_a_slope_scale_at_zero_that_mixes_worst_is_a_boundary_inside_the_block(az: Any) -> None:
    idata, info = _block_run(az, slope_sticks=True)
    d = diagnose(idata, info)
    shapes = {s.scale: s for s in d.evidence.scales}
    # Each scale of the block has its own shape; the slope's piles at 0, the intercept's not.
    assert shapes["sigma_g_x"].slope == "x" and shapes["sigma_g_x"].zero_bin_ratio > 0.8
    assert shapes["sigma_g"].zero_bin_ratio < 0.2
    verdict = judge(d, Thresholds())
    failed = {c.name for c in verdict.failed()}
    assert failed & {"ess_bulk", "ess_tail"}
    (boundary,) = [p for p in verdict.pathologies if p.kind == "boundary"]
    assert boundary.numbers["parameter"] == "sigma_g_x"
    assert "worst-mixing parameter" in boundary.evidence
    tighter = next(a for a in boundary.remedies if a.remedy == "tighten_scale_prior")
    assert tighter.target == "g:x"


def test_a_block_scale_at_zero_that_mixes_like_the_rest_is_no_alarm(az: Any) -> None:
    idata, info = _block_run(az, slope_sticks=False)
    verdict = judge(diagnose(idata, info), Thresholds())
    assert not verdict.failed() and not verdict.pathologies
