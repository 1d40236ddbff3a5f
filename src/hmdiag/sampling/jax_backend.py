"""NumPyro and BlackJAX through PyMC's JAX samplers, all chains vectorized on JAX's default
device."""

from __future__ import annotations

import time
from typing import Any

from hmdiag import _lazy
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.sampling.layout import add_observed_data, normalize_stat_names
from hmdiag.sampling.log_density import add_log_densities
from hmdiag.sampling.settings import (
    INSTALL_HINTS,
    SamplerSettings,
    Storage,
    derived_not_stored,
    stored_var_names,
)
from hmdiag.sampling.timing import PhaseTimes


def jax_backend(name: str) -> Any:
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
                var_names=stored_var_names(built, derived_not_stored(built, storage.derived)),
            )
        # PyMC 6 puts the JAX samplers' sampling_time on the posterior group only.
        seconds = float(
            idata["posterior"].attrs.get(
                "sampling_time",
                idata["sample_stats"].attrs.get("sampling_time", time.perf_counter() - start),
            )
        )
        with timer.phase("postprocess"):
            normalize_stat_names(idata)
            add_log_densities(idata, built, pm, pointwise_loglik=storage.pointwise_loglik)
            add_observed_data(idata, built)
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


JAX_BACKENDS = ("numpyro", "blackjax")
