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


@dataclass
class _Study:
    """One worker's compiled pieces of an SBC study, reused by all its simulations: the
    prior's forward sampler and, on nutpie, the fitted model compiled once with its response
    as a data container (``hmdiag.model.SHARED_RESPONSE``)."""

    sim_model: Any
    forward: Any
    rngs: list[Any]
    outputs: list[str]
    fit_model: Any
    compiled: Any
    dtype: Any


# Studies this process has compiled, by the specs' text and place (a worker serves one study).
_STUDIES: dict[tuple[str, ...], _Study] = {}


def _study(fit_spec: LoadedSpec, sim_spec: LoadedSpec) -> _Study:
    key = (fit_spec.text, str(fit_spec.path), sim_spec.text, str(sim_spec.path))
    if key in _STUDIES:
        return _STUDIES[key]
    from hmdiag import _lazy
    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data
    from hmdiag.sampling.nutpie_backend import nutpie_compiled

    pm = _lazy.pymc()
    from pymc.pytensorf import find_rng_nodes

    sim_data = prepare_data(sim_spec)
    sim_model = build_model(sim_spec.spec, sim_data)
    names = [*sim_model.free_variables, sim_spec.spec.response]
    outputs = [sim_model.model[n] for n in names]
    forward = pm.pytensorf.compile([], outputs)
    fit_model = build_model(fit_spec.spec, prepare_data(fit_spec), shared_response=True)
    import nutpie

    # The backend's own compile: numba's failures become one clear HmdiagError.
    compiled = nutpie_compiled(fit_model, nutpie, None)
    study = _Study(
        sim_model=sim_model,
        forward=forward,
        rngs=find_rng_nodes(outputs),
        outputs=names,
        fit_model=fit_model,
        compiled=compiled,
        dtype=sim_data.response.dtype,
    )
    _STUDIES.clear()  # one study per worker at a time: bound the memory
    _STUDIES[key] = study
    return study


def _prior_dataset(study: _Study, values: list[np.ndarray]) -> Any:
    """The drawn free variables as a one-draw dataset with the model's dims and coords."""
    import xarray as xr

    model = study.sim_model.model
    data_vars = {}
    for name, value in zip(study.outputs[:-1], values, strict=False):
        dims = model.named_vars_to_dims.get(name) or tuple(
            f"{name}_dim_{i}" for i in range(np.ndim(value))
        )
        data_vars[name] = (("chain", "draw", *dims), np.asarray(value)[None, None, ...])
    coords = {k: list(v) for k, v in model.coords.items() if v is not None}
    used = {d for _, (dims, _) in data_vars.items() for d in dims}
    return xr.Dataset(data_vars, coords={k: v for k, v in coords.items() if k in used})


def simulate_and_fit_reused(
    fit_spec: LoadedSpec, sim_spec: LoadedSpec, index: int, seed: int
) -> SimulationResult:
    """One SBC simulation on the worker's compiled study (nutpie): the prior's forward sampler
    reseeded with ``seed``, then the fit's compiled model given the simulated response.
    The same ``seed`` gives the same draws whether the study was compiled for this simulation
    or reused (tests/test_sbc.py)."""
    from pymc.pytensorf import reseed_rngs

    from hmdiag.model import SHARED_RESPONSE
    from hmdiag.sampling.nutpie_backend import _run_nutpie
    from hmdiag.sampling.settings import resolve_settings

    result = SimulationResult(index=index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nutpie

            study = _study(fit_spec, sim_spec)
            reseed_rngs(study.rngs, seed)
            values = study.forward()
            y = np.asarray(values[-1]).reshape(-1).astype(study.dtype)
            truth = _scalar_draws(_prior_dataset(study, values), study.sim_model.free_variables)
            settings = dataclasses.replace(
                resolve_settings(fit_spec.spec.sampler), seed=seed, cores=1
            )
            compiled = study.compiled.with_data(**{SHARED_RESPONSE: y})
            idata, _ = _run_nutpie(nutpie, compiled, settings, False)
        fitted = [v for v in study.fit_model.free_variables if v in study.sim_model.free_variables]
        _rank(result, idata, fitted, truth)
    except Exception as exc:  # a failed simulation is recorded, the others go on
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _rank(result: SimulationResult, idata: Any, fitted: list[str], truth: dict[str, Any]) -> None:
    draws = _scalar_draws(idata["posterior"].to_dataset(), fitted)
    for name, values in draws.items():
        if name not in truth:
            continue
        thinned = values[np.linspace(0, values.size - 1, RANK_DRAWS).round().astype(int)]
        result.ranks[name] = int(np.sum(thinned < truth[name][0]))
    stats = idata["sample_stats"]
    result.divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0


def simulation_task(fit_spec: LoadedSpec) -> Any:
    """The task each simulation runs: the compiled-once path on nutpie, else a fresh build
    (``HMDIAG_SBC_FRESH=1`` forces the fresh build: the benchmark's "before")."""
    import os

    if os.environ.get("HMDIAG_SBC_FRESH") == "1" or fit_spec.spec.sampler.backend != "nutpie":
        return simulate_and_fit
    return simulate_and_fit_reused


def simulate_and_fit(
    fit_spec: LoadedSpec, sim_spec: LoadedSpec, index: int, seed: int
) -> SimulationResult:
    """One SBC simulation built from scratch (the path for backends other than nutpie)."""
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
        fitted = [v for v in built.free_variables if v in sim_model.free_variables]
        _rank(result, idata, fitted, truth)
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
