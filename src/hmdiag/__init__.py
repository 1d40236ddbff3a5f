"""hmdiag: make hierarchical Bayesian models fail loudly and get fixed quickly.

From Python (notebooks): ``hmdiag.fit``, ``hmdiag.check``, ``hmdiag.compare`` and
``hmdiag.doctor`` (see ``hmdiag.api``). They import PyMC and ArviZ on first use, so that
``import hmdiag`` and ``hmdiag --help`` stay fast.
"""

from __future__ import annotations

from typing import Any

from hmdiag._version import __version__

__all__ = ["__version__", "check", "compare", "doctor", "fit"]


def fit(spec: Any, **kwargs: Any) -> Any:
    """Sample a spec and diagnose the run: see ``hmdiag.api.fit``."""
    from hmdiag import api

    return api.fit(spec, **kwargs)


def check(run: Any, **kwargs: Any) -> Any:
    """Diagnose a run (a path or a DataTree, InferenceData, cmdstanpy or numpyro fit): see
    ``hmdiag.api.check``."""
    from hmdiag import api

    return api.check(run, **kwargs)


def compare(*runs: Any, **kwargs: Any) -> Any:
    """Put runs side by side: see ``hmdiag.api.compare``."""
    from hmdiag import api

    return api.compare(*runs, **kwargs)


def doctor(spec: Any, **kwargs: Any) -> Any:
    """Fit, diagnose and repair a spec: see ``hmdiag.api.doctor``."""
    from hmdiag import api

    return api.doctor(spec, **kwargs)
