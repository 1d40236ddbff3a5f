"""Quiet, lazy imports of the heavy scientific stack (kept out of ``hmdiag --help``)."""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType


def arviz_stats() -> ModuleType:
    """ArviZ's diagnostics and model comparison (rhat, ess, summary, bfmi, loo, compare)."""
    import arviz_stats

    return arviz_stats


def arviz_plots() -> ModuleType:
    """ArviZ's plots, drawn with matplotlib's headless Agg backend."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import arviz_plots

    return arviz_plots


def pymc() -> ModuleType:
    """Import PyMC with its INFO chatter ("Auto-assigning NUTS sampler...") silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import pymc as pm
    for name in ("pymc", "pymc.sampling", "pymc.sampling.mcmc", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return pm
