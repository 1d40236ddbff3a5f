"""Sampler backends: a built model -> a run (``xarray.DataTree``) with one normalized layout."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag._datatree import group_dataset, has_group, set_group
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.sampling.nutpie_compile import compile_model
from hmdiag.sampling.timing import PhaseTimes
from hmdiag.spec.settings import SamplerSpec, mass_matrix_problem

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
_NUTPIE_CACHE: dict[tuple[int, tuple[str, ...] | None], tuple[Any, Any]] = {}
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


# A derived variable (a Deterministic: non-centered group effects, correlation matrices) with
# more values per draw than this is stored only on request (``Storage.derived``): at thousands
# of group levels it would double the run, and it follows from the sampled parameters.
DERIVED_AUTO_LIMIT = 1000


@dataclass(frozen=True)
class Storage:
    """What a run keeps besides the sampled parameters and the sampler statistics.

    ``pointwise_loglik``: the log-likelihood of every draw and observation (group
    ``log_likelihood``); otherwise only its per-draw total (sample stat ``log_likelihood``).
    ``derived``: True stores every derived variable, False none, None (auto) those with at
    most ``DERIVED_AUTO_LIMIT`` values per draw.
    """

    pointwise_loglik: bool = False
    derived: bool | None = None


def derived_not_stored(built: BuiltModel, derived: bool | None) -> dict[str, int]:
    """The derived variables a run will not store, with their number of values per draw."""
    model = built.model
    if derived is True:
        return {}
    sizes: dict[str, int] = {}
    for var in model.deterministics:
        dims = model.named_vars_to_dims.get(var.name) or ()
        if len(dims) != var.type.ndim or any(d not in model.dim_lengths for d in dims):
            size = None if var.type.ndim else 1
        else:
            size = int(np.prod([int(model.dim_lengths[d].eval()) for d in dims], dtype=np.int64))
        if derived is False or (size is not None and size > DERIVED_AUTO_LIMIT):
            sizes[var.name] = size if size is not None else -1
    return sizes


def _stored_var_names(built: BuiltModel, skipped: dict[str, int]) -> list[str] | None:
    """PyMC's ``var_names`` for a trace without the skipped derived variables (None: all)."""
    if not skipped:
        return None
    return [v.name for v in built.model.unobserved_RVs if v.name not in skipped]


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
            var_names=_stored_var_names(built, derived_not_stored(built, storage.derived)),
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


def _sample_nutpie(
    built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes, storage: Storage
) -> tuple[Any, float]:
    try:
        import nutpie
    except ImportError:
        raise HmdiagError(
            "sampler backend 'nutpie' is not installed", INSTALL_HINTS["nutpie"]
        ) from None
    pm = _lazy.pymc()
    with timer.phase("compile"):
        skipped = derived_not_stored(built, storage.derived)
        compiled = _nutpie_compiled(built, nutpie, _nutpie_var_names(built, skipped))
    with timer.phase("sample"):
        idata, seconds = _run_nutpie(nutpie, compiled, s, progress)
    with timer.phase("postprocess"):
        posterior = group_dataset(idata, "posterior")
        transformed = [v for v in posterior.data_vars if str(v).endswith("__")]
        if transformed:
            set_group(idata, "posterior", posterior.drop_vars(transformed))
        _normalize_stat_names(idata)
        add_log_densities(idata, built, pm, pointwise_loglik=storage.pointwise_loglik)
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
    """Pointwise log-likelihood (group ``log_likelihood``: chain x draw x observation), as
    ``pm.stats.compute_log_likelihood`` computes it, written draw by draw into one array (PyMC's
    own collects a list of per-draw arrays and copies them: about three times the memory).
    """
    import xarray as xr
    from pymc.backends.arviz import coords_and_dims_for_inferencedata
    from pymc.model.transform.conditioning import remove_value_transforms

    umodel = remove_value_transforms(built.model)
    observed = list(umodel.observed_RVs)
    values = _evaluate_per_draw(idata, umodel, umodel.logp(vars=observed, sum=False))
    coords, dims = coords_and_dims_for_inferencedata(umodel)
    posterior = group_dataset(idata, "posterior")
    data_vars = {}
    for rv, array in zip(observed, values, strict=True):
        # A multivariate observation (MvNormal, Multinomial) has one log density per row:
        # its event dims are dropped, as PyMC's own (skip_event_dims) drops them.
        rv_dims = list(dims.get(rv.name) or [])[: array.ndim - 2]
        rv_dims += [f"{rv.name}_dim_{i}" for i in range(len(rv_dims), array.ndim - 2)]
        data_vars[rv.name] = (("chain", "draw", *rv_dims), array)
    used = {d for v in data_vars.values() for d in v[0][2:]}
    group = xr.Dataset(
        data_vars,
        coords={
            "chain": posterior["chain"].values,
            "draw": posterior["draw"].values,
            **{d: c for d, c in coords.items() if d in used},
        },
    )
    set_group(idata, "log_likelihood", group)


def add_log_densities(idata: Any, built: BuiltModel, pm: Any, *, pointwise_loglik: bool) -> None:
    """The log densities diagnostics read, computed from the posterior draws, in place.

    - ``log_prior`` group: each free variable's log prior density (no Jacobian) summed over its
      elements, one value per draw; ArviZ's ``psense`` (power-scaling prior sensitivity) reads it.
    - the log-likelihood: pointwise (group ``log_likelihood``, draws x observations, what LOO
      needs) with ``pointwise_loglik``, else its per-draw total as the sample stat
      ``log_likelihood`` (what ``psense`` needs; ``compare`` recomputes the pointwise values).

    The per-draw sums come from one compiled function evaluated draw by draw, so no
    draws x observations array exists unless it is asked for (2.35 GB for 4,000 draws of
    InstEval's 73,421 ratings).
    """
    if not int(group_dataset(idata, "posterior").sizes.get("draw", 0)):
        return  # interrupted before its first draw: ``sample`` reports it
    if pointwise_loglik and not has_group(idata, "log_likelihood"):
        add_log_likelihood(idata, built, pm)
    need_total = not has_group(idata, "log_likelihood")
    loglik, priors = _log_density_totals(idata, built, likelihood=need_total)
    import xarray as xr

    posterior = group_dataset(idata, "posterior")
    sample_dims = ("chain", "draw")
    coords = {d: posterior[d].values for d in sample_dims}
    if priors:
        set_group(
            idata,
            "log_prior",
            xr.Dataset({k: (sample_dims, v) for k, v in priors.items()}, coords=coords),
        )
    stats = group_dataset(idata, "sample_stats")
    if loglik is not None and stats is not None:
        set_group(idata, "sample_stats", stats.assign(log_likelihood=(sample_dims, loglik)))


def _log_density_totals(
    idata: Any, built: BuiltModel, *, likelihood: bool
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Per draw: the summed log-likelihood (with ``likelihood``) and each free variable's summed
    log prior, as ``pm.stats.compute_log_likelihood``/``compute_log_prior`` define them
    (constrained values, no Jacobian)."""
    import pytensor.tensor as pt
    from pymc.model.transform.conditioning import remove_value_transforms

    umodel = remove_value_transforms(built.model)
    free = list(umodel.free_RVs)
    outs = [pt.sum(term) for term in umodel.logp(vars=free, sum=False)] if free else []
    if likelihood and umodel.observed_RVs:
        outs.append(umodel.logp(vars=list(umodel.observed_RVs), sum=True))
    if not outs:
        return None, {}
    totals = _evaluate_per_draw(idata, umodel, outs)
    priors = {rv.name: values for rv, values in zip(free, totals, strict=False)}
    loglik = totals[len(free)] if len(outs) > len(free) else None
    return loglik, priors


def _evaluate_per_draw(idata: Any, umodel: Any, outs: list[Any]) -> list[np.ndarray]:
    """Each output of a function of the free variables (``umodel`` without value transforms),
    for every posterior draw: arrays of shape ``(chain, draw, *output_shape)``, filled in place.

    Compiled with PyTensor's default backend (numba, whose code PyTensor caches on disk), else
    with the C VM for a graph numba cannot lower.
    """
    from numba.core.errors import NumbaError

    def compile_fn(**mode: Any) -> Any:
        return umodel.compile_fn(
            inputs=umodel.value_vars, outs=outs, on_unused_input="ignore", **mode
        )

    try:
        fn = compile_fn()
    except (NotImplementedError, NumbaError):
        fn = compile_fn(mode="CVM")
    posterior = group_dataset(idata, "posterior")
    dtypes = {v.name: v.type.dtype for v in umodel.value_vars}
    names = [rv.name for rv in umodel.free_RVs]
    draws = {
        n: np.asarray(posterior[n].transpose("chain", "draw", ...).values, dtype=dtypes[n])
        for n in names
    }
    shape = (int(posterior.sizes["chain"]), int(posterior.sizes["draw"]))
    results: list[np.ndarray] = []
    for chain, draw in np.ndindex(shape):
        values = fn({n: draws[n][chain, draw] for n in names})
        if not results:
            results = [np.empty((*shape, *np.shape(v))) for v in values]
        for out, value in zip(results, values, strict=True):
            out[chain, draw] = value
    return results


def _nutpie_var_names(built: BuiltModel, skipped: dict[str, int]) -> list[str] | None:
    """nutpie's ``var_names``: the derived values to store (sampled ones are always stored)."""
    if not skipped:
        return None
    return [v.name for v in built.model.unobserved_value_vars if v.name not in skipped]


def _nutpie_compiled(built: BuiltModel, nutpie: Any, var_names: list[str] | None) -> Any:
    """Compile with numba once per model object (doctor attempts that only change the sampler)."""
    key = (id(built.model), tuple(var_names) if var_names is not None else None)
    cached = _NUTPIE_CACHE.get(key)
    if cached is not None and cached[0] is built.model:
        return cached[1]
    from numba.core.errors import NumbaError

    try:
        compiled = compile_model(built.model, nutpie, var_names=var_names)
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
        built: BuiltModel, s: SamplerSettings, progress: bool, timer: PhaseTimes, storage: Storage
    ) -> tuple[Any, float]:
        import importlib.util

        if importlib.util.find_spec(name) is None or importlib.util.find_spec("jax") is None:
            raise HmdiagError(f"sampler backend {name!r} is not installed", INSTALL_HINTS[name])
        pm = _lazy.pymc()
        # PyMC 6 takes sampler options in `nuts=`; chain_method is lifted to the JAX driver.
        # All chains vectorized on JAX's default device (one GPU, or the CPU), not pmap-ed
        # across devices: one GPU is the common case, and a CPU is one device to JAX.
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
                idata_kwargs={"log_likelihood": storage.pointwise_loglik},
                nuts=nuts,
                var_names=_stored_var_names(built, derived_not_stored(built, storage.derived)),
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
            add_log_densities(idata, built, pm, pointwise_loglik=storage.pointwise_loglik)
            _add_observed_data(idata, built)
        return idata, seconds

    return run


def sampling_device(backend: str) -> str:
    """Where ``backend`` runs its chains: ``"cpu"`` for nutpie and PyMC; for numpyro and
    blackjax, JAX's default device as ``"<platform>: <kind>"`` (``"gpu: NVIDIA H200"``), all
    chains vectorized on it."""
    if backend not in JAX_BACKENDS:
        return "cpu"
    import jax

    device = jax.devices()[0]
    kind = str(getattr(device, "device_kind", "") or "")
    platform = str(device.platform)
    return f"{platform}: {kind}" if kind and kind.lower() != platform else platform


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


JAX_BACKENDS = ("numpyro", "blackjax")

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
    storage: Storage | None = None,
) -> tuple[Any, float]:
    """Run NUTS with the chosen backend; return (run as a DataTree, sampling seconds).

    ``timer`` receives the compile, sample and postprocess phases; ``storage`` says what the
    run keeps beyond the sampled parameters (default: ``Storage()``).
    """
    pm = _lazy.pymc()
    timer = timer if timer is not None else PhaseTimes()
    check_mass_matrix(settings.backend, settings.mass_matrix)
    try:
        idata, seconds = BACKENDS[settings.backend](
            built, settings, progress, timer, storage or Storage()
        )
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
