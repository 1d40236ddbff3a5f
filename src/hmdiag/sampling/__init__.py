"""Sampler backends: a built model -> a run (``xarray.DataTree``) with one normalized layout."""

from __future__ import annotations

from typing import Any

from hmdiag import _lazy
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.sampling.jax_backend import jax_backend
from hmdiag.sampling.layout import drop_empty_groups
from hmdiag.sampling.nutpie_backend import sample_nutpie
from hmdiag.sampling.pymc_backend import initial_point_problem, sample_pymc
from hmdiag.sampling.settings import SamplerSettings, Storage, check_mass_matrix
from hmdiag.sampling.timing import PhaseTimes

BACKENDS = {
    "pymc": sample_pymc,
    "nutpie": sample_nutpie,
    "numpyro": jax_backend("numpyro"),
    "blackjax": jax_backend("blackjax"),
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
        culprit = initial_point_problem(built)
        where = f": log-probability is not finite for {culprit}" if culprit else ""
        raise HmdiagError(
            f"model initialization failed{where}",
            "check the priors and the data of those variables (e.g. a response outside the likelihood's support)",
        ) from exc
    with timer.phase("postprocess"):
        drop_empty_groups(idata)
    # Samplers return what they have when interrupted (Ctrl-C); a partial run is not a result.
    if int(idata["posterior"].sizes.get("draw", 0)) < settings.draws:
        raise KeyboardInterrupt
    return idata, seconds
