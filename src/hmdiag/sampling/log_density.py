"""Log-likelihood and log-prior values per draw, added to a run after sampling (for LOO and
the prior-sensitivity checks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hmdiag._datatree import group_dataset, has_group, set_group
from hmdiag.model import BuiltModel


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
