"""nutpie as a backend: the model compiled with numba once per model object, then sampled."""

from __future__ import annotations

import time
from typing import Any

from hmdiag import _lazy
from hmdiag._datatree import group_dataset, set_group
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.sampling.layout import add_observed_data, normalize_stat_names
from hmdiag.sampling.log_density import add_log_densities
from hmdiag.sampling.nutpie_compile import compile_model
from hmdiag.sampling.settings import (
    INSTALL_HINTS,
    SamplerSettings,
    Storage,
    derived_not_stored,
)
from hmdiag.sampling.timing import PhaseTimes

# Compiled nutpie models of this process, so repeated fits of one structure compile once.
_NUTPIE_CACHE: dict[tuple[int, tuple[str, ...] | None], tuple[Any, Any]] = {}


_NUTPIE_CACHE_SIZE = 4


def sample_nutpie(
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
        compiled = nutpie_compiled(built, nutpie, _nutpie_var_names(built, skipped))
    with timer.phase("sample"):
        idata, seconds = _run_nutpie(nutpie, compiled, s, progress)
    with timer.phase("postprocess"):
        posterior = group_dataset(idata, "posterior")
        transformed = [v for v in posterior.data_vars if str(v).endswith("__")]
        if transformed:
            set_group(idata, "posterior", posterior.drop_vars(transformed))
        normalize_stat_names(idata)
        add_log_densities(idata, built, pm, pointwise_loglik=storage.pointwise_loglik)
        add_observed_data(idata, built)
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


def _nutpie_var_names(built: BuiltModel, skipped: dict[str, int]) -> list[str] | None:
    """nutpie's ``var_names``: the derived values to store (sampled ones are always stored)."""
    if not skipped:
        return None
    return [v.name for v in built.model.unobserved_value_vars if v.name not in skipped]


def nutpie_compiled(built: BuiltModel, nutpie: Any, var_names: list[str] | None) -> Any:
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
