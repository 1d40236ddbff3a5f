"""The inverted funnel: a non-centered group term whose effects the data already pin down.

Non-centering helps when the data say little about each level; when they say a lot, the
centered form is the efficient one, and the non-centered one mixes badly between the scale,
the standardized offsets and the intercept (Papaspiliopoulos, Roberts & Sköld 2007;
Betancourt & Girolami 2015, section 5). Its divergences, if any, sit in the offsets, the
intercept or at large values of the scale, not at small ones (that is the funnel's).
"""

from __future__ import annotations

import math
from typing import Any

from hmdiag.diagnose.checks import Advice, percentile
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.pathologies._base import (
    PINNED_RATIO,
    SAMPLING_CHECKS,
    Pathology,
    ks_critical,
    pinned_ratio,
)
from hmdiag.diagnose.summary import FUNNEL_QUANTILE

MIXING_CHECKS = ("divergences", *SAMPLING_CHECKS)


def _members(d: Diagnosis, term: Any) -> set[str]:
    """The variables a non-centered term's poor mixing shows in: its scale, offsets and
    effects, and the population terms it trades off against (the intercept, its slope's
    coefficient)."""
    structure = d.evidence.structure
    names = {term.effect, term.offset, term.scale, structure.intercept}
    if term.slope:
        names |= {n for n, column in structure.coefficient_columns.items() if column == term.slope}
    return {n for n in names if n}


def _worst_mixing(d: Diagnosis) -> Any | None:
    """The parameter with the lowest bulk ESS (the one the r_hat / ESS checks are about)."""
    finite = [p for p in d.parameters if math.isfinite(p.ess_bulk)]
    return min(finite, key=lambda p: p.ess_bulk) if finite else None


def _where_it_shows(d: Diagnosis, term: Any, failed: set[str]) -> str | None:
    """Why this term is behind the failed checks: the worst-mixing parameter is one of its
    own, or the divergences concentrate in one of them beyond chance, other than at small
    values of the scale (None: neither)."""
    members = _members(d, term)
    if failed & set(SAMPLING_CHECKS):
        worst = _worst_mixing(d)
        if worst is not None and worst.variable in members:
            return f"the worst-mixing parameter is `{worst.name}` (ess_bulk {worst.ess_bulk:.0f})"
    if "divergences" in failed and d.divergences_total:
        needed = ks_critical(d.divergences_total, d.chains * d.draws)
        for hotspot in d.hotspots[:3]:
            if hotspot.score < needed or hotspot.variable not in members:
                continue
            if hotspot.variable == term.scale and hotspot.quantile < FUNNEL_QUANTILE:
                continue  # at small values of the scale: the ordinary funnel's signature
            return (
                f"divergences concentrate in `{hotspot.parameter}` (median divergent draw at "
                f"the {percentile(hotspot.quantile)}, KS {hotspot.score:.2f} beyond chance at "
                f"{needed:.2f})"
            )
    return None


def inverted_funnel(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """A non-centered, partially pooled term whose effects the data pin (their widest posterior
    sd at most ``PINNED_RATIO`` of the scale), behind a failed divergence, r_hat or ESS check."""
    if not failed & set(MIXING_CHECKS):
        return []
    found = []
    for term in d.group_terms:
        if term.parameterization != "non_centered" or term.pooling != "partial":
            continue
        ratio = pinned_ratio(d, term)
        if ratio is None or ratio > PINNED_RATIO:
            continue
        why = _where_it_shows(d, term, failed)
        if why is None:
            continue
        label = f"{term.factor}:{term.slope}" if term.slope else term.factor
        found.append(
            Pathology(
                kind="funnel",
                where=f"`{term.scale}` (group {label}, non_centered: an inverted funnel)",
                evidence=f"the data pin every {term.factor} effect: the widest posterior sd of "
                f"`{term.effect}` is {ratio:.2f} of `{term.scale}` (at most {PINNED_RATIO:g}); "
                f"{why}",
                meaning="an inverted funnel: with informative data the non-centered offsets, "
                "their scale and the intercept trade off against each other, so the sampler "
                "mixes slowly (the centered form is efficient here)",
                numbers={
                    "parameter": term.scale,
                    "pinned_ratio": ratio,
                    "inverted": True,
                    "divergences": d.divergences_total,
                },
                remedies=[
                    Advice(
                        action=f"Reparameterize group `{term.effect}` ({term.factor}) as centered "
                        "(groups: parameterization: centered)",
                        reason="the data identify each level's effect, and then the centered "
                        "form mixes better than the non-centered one",
                        remedy="center",
                        target=term.factor,
                    )
                ],
                explains=tuple(sorted(failed & set(MIXING_CHECKS))),
            )
        )
    return found
