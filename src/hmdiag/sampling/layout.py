"""One layout for every backend's run: PyMC's sample-stat names, the observed data group, and
no empty groups."""

from __future__ import annotations

from typing import Any

import numpy as np

from hmdiag._datatree import group_dataset, has_group, set_group
from hmdiag.model import BuiltModel

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


def drop_empty_groups(idata: Any) -> None:
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


def normalize_stat_names(idata: Any) -> None:
    """Rename the run's sampler-specific sample stats to PyMC's names, in place."""
    stats = group_dataset(idata, "sample_stats")
    if stats is None:
        return
    renamed = canonical_stat_names(stats)
    if renamed is not stats:
        set_group(idata, "sample_stats", renamed)


def add_observed_data(idata: Any, built: BuiltModel) -> None:
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
