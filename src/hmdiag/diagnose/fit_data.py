"""The model-fit inputs a run made elsewhere stores itself: its pointwise log-likelihood,
posterior predictive draws and observed data."""

from __future__ import annotations

from typing import Any

import numpy as np

from hmdiag.diagnose.model_fit import FitData


def fit_data_from_run(idata: Any) -> FitData | str:
    """The model-fit inputs a run stores itself (``log_likelihood``, ``posterior_predictive``,
    ``observed_data``), for runs made elsewhere; else why they are missing."""
    import xarray as xr

    from hmdiag._datatree import group_dataset, has_group

    observed = group_dataset(idata, "observed_data")
    if observed is None or not observed.data_vars:
        return "the run stores no observed_data group"
    log_lik = group_dataset(idata, "log_likelihood")
    predictive = group_dataset(idata, "posterior_predictive")
    candidates = [
        v
        for v in observed.data_vars
        if (log_lik is not None and v in log_lik.data_vars)
        or (predictive is not None and v in predictive.data_vars)
    ]
    if not candidates:
        return "the run stores neither a pointwise log_likelihood nor a posterior_predictive group"
    if len(candidates) > 1:
        return f"the run has {len(candidates)} observed variables ({', '.join(candidates)})"
    name = candidates[0]
    y = np.asarray(observed[name].values)
    tree = None
    n_draws = 0
    if log_lik is not None and name in log_lik.data_vars and has_group(idata, "posterior"):
        ll = log_lik[name]
        extra = [d for d in ll.dims if d not in ("chain", "draw")]
        if len(extra) == 1 and ll.sizes[extra[0]] == y.size:
            tree = xr.DataTree.from_dict(
                {"log_likelihood": xr.Dataset({name: ll}), "posterior": idata["posterior"]}
            )
            n_draws = int(ll.sizes["chain"] * ll.sizes["draw"])
    replicated = None
    if predictive is not None and name in predictive.data_vars:
        pp = predictive[name]
        if pp.size == int(pp.sizes["chain"] * pp.sizes["draw"]) * y.size:
            replicated = pp.transpose("chain", "draw", ...).values.reshape(-1, y.size)
            n_draws = n_draws or replicated.shape[0]
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    likelihood = None
    if integral and y.size and y.min() >= 0:
        likelihood = "bernoulli" if y.max() <= 1 else "counts"
    return FitData(
        variable=name,
        observed=y.reshape(-1),
        log_lik=tree,
        replicated=replicated,
        likelihood=likelihood,
        draws_note=f"the run's {n_draws:,} stored draws",
    )
