"""Model criticism for runs hmdiag fits or checks: the pointwise log-likelihood and replicated
data computed from the built model, in memory, and measured by ``diagnose.model_fit``.

A fit measures it once, on a thinned set of draws (``model_fit.draws_for_fit``), and stores
the summary with the run (``RunInfo.model_fit``); ``check`` reads that summary back, or the
run's own groups for a run made elsewhere, or recomputes it from the spec and data the run
carries (``workflows.fit.model_fit_for_run``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag.diagnose.model_fit import (
    FitData,
    ModelFit,
    RowLabels,
    draws_for_fit,
    measure_model_fit,
    thin_posterior,
    unavailable,
)
from hmdiag.model import BuiltModel, build_model
from hmdiag.model.data import PreparedData
from hmdiag.spec import ModelSpec


def _rows(data: PreparedData) -> RowLabels | None:
    if data.row_lines is None:
        return None
    groups = {
        factor: np.asarray(g.levels, dtype=object)[g.codes] for factor, g in data.groups.items()
    }
    return RowLabels(lines=data.row_lines, groups=groups)


def measure_from_model(
    posterior: Any, built: BuiltModel, spec: ModelSpec, data: PreparedData, seed: int | None
) -> ModelFit:
    """Pareto k and posterior predictive checks from a spec model's posterior draws.

    The draws are thinned (every k-th of each chain) to what ``draws_for_fit`` allows; the
    replicated data are drawn with ``seed``, so the same run gives the same checks.
    """
    import xarray as xr

    from hmdiag.sampling.log_density import add_log_likelihood

    pm = _lazy.pymc()
    if spec.model is not None:
        return unavailable("a Python model: its run stores the pointwise log-likelihood itself")
    n_obs = int(data.n_rows)
    total = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    if total < 10:
        return unavailable(f"only {total} draws")
    thinned, note = thin_posterior(posterior, draws_for_fit(total, n_obs))
    tree = xr.DataTree.from_dict({"posterior": thinned})
    add_log_likelihood(tree, built, pm)
    # A fresh model: posterior predictive sampling leaves a model unfit for later NUTS runs,
    # and the built one is cached for reuse.
    fresh = build_model(spec, data).model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictive = pm.sample_posterior_predictive(
            tree,
            model=fresh,
            var_names=[built.observed],
            random_seed=seed,
            progressbar=False,
            return_inferencedata=True,
        )
    replicated = predictive["posterior_predictive"][built.observed]
    replicated = replicated.transpose("chain", "draw", ...).values.reshape(-1, n_obs)
    fit_data = FitData(
        variable=built.observed,
        observed=np.asarray(data.response),
        log_lik=tree,
        replicated=replicated,
        likelihood=spec.likelihood,
        trials=data.trials,
        rows=_rows(data),
        draws_note=note,
    )
    return measure_model_fit(fit_data)
