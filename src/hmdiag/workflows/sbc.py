"""Simulation-based calibration (Talts et al. 2018): draw parameters from the prior, simulate
data on the spec's own design, fit, and rank each true value among the posterior draws.

For a calibrated sampler and model the ranks are uniform. ``simulate_with`` lets the data
come from a different spec (e.g. another prior), which SBC must flag.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmdiag.spec import LoadedSpec

RANK_DRAWS = 99  # thinned posterior draws per simulation: ranks take values 0..99
ALPHA = 0.01


@dataclass
class SimulationResult:
    """One simulation: the rank of each true scalar parameter, and the sampler's trouble."""

    index: int
    ranks: dict[str, int] = field(default_factory=dict)
    divergences: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ParameterCalibration:
    """Uniformity of one parameter's ranks (chi-square over equal-width bins)."""

    parameter: str
    simulations: int
    bins: int
    chi2: float
    p_value: float
    calibrated: bool
    counts: list[int]


@dataclass(frozen=True)
class SbcResult:
    """All simulations and the per-parameter verdicts."""

    parameters: list[ParameterCalibration]
    simulations: list[SimulationResult]
    alpha: float

    @property
    def passed(self) -> bool:
        """Every parameter's ranks are consistent with uniform."""
        return bool(self.parameters) and all(p.calibrated for p in self.parameters)

    @property
    def rank_draws(self) -> int:
        """The largest rank: posterior draws kept per simulation (ranks are 0..rank_draws)."""
        return RANK_DRAWS


def _scalar_draws(dataset: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Flatten variables into ``name`` / ``name[level]`` -> draws (chain and draw stacked)."""
    from arviz_base.labels import BaseLabeller
    from arviz_base.sel_utils import xarray_var_iter

    labeller = BaseLabeller()
    out: dict[str, np.ndarray] = {}
    for var, sel, isel, values in xarray_var_iter(
        dataset, var_names=names, combined=True, skip_dims={"chain", "draw"}
    ):
        out[labeller.make_label_flat(var, sel, isel)] = np.asarray(values, dtype=float).reshape(-1)
    return out


def simulate_and_fit(
    fit_spec: LoadedSpec, sim_spec: LoadedSpec, index: int, seed: int
) -> SimulationResult:
    """One SBC simulation (the task a Dask worker runs)."""
    from hmdiag import _lazy
    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data
    from hmdiag.sampling import sample
    from hmdiag.sampling.settings import resolve_settings

    pm = _lazy.pymc()
    result = SimulationResult(index=index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim_data = prepare_data(sim_spec)
            sim_model = build_model(sim_spec.spec, sim_data)
            prior = pm.sample_prior_predictive(draws=1, model=sim_model.model, random_seed=seed)
            y = np.asarray(prior["prior_predictive"][sim_spec.spec.response].values).reshape(-1)
            truth = _scalar_draws(prior["prior"].to_dataset(), sim_model.free_variables)
            fit_data = dataclasses.replace(
                prepare_data(fit_spec), response=y.astype(sim_data.response.dtype)
            )
            built = build_model(fit_spec.spec, fit_data)
            settings = dataclasses.replace(
                resolve_settings(fit_spec.spec.sampler), seed=seed, cores=1
            )
            idata, _ = sample(built, settings)
        draws = _scalar_draws(
            idata["posterior"].to_dataset(),
            [v for v in built.free_variables if v in sim_model.free_variables],
        )
        for name, values in draws.items():
            if name not in truth:
                continue
            thinned = values[np.linspace(0, values.size - 1, RANK_DRAWS).round().astype(int)]
            result.ranks[name] = int(np.sum(thinned < truth[name][0]))
        result.divergences = int(idata["sample_stats"]["diverging"].sum())
    except Exception as exc:  # a failed simulation is recorded, the others go on
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def calibration(simulations: list[SimulationResult], alpha: float = ALPHA) -> SbcResult:
    """Chi-square uniformity test of each parameter's ranks, Bonferroni-corrected over parameters."""
    from scipy.stats import chisquare

    names = list(dict.fromkeys(n for s in simulations if s.error is None for n in s.ranks))
    per_test = alpha / max(len(names), 1)
    parameters = []
    for name in names:
        ranks = np.array(
            [s.ranks[name] for s in simulations if s.error is None and name in s.ranks]
        )
        bins = int(max(2, min(20, len(ranks) // 5)))
        counts, _ = np.histogram(ranks, bins=bins, range=(0, RANK_DRAWS + 1))
        chi2, p_value = chisquare(counts)
        parameters.append(
            ParameterCalibration(
                name,
                len(ranks),
                bins,
                float(chi2),
                float(p_value),
                bool(p_value >= per_test),
                counts.tolist(),
            )
        )
    return SbcResult(parameters=parameters, simulations=simulations, alpha=alpha)
