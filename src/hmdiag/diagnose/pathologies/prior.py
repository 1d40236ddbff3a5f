"""Estimates set by the prior: prior-dominated, or in conflict with the data (separation)."""

from __future__ import annotations

from hmdiag.diagnose.checks import Advice
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.evidence import Sensitivity
from hmdiag.diagnose.pathologies._base import (
    CONFLICT_PRIOR_Z,
    CONFLICT_TAIL_Z,
    SENSITIVITY_THRESHOLD,
    Pathology,
)


def prior(d: Diagnosis) -> list[Pathology]:
    """Population parameters whose estimate the prior sets (power-scaling sensitivity), or
    whose estimate the data put in the prior's far tail however little the prior moves it."""
    found = []
    for s in d.evidence.sensitivity or []:
        informed = s.likelihood >= SENSITIVITY_THRESHOLD
        far = abs(s.prior_z) if s.prior_z is not None else 0.0
        if s.prior < SENSITIVITY_THRESHOLD:
            # The prior barely moves the estimate, but the data put it in the prior's tail.
            if informed and far >= CONFLICT_TAIL_Z:
                found.append(_prior_pathology(d, s, True))
            continue
        conflict = informed and far >= CONFLICT_PRIOR_Z
        if conflict or not informed:
            found.append(_prior_pathology(d, s, conflict))
    return found


def _prior_pathology(d: Diagnosis, s: Sensitivity, conflict: bool) -> Pathology:
    structure = d.evidence.structure
    prior = structure.priors.get(s.parameter)
    summary = next((p for p in d.parameters if p.name == s.parameter), None)
    estimate = f"{summary.mean:.3g} ± {summary.sd:.3g}" if summary else "its estimate"
    numbers = {
        "parameter": s.parameter,
        "prior_sensitivity": s.prior,
        "likelihood_sensitivity": s.likelihood,
        "prior_z": s.prior_z,
        "prior": str(prior) if prior is not None else None,
    }
    evidence = (
        f"power-scaling sensitivity: prior {s.prior:.3f}, likelihood {s.likelihood:.3f} "
        f"(threshold {SENSITIVITY_THRESHOLD:g})"
    )
    if conflict:
        evidence += (
            f"; the posterior mean sits {abs(s.prior_z or 0):.1f} prior sds from the prior's center"
        )
        if s.prior < SENSITIVITY_THRESHOLD:
            evidence += (
                f", where the prior puts almost none of its mass (beyond {CONFLICT_TAIL_Z:g} "
                "sds); the data outweigh it here, but the prior was set on the wrong scale"
            )
        separation = structure.likelihood in ("bernoulli", "binomial")
        meaning = (
            f"`{s.parameter}` = {estimate} is set by where the prior {prior} stops the likelihood, "
            "not by the data"
            + (
                ": the data push it without bound (complete or quasi-complete separation)"
                if separation
                else ""
            )
        )
        if s.prior < SENSITIVITY_THRESHOLD:
            meaning = (
                f"`{s.parameter}` = {estimate} lies where its prior {prior} says it almost "
                "cannot be: prior and data disagree, and with fewer data the prior would pull "
                "the estimate"
            )
        kind = "prior_data_conflict"
    else:
        meaning = (
            f"`{s.parameter}` = {estimate} mostly restates its prior {prior}: the data carry "
            "little information about it"
        )
        kind = "prior_dominated"
    column = structure.coefficient_columns.get(s.parameter)
    action = (
        f"Choose a weakly informative prior for `{s.parameter}` on a scale you can defend"
        + (
            f" (e.g. standardize `{column}` and use normal(0, 2.5), Gelman et al. 2008)"
            if column and structure.likelihood in ("bernoulli", "binomial")
            else ""
        )
        + ", and report the estimate as prior-driven"
    )
    return Pathology(
        kind=kind,
        where=f"`{s.parameter}`",
        evidence=evidence,
        meaning=meaning,
        numbers=numbers,
        remedies=[
            Advice(
                action=action,
                reason="no sampler setting changes what the data say; only the prior or more "
                "data can",
                remedy="weakly_informative_prior",
                target=s.parameter,
            )
        ],
        sampler_fixable=False,
    )
