"""What a sampler is asked to do: the resolved settings (the spec's sampler section with the
command line's overrides), what the run stores, and the backend's import."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from hmdiag import _lazy
from hmdiag.errors import HmdiagError
from hmdiag.model import BuiltModel
from hmdiag.spec.settings import SamplerSpec, mass_matrix_problem

INSTALL_HINTS = {
    "nutpie": "pip install nutpie  (a dependency of hmdiag; or choose sampler.backend: pymc)",
    "numpyro": "pip install 'hmdiag[numpyro]'  (or: pip install numpyro jax)",
    "blackjax": "pip install 'hmdiag[blackjax]'  (or: pip install blackjax jax)",
}


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


def stored_var_names(built: BuiltModel, skipped: dict[str, int]) -> list[str] | None:
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
