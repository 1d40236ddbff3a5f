"""The pathology catalog: name how a run fails, where, and what repairs it.

Pure functions over a ``Diagnosis`` (its measured ``Evidence``) and the run's checks, one
module per family of entries (``geometry``, ``chains``, ``prior``). Every threshold is a named
constant in ``_base`` and is listed in the README's "Pathology catalog". A
pathology that describes the sampler's trouble (ridge, boundary, tree-depth saturation,
chains disagree) is reported only when a check it explains failed; one that describes the
posterior itself (a prior that sets the estimate) is reported on passing runs too.
"""

from __future__ import annotations

from hmdiag.diagnose.checks import CheckResult
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.pathologies._base import (
    PINNED_RATIO,
    TITLES,
    Pathology,
    failed_checks,
    ks_critical,
    pinned_ratio,
)
from hmdiag.diagnose.pathologies.chains import chains
from hmdiag.diagnose.pathologies.geometry import boundary, funnel, ridge, treedepth
from hmdiag.diagnose.pathologies.inverted import inverted_funnel
from hmdiag.diagnose.pathologies.misfit import influential_observations, misfit, overdispersion
from hmdiag.diagnose.pathologies.prior import prior

__all__ = [
    "PINNED_RATIO",
    "TITLES",
    "Pathology",
    "detect_pathologies",
    "ks_critical",
    "pinned_ratio",
]


def detect_pathologies(d: Diagnosis, checks: list[CheckResult]) -> list[Pathology]:
    """Every catalog entry the evidence supports: sampling pathologies (the funnel, chains,
    the ridge, tree depth, the boundary), the prior-driven estimates, and model misfit.

    Misfit goes first when a posterior predictive statistic is extreme: a likelihood that
    cannot produce the data is the first thing to fix, and its outliers are often what the
    sampler stumbles on. Influential rows alone (high Pareto k, every statistic reproduced)
    go after the sampling entries: few observations per group also raise k."""
    failed = failed_checks(checks)
    sampling = (
        funnel(d, failed)
        + chains(d, failed)
        + ridge(d, failed)
        + treedepth(d, failed)
        + boundary(d, failed)
    )
    sampling += _new_terms(inverted_funnel(d, failed), sampling) + prior(d)
    fit = overdispersion(d)
    fit += misfit(d, fit)
    rows = influential_observations(d)
    if fit:
        return fit + rows + sampling
    return sampling + rows


def _new_terms(found: list[Pathology], named: list[Pathology]) -> list[Pathology]:
    """The inverted funnels on terms that no entry already reparameterizes (a ridge that
    recenters the term, a funnel that keeps it non-centered)."""
    taken = {a.target for p in named for a in p.remedies if a.remedy in ("center", "non_center")}
    scales = {p.numbers.get("parameter") for p in named}
    return [
        p
        for p in found
        if p.remedies[0].target not in taken and p.numbers["parameter"] not in scales
    ]
