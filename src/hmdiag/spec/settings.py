"""The spec's run settings: the sampler (backend, mass matrix, chains, draws) and the checks'
thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from hmdiag.spec.fields import (
    BACKENDS,
    StrictModel,
)

MASS_MATRICES: tuple[str, ...] = ("diag", "dense", "low_rank")


# Which backends take each sampler.mass_matrix (hmdiag.sampling maps it to each backend's API).
MASS_MATRIX_BACKENDS: dict[str, tuple[str, ...]] = {
    "diag": BACKENDS,
    "dense": BACKENDS,
    "low_rank": ("nutpie",),
}


def mass_matrix_problem(backend: str, mass_matrix: str) -> tuple[str, str] | None:
    """(problem, hint) if ``backend`` cannot adapt ``mass_matrix``, else ``None``."""
    supported = MASS_MATRIX_BACKENDS.get(mass_matrix)
    if supported is None:
        return (
            f"mass_matrix {mass_matrix!r} is not supported; must be one of: {', '.join(MASS_MATRICES)}",
            "",
        )
    if backend in supported:
        return None
    others = [m for m, backends in MASS_MATRIX_BACKENDS.items() if backend in backends]
    return (
        f"mass_matrix {mass_matrix!r} is not available with backend {backend}; "
        f"it works with backend {' or '.join(supported)}",
        f"use backend: {supported[0]}, or mass_matrix: {' or '.join(others)}",
    )


class SamplerSpec(StrictModel):
    """NUTS settings. ``cores`` defaults to the machine's cores (at most ``chains``).

    ``mass_matrix`` picks the adapted metric: ``diag`` (every backend's default), ``dense`` (a
    full covariance: PyMC, numpyro and blackjax; nutpie has none and uses its low-rank
    adaptation) or ``low_rank`` (nutpie only). ``hmdiag.sampling`` maps it to each backend.
    """

    # nutpie is the default because `make bench` measures it fastest end to end on the
    # reference models (benchmarks/results.md).
    backend: Literal["pymc", "nutpie", "numpyro", "blackjax"] = "nutpie"
    draws: int = Field(1000, ge=1, le=1_000_000)
    tune: int = Field(1000, ge=0, le=1_000_000)
    chains: int = Field(4, ge=1, le=64)
    cores: int | None = Field(None, ge=1, le=256)
    target_accept: float = Field(0.8, gt=0, lt=1)
    max_treedepth: int = Field(10, ge=1, le=20)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    mass_matrix: Literal["diag", "dense", "low_rank"] = "diag"

    @model_validator(mode="after")
    def _mass_matrix_fits_backend(self) -> SamplerSpec:
        problem = mass_matrix_problem(self.backend, self.mass_matrix)
        if problem is not None:
            raise ValueError(f"{problem[0]} ({problem[1]})")
        return self


class ChecksSpec(StrictModel):
    """Pass/fail thresholds; defaults follow Vehtari et al. (2021) and CmdStan ``diagnose``."""

    max_rhat: float = Field(1.01, gt=1.0)
    min_ess_per_chain: float = Field(100, ge=0)
    max_divergences: int = Field(0, ge=0)
    max_treedepth_hits: int = Field(0, ge=0)
    min_bfmi: float = Field(0.3, ge=0)
    # model_fit (Pareto k, posterior predictive checks) fails instead of warning
    fail_on_misfit: bool = False
    hdi_prob: float = Field(0.89, gt=0, lt=1)
    # `hmdiag compare --baseline`: fail when a posterior mean moves more than this many
    # baseline sds (beyond its MCSE), or a parameter's ESS/s falls by this fraction
    baseline_shift: float | None = Field(None, gt=0)
    ess_drop: float | None = Field(None, gt=0, lt=1)
