"""Sampler backends: a built model -> a run (``xarray.DataTree``) with one normalized layout."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag._nutpie_compile import compile_model
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.runs import group_dataset, has_group, per_draw, set_group
from hmdiag.spec import SamplerSpec, mass_matrix_problem
from hmdiag.timing import PhaseTimes

# Sample-stat names differ by sampler; runs written by hmdiag use PyMC's names.
STAT_ALIASES: dict[str, tuple[str, ...]] = {
    "diverging": ("diverging", "divergent__"),
    "tree_depth": ("tree_depth", "depth", "treedepth__"),
    "reached_max_treedepth": ("reached_max_treedepth", "maxdepth_reached"),
    "acceptance_rate": ("acceptance_rate", "mean_tree_accept", "accept_stat", "accept_stat__"),
    "step_size": ("step_size", "stepsize", "stepsize__"),
    "energy": ("energy", "energy__"),
    "n_steps": ("n_steps", "n_leapfrog", "n_leapfrog__", "tree_size"),
}

INSTALL_HINTS = {
    "nutpie": "pip install nutpie  (a dependency of hmdiag; or choose sampler.backend: pymc)",
    "numpyro": "pip install 'hmdiag[numpyro]'  (or: pip install numpyro jax)",
    "blackjax": "pip install 'hmdiag[blackjax]'  (or: pip install blackjax jax)",
}
# Compiled nutpie models of this process, so repeated fits of one structure compile once.
_NUTPIE_CACHE: dict[int, tuple[Any, Any]] = {}
_NUTPIE_CACHE_SIZE = 4


@dataclass(frozen=True)
class SamplerSettings:
    """Resolved sampler settings (spec values with command-line overrides applied).

    ``mass_matrix`` is the metric NUTS adapts during tuning:

    - ``diag``: each backend's default diagonal adaptation (PyMC ``QuadPotentialDiagAdapt``,
      nutpie ``adaptation="diag"``, numpyro ``dense_mass=False``, blackjax
      ``is_mass_matrix_diagonal=True``).
    - ``dense``: a full covariance, adapted from the tuning draws: PyMC
      ``QuadPotentialFullAdapt``, numpyro ``dense_mass=True``, blackjax
      ``is_mass_matrix_diagonal=False``. nutpie 0.16 has no dense adaptation; it runs its
      closest one, ``adaptation="low_rank"`` (a diagonal corrected along the directions where
      draws and gradients show the strongest correlations).
    - ``low_rank``: nutpie's ``adaptation="low_rank"``; nutpie only (the others have no low-rank
      metric: the spec and ``sample`` refuse it for them, naming nutpie).
    """

    backend: str
    draws: int
    tune: int
    chains: int
    cores: int
    target_accept: float
    max_treedepth: int
    seed: int
    mass_matrix: str = "diag"


def resolve_settings(sampler: SamplerSpec) -> SamplerSettings:
    """Fill in machine-dependent defaults: cores from the machine, a fresh seed if none given."""
    cores = sampler.cores or max(1, min(sampler.chains, os.cpu_count() or 1))
    seed = (
        sampler.seed
        if sampler.seed is not None
        else int(np.random.SeedSequence().entropy % (2**32))
    )
    return SamplerSettings(
        backend=sampler.backend,
        draws=sampler.draws,
        tune=sampler.tune,
        chains=sampler.chains,
        cores=cores,
        target_accept=sampler.target_accept,
        max_treedepth=sampler.max_treedepth,
        seed=seed,
        mass_matrix=sampler.mass_matrix,
    )


def check_mass_matrix(backend: str, mass_matrix: str) -> None:
    """Raise ``HmdiagError`` if ``backend`` cannot adapt ``mass_matrix`` (settings made by hand;
    a spec is checked when it is validated)."""
    problem = mass_matrix_problem(backend, mass_matrix)
    if problem is not None:
        raise HmdiagError(f"sampler.{problem[0]}", problem[1] or None)


def import_backend(backend: str) -> None:
    """Import PyMC and the chosen backend's sampler up front (the fit's "import" phase).

    A missing optional backend is reported later, by the backend itself, with an install hint.
    """
    import importlib

    _lazy.pymc()
    if backend != "pymc":
        with contextlib.suppress(ImportError):
            importlib.import_module(backend)


def _initial_point_problem(built: BuiltModel) -> str | None:
    """Name the variables whose log-probability is not finite at the initial point."""
    try:
        logps = built.model.point_logps()
    except Exception:  # the check itself must never mask the original error
        return None
    bad = [name for name, value in logps.items() if not np.isfinite(value)]
    return ", ".join(bad) if bad else None


def _sample_pymc(
    built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes
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
        )
    seconds = float(idata["sample_stats"].attrs.get("sampling_time", time.perf_counter() - start))
    with timer.phase("postprocess"):
        add_log_likelihood(idata, built, pm)
        _add_log_prior(idata, built, pm)
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


def _sample_nutpie(
    built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes
) -> tuple[Any, float]:
    try:
        import nutpie
    except ImportError:
        raise HmdiagError(
            "sampler backend 'nutpie' is not installed", INSTALL_HINTS["nutpie"]
        ) from None
    pm = _lazy.pymc()
    with timer.phase("compile"):
        compiled = _nutpie_compiled(built, nutpie)
    with timer.phase("sample"):
        idata, seconds = _run_nutpie(nutpie, compiled, s, progress)
    with timer.phase("postprocess"):
        posterior = group_dataset(idata, "posterior")
        transformed = [v for v in posterior.data_vars if str(v).endswith("__")]
        if transformed:
            set_group(idata, "posterior", posterior.drop_vars(transformed))
        _normalize_stat_names(idata)
        add_log_likelihood(idata, built, pm)
        _add_log_prior(idata, built, pm)
        _add_observed_data(idata, built)
    return idata, seconds


def _run_nutpie(
    nutpie: Any, compiled: Any, s: SamplerSettings, progress: bool
) -> tuple[Any, float]:
    """Sample a compiled model; Ctrl-C cancels the sampler instead of waiting for it."""
    start = time.perf_counter()
    sampler = nutpie.sample(
        compiled,
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        cores=s.cores,
        seed=s.seed,
        target_accept=s.target_accept,
        maxdepth=s.max_treedepth,
        # nutpie 0.16 has no dense adaptation; low-rank is its closest (SamplerSettings).
        adaptation="diag" if s.mass_matrix == "diag" else "low_rank",
        progress_bar=progress,
        save_warmup=False,
        blocking=False,
    )
    try:
        # nutpie's own blocking wait does not see Ctrl-C until sampling ends; polling does.
        while not _nutpie_finished(sampler):
            time.sleep(0.05)
    except KeyboardInterrupt:
        sampler.cancel()
        raise
    idata = sampler.wait()
    return idata, time.perf_counter() - start


def _nutpie_finished(sampler: Any) -> bool:
    """Whether nutpie is done (0.16 sometimes answers "not yet" with a TimeoutError)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def add_log_likelihood(idata: Any, built: BuiltModel, pm: Any) -> None:
    """Pointwise log-likelihood, compiled with PyTensor's default (numba) backend.

    numba is already loaded by nutpie and PyTensor keeps numba code in its disk cache, so this
    is cheap in a new process. A graph with an op numba cannot lower is compiled with the C
    virtual machine ("CVM") instead. The JAX backends compute it in JAX inside ``pm.sample``.
    """
    _add_log_density(idata, built, pm.compute_log_likelihood, "log_likelihood")


def _add_log_prior(idata: Any, built: BuiltModel, pm: Any) -> None:
    """Each free variable's log prior density per draw (group ``log_prior``), as
    ``add_log_likelihood`` computes the likelihood; ArviZ's ``psense`` (power-scaling prior
    sensitivity) reads it with the log-likelihood.

    Stored summed over each variable's elements, one value per draw: ``psense`` sums them
    anyway, and 4,000 group effects would otherwise add a posterior-sized group to the file.
    """
    _add_log_density(idata, built, pm.compute_log_prior, "log_prior")
    priors = group_dataset(idata, "log_prior")
    if priors is not None:
        summed = priors.map(per_draw)
        set_group(idata, "log_prior", summed)


def _add_log_density(idata: Any, built: BuiltModel, compute: Any, group: str) -> None:
    """Run a ``pm.compute_log_*`` function with numba, falling back to the C VM."""
    from numba.core.errors import NumbaError

    with built.model:
        try:
            compute(idata, progressbar=False)
        except (NotImplementedError, NumbaError):
            if has_group(idata, group):
                del idata[group]
            compute(idata, progressbar=False, compile_kwargs={"mode": "CVM"})


def _nutpie_compiled(built: BuiltModel, nutpie: Any) -> Any:
    """Compile with numba once per model object (doctor attempts that only change the sampler)."""
    key = id(built.model)
    cached = _NUTPIE_CACHE.get(key)
    if cached is not None and cached[0] is built.model:
        return cached[1]
    from numba.core.errors import NumbaError

    try:
        compiled = compile_model(built.model, nutpie)
    except (NotImplementedError, NumbaError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HmdiagError(
            f"nutpie could not compile this model with numba: {first_line[:200]}",
            "sample it with PyMC's own NUTS: sampler.backend: pymc (or --backend pymc)",
        ) from exc
    if len(_NUTPIE_CACHE) >= _NUTPIE_CACHE_SIZE:
        _NUTPIE_CACHE.pop(next(iter(_NUTPIE_CACHE)))
    _NUTPIE_CACHE[key] = (built.model, compiled)
    return compiled


def _jax_backend(name: str) -> Any:
    def run(
        built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes
    ) -> tuple[Any, float]:
        import importlib.util

        if importlib.util.find_spec(name) is None or importlib.util.find_spec("jax") is None:
            raise HmdiagError(f"sampler backend {name!r} is not installed", INSTALL_HINTS[name])
        pm = _lazy.pymc()
        # PyMC 6 takes sampler options in `nuts=`; chain_method is lifted to the JAX driver.
        # One device on a CPU: run the chains vectorized instead of pmap-parallel.
        nuts: dict[str, Any] = {"chain_method": "vectorized", "target_accept": s.target_accept}
        if name == "numpyro":
            nuts["max_tree_depth"] = s.max_treedepth
            nuts["dense_mass"] = s.mass_matrix == "dense"
        else:
            # PyMC hands blackjax's NUTS options to blackjax.window_adaptation.
            nuts["is_mass_matrix_diagonal"] = s.mass_matrix != "dense"
        start = time.perf_counter()
        with timer.phase("sample"), built.model:
            idata = pm.sample(
                draws=s.draws,
                tune=s.tune,
                chains=s.chains,
                random_seed=s.seed,
                progressbar=progress,
                nuts_sampler=name,
                compute_convergence_checks=False,
                idata_kwargs={"log_likelihood": True},
                nuts=nuts,
            )
        # PyMC 6 puts the JAX samplers' sampling_time on the posterior group only.
        seconds = float(
            idata["posterior"].attrs.get(
                "sampling_time",
                idata["sample_stats"].attrs.get("sampling_time", time.perf_counter() - start),
            )
        )
        with timer.phase("postprocess"):
            _normalize_stat_names(idata)
            _add_log_prior(idata, built, pm)
            _add_observed_data(idata, built)
        return idata, seconds

    return run


def _drop_empty_groups(idata: Any) -> None:
    """Remove groups without variables (numpyro writes an empty constant_data)."""
    for name in list(idata.children):
        if not idata[name].data_vars:
            del idata[name]


def canonical_stat_names(stats: Any) -> Any:
    """A sample-stats Dataset with sampler-specific names renamed to PyMC's (``divergent__`` ->
    ``diverging``); a name already present is kept."""
    renames = {
        native: canonical for canonical, natives in STAT_ALIASES.items() for native in natives[1:]
    }
    present = {k: v for k, v in renames.items() if k in stats and v not in stats}
    return stats.rename(present) if present else stats


def _normalize_stat_names(idata: Any) -> None:
    """Rename the run's sampler-specific sample stats to PyMC's names, in place."""
    stats = group_dataset(idata, "sample_stats")
    if stats is None:
        return
    renamed = canonical_stat_names(stats)
    if renamed is not stats:
        set_group(idata, "sample_stats", renamed)


def _add_observed_data(idata: Any, built: BuiltModel) -> None:
    """Give backends that skip it the ``observed_data`` group PyMC writes."""
    import xarray as xr

    if has_group(idata, "observed_data"):
        return
    model = built.model
    observed = {}
    for rv in model.observed_RVs:
        value = np.asarray(model.rvs_to_values[rv].data)
        dims = model.named_vars_to_dims.get(rv.name) or tuple(
            f"{rv.name}_dim_{i}" for i in range(value.ndim)
        )
        observed[rv.name] = (dims, value)
    coords = {
        d: np.asarray(model.coords[d])
        for d in model.coords
        if any(d in v[0] for v in observed.values())
    }
    set_group(idata, "observed_data", xr.Dataset(observed, coords=coords))


BACKENDS = {
    "pymc": _sample_pymc,
    "nutpie": _sample_nutpie,
    "numpyro": _jax_backend("numpyro"),
    "blackjax": _jax_backend("blackjax"),
}


def sample(
    built: BuiltModel,
    settings: SamplerSettings,
    *,
    progress: bool = False,
    timer: PhaseTimes | None = None,
) -> tuple[Any, float]:
    """Run NUTS with the chosen backend; return (run as a DataTree, sampling seconds).

    ``timer`` receives the compile, sample and postprocess phases.
    """
    pm = _lazy.pymc()
    timer = timer if timer is not None else PhaseTimes()
    check_mass_matrix(settings.backend, settings.mass_matrix)
    try:
        idata, seconds = BACKENDS[settings.backend](built, settings, progress, timer)
    except pm.exceptions.SamplingError as exc:
        culprit = _initial_point_problem(built)
        where = f": log-probability is not finite for {culprit}" if culprit else ""
        raise HmdiagError(
            f"model initialization failed{where}",
            "check the priors and the data of those variables (e.g. a response outside the likelihood's support)",
        ) from exc
    with timer.phase("postprocess"):
        _drop_empty_groups(idata)
    # Samplers return what they have when interrupted (Ctrl-C); a partial run is not a result.
    if int(idata["posterior"].sizes.get("draw", 0)) < settings.draws:
        raise KeyboardInterrupt
    return idata, seconds
