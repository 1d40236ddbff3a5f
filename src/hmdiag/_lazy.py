"""Quiet, lazy imports of the heavy scientific stack (kept out of ``hmdiag --help``)."""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType


def arviz() -> ModuleType:
    """Import ArviZ without the FutureWarning that 0.23 prints on import."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def pymc() -> ModuleType:
    """Import PyMC with its INFO chatter ("Auto-assigning NUTS sampler...") silenced."""
    arviz()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import pymc as pm
    for name in ("pymc", "pymc.sampling", "pymc.sampling.mcmc", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return pm
