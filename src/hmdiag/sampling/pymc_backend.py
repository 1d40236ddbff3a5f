"""PyMC's own NUTS as a backend (and the check that names a variable whose initial
log-probability is not finite)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag.model import BuiltModel
from hmdiag.sampling.log_density import add_log_densities
from hmdiag.sampling.settings import (
    SamplerSettings,
    Storage,
    derived_not_stored,
    stored_var_names,
)
from hmdiag.sampling.timing import PhaseTimes


def initial_point_problem(built: BuiltModel) -> str | None:
    """Name the variables whose log-probability is not finite at the initial point."""
    try:
        logps = built.model.point_logps()
    except Exception:  # the check itself must never mask the original error
        return None
    bad = [name for name, value in logps.items() if not np.isfinite(value)]
    return ", ".join(bad) if bad else None


def sample_pymc(
    built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes, storage: Storage
) -> tuple[Any, float]:
    pm = _lazy.pymc()
    start = time.perf_counter()
    with timer.phase("sample"), built.model:
        # PyMC's own NUTS (PyMC 6's default sampler is nutpie; the explicit step and
        # nuts_sampler keep it that way if that default moves again).
        step = _pymc_nuts(pm, s, built.model)
        idata = pm.sample(
            draws=s.draws,
            tune=s.tune,
            chains=s.chains,
            cores=s.cores,
            step=step,
            nuts_sampler="pymc",
            random_seed=s.seed,
            progressbar=progress,
            compute_convergence_checks=False,
            var_names=stored_var_names(built, derived_not_stored(built, storage.derived)),
        )
    seconds = float(idata["sample_stats"].attrs.get("sampling_time", time.perf_counter() - start))
    with timer.phase("postprocess"):
        add_log_densities(idata, built, pm, pointwise_loglik=storage.pointwise_loglik)
    return idata, seconds


def _pymc_nuts(pm: Any, s: SamplerSettings, model: Any) -> Any:
    """PyMC's NUTS step, compiled with numba (PyTensor 3's default), else with the C VM.

    ``pm.sample`` ignores ``init=`` when given a step, so a dense mass matrix is the step's own
    potential: ``QuadPotentialFullAdapt``, started like PyMC's default diagonal one (mean 0,
    identity covariance, weight 10).
    This is also the way out for models nutpie cannot compile: their error names this backend.
    """
    from numba.core.errors import NumbaError

    def step(**mode: Any) -> Any:
        kwargs = {"potential": _dense_potential(model)} if s.mass_matrix == "dense" else {}
        return pm.NUTS(
            target_accept=s.target_accept, max_treedepth=s.max_treedepth, **kwargs, **mode
        )

    try:
        return step()
    except (NotImplementedError, NumbaError):
        return step(mode="CVM")


def _dense_potential(model: Any) -> Any:
    """A full (dense) mass matrix adapted from the tuning draws' covariance (PyMC)."""
    import warnings

    from pymc.step_methods.hmc.quadpotential import QuadPotentialFullAdapt

    point = model.initial_point()
    size = int(sum(np.size(point[v.name]) for v in model.value_vars))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "QuadPotentialFullAdapt is an experimental feature")
        return QuadPotentialFullAdapt(size, np.zeros(size), np.eye(size), 10)
