"""Prior predictive checks: what the priors say about the data before any sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmdiag.diagnose.checks import percentile
from hmdiag.model.data import PreparedData
from hmdiag.spec import ModelSpec

BINARY = ("bernoulli", "binomial")


@dataclass(frozen=True)
class PriorCheck:
    """The observed response against datasets simulated from the priors."""

    response: str
    draws: int
    observed_mean: float
    observed_min: float
    observed_max: float
    simulated_mean_q05: float
    simulated_mean_q50: float
    simulated_mean_q95: float
    simulated_min: float
    simulated_max: float
    share_impossible: float | None
    share_extreme: float
    extreme_rule: str
    observed_mean_quantile: float
    warnings: list[str]


def check_prior(spec: ModelSpec, data: PreparedData, simulated: np.ndarray) -> PriorCheck:
    """Compare prior predictive datasets (draws x rows) with the observed response."""
    y = data.response.astype(float)
    sims = np.asarray(simulated, dtype=float).reshape(simulated.shape[0], -1)
    if spec.likelihood in BINARY:
        trials = data.trials.astype(float) if data.trials is not None else np.ones_like(y)
        y, sims = y / trials, sims / trials  # compare proportions
    means = sims.mean(axis=1)
    lo, hi = float(y.min()), float(y.max())
    warnings: list[str] = []
    impossible: float | None = None
    if spec.likelihood in BINARY:
        share_extreme = float(np.mean((means < 0.01) | (means > 0.99)))
        rule = "simulated datasets whose mean proportion is below 0.01 or above 0.99"
    else:
        span = max(hi - lo, 1e-12)
        share_extreme = float(np.mean((sims < lo - span) | (sims > hi + span)))
        rule = "simulated values beyond the observed range by more than its width"
        if lo >= 0 and spec.likelihood in ("normal", "student_t"):
            impossible = float(np.mean(sims < 0))
            if impossible > 0.05:
                warnings.append(
                    f"{100 * impossible:.0f}% of simulated {spec.response} values are negative, but the observed ones never are"
                )
    position = float(np.mean(means <= y.mean()))
    if share_extreme > 0.25:
        warnings.append(
            f"{100 * share_extreme:.0f}% of the prior predictive is extreme ({rule}): the priors are too wide for this scale"
        )
    if position < 0.01 or position > 0.99:
        warnings.append(
            f"the observed mean sits at the {percentile(position)} of the simulated means: the priors barely allow it"
        )
    return PriorCheck(
        response=spec.response,
        draws=sims.shape[0],
        observed_mean=float(y.mean()),
        observed_min=lo,
        observed_max=hi,
        simulated_mean_q05=float(np.quantile(means, 0.05)),
        simulated_mean_q50=float(np.quantile(means, 0.5)),
        simulated_mean_q95=float(np.quantile(means, 0.95)),
        simulated_min=float(np.quantile(sims, 0.01)),
        simulated_max=float(np.quantile(sims, 0.99)),
        share_impossible=impossible,
        share_extreme=share_extreme,
        extreme_rule=rule,
        observed_mean_quantile=position,
        warnings=warnings,
    )


def simulate_prior(built: object, response: str, draws: int, seed: int) -> np.ndarray:
    """Prior predictive datasets of the response, shape (draws, rows)."""
    from hmdiag import _lazy

    pm = _lazy.pymc()
    prior = pm.sample_prior_predictive(draws=draws, model=built.model, random_seed=seed)  # type: ignore[attr-defined]
    values = np.asarray(prior.prior_predictive[response].values)
    return values.reshape(-1, values.shape[-1])
