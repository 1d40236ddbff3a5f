"""Model misfit: rows the model cannot fit, counts more variable than the likelihood allows,
and other statistics of the data the model does not reproduce (``diagnose.model_fit``).

None of these is the sampler's fault, so no sampler setting is proposed: the remedy is a
likelihood that can produce such data, or a look at the rows.
"""

from __future__ import annotations

from typing import Any

from hmdiag.diagnose.checks import Advice
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.grouped_fit import GroupedCheck
from hmdiag.diagnose.model_fit import (
    COUNT_LIKELIHOODS,
    ModelFit,
    PredictiveCheck,
    row_tail_level,
)
from hmdiag.diagnose.pathologies._base import Pathology

# The likelihood that can produce what the current one cannot: heavier tails, more variance.
ROBUST_LIKELIHOOD = {"normal": "student_t", "poisson": "negative_binomial"}

STATISTIC_WORDS = {
    "mean": "mean",
    "sd": "standard deviation",
    "min": "minimum",
    "max": "maximum",
    "share_zeros": "share of zeros",
    "dispersion": "dispersion index var/mean",
}


def _switch(fit: ModelFit, reason: str) -> list[Advice]:
    target = ROBUST_LIKELIHOOD.get(fit.likelihood or "")
    if target is None:
        return []
    return [
        Advice(
            action=f"Switch the likelihood from {fit.likelihood} to {target} "
            f"(likelihood: {target})",
            reason=reason,
            remedy="likelihood",
            target=target,
        )
    ]


def _rows_text(fit: ModelFit, limit: int = 5) -> str:
    shown = []
    for row in fit.influential[:limit]:
        groups = ", ".join(f"{k} {v}" for k, v in row.groups.items())
        where = f" ({groups})" if groups else ""
        shown.append(f"{row.label}{where}: {fit.variable} = {row.value:g}, k = {row.pareto_k:.3g}")
    more = fit.n_influential - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def influential_observations(d: Diagnosis) -> list[Pathology]:
    """Observations with Pareto k above the PSIS limit: the posterior leans on each of them so
    much that leaving one out changes it sharply (typically outliers the likelihood cannot
    produce)."""
    fit = d.model_fit
    if fit is None or not fit.n_influential:
        return []
    rows = ", ".join(r.label for r in fit.influential[:3])
    remedies = _switch(
        fit,
        f"{fit.n_influential} observation(s) sit where a {fit.likelihood} likelihood puts "
        "almost no probability; a heavier-tailed or more dispersed likelihood can fit them",
    )
    remedies.append(
        Advice(
            action=f"Check the data rows {rows}"
            + (f" (and {fit.n_influential - 3} more)" if fit.n_influential > 3 else "")
            + ": are they recording errors, or a real subpopulation?",
            reason="rows with Pareto k above the limit decide the fit on their own",
            remedy="inspect",
            target="rows",
        )
    )
    return [
        Pathology(
            kind="influential_observations",
            where=f"{fit.n_influential} of {fit.n_obs:,} observations",
            evidence=f"PSIS-LOO Pareto k > {fit.k_limit:.3g} (max {fit.max_k:.3g}), each row "
            f"in a tail of its own posterior predictive beyond {row_tail_level(fit.n_obs):.2g} "
            f"(1% over {fit.n_obs:,} rows, Bonferroni), at {_rows_text(fit)}",
            meaning="the model cannot fit these rows together with the rest: each one pulls "
            "the posterior on its own, and PSIS-LOO is unreliable for it",
            numbers={
                "n_influential": fit.n_influential,
                "max_pareto_k": fit.max_k,
                "k_limit": fit.k_limit,
                "rows": [r.label for r in fit.influential],
            },
            remedies=remedies,
            explains=("model_fit",),
            sampler_fixable=False,
        )
    ]


def _p_text(c: PredictiveCheck) -> str:
    return (
        f"observed {STATISTIC_WORDS.get(c.statistic, c.statistic)} {c.observed:.4g} against "
        f"{c.replicated_low:.4g} to {c.replicated_high:.4g} in the replicated data "
        f"(posterior predictive p = {c.p_value:.3f})"
    )


def _slope_candidates(d: Diagnosis, factor: str) -> set[str]:
    """The model's population predictors that are not yet varying slopes by ``factor`` (none
    for a correlated block, whose scales are widened by hand)."""
    terms = [t for t in d.group_terms if t.factor == factor]
    if not terms or any(t.correlated for t in terms):
        return set()
    columns = set(d.evidence.structure.coefficient_columns.values())
    return columns - {t.slope for t in terms if t.slope}


def _first_per_factor(checks: list[GroupedCheck]) -> dict[str, GroupedCheck]:
    first: dict[str, GroupedCheck] = {}
    for c in checks:
        first.setdefault(c.factor, c)
    return first


def _grouped_text(c: GroupedCheck) -> str:
    levels = ", ".join(
        f"{c.factor} {w.level} ({w.observed:.4g} against {w.replicated_low:.4g} to "
        f"{w.replicated_high:.4g})"
        for w in c.worst[:3]
    )
    return (
        f"{STATISTIC_WORDS.get(c.statistic, c.statistic)} per {c.factor}: {c.n_extreme} of "
        f"{c.levels} levels in a 1% tail of their replicated data, {c.expected:.2g} expected "
        f"by chance (binomial p = {c.p_value:.2g}); {levels}"
    )


def overdispersion(d: Diagnosis) -> list[Pathology]:
    """Counts whose var/mean lies beyond what the fitted likelihood replicates."""
    fit = d.model_fit
    if fit is None or fit.likelihood not in (*COUNT_LIKELIHOODS, "binomial"):
        return []
    check = next((c for c in fit.extreme() if c.statistic == "dispersion"), None)
    if check is None or check.p_value > check.low:
        return []  # under-dispersion is reported as misfit
    remedies = _switch(
        fit, "a negative binomial has a variance above its mean, with a dispersion to estimate"
    )
    remedies.append(
        Advice(
            action="Or add an observation-level effect: a group term with one level per row",
            reason="extra variation per row that the covariates and groups do not explain",
            remedy="observation_effect",
            target=fit.variable,
        )
    )
    return [
        Pathology(
            kind="overdispersion",
            where=f"`{fit.variable}` ({fit.likelihood})",
            evidence=_p_text(check),
            meaning="the counts vary more than the likelihood allows: intervals are too "
            "narrow and the estimates too certain",
            numbers={
                "statistic": "dispersion",
                "observed": check.observed,
                "replicated_mean": check.replicated_mean,
                "p_value": check.p_value,
            },
            remedies=remedies,
            explains=("model_fit",),
            sampler_fixable=False,
        )
    ]


def misfit(d: Diagnosis, named: list[Pathology]) -> list[Pathology]:
    """Other statistics the model does not reproduce (not the over-dispersion named already)."""
    fit = d.model_fit
    if fit is None:
        return []
    overdispersed = any(p.kind == "overdispersion" for p in named)
    extreme = [
        c for c in fit.extreme() if not (overdispersed and c.statistic in ("dispersion", "sd"))
    ]
    grouped = [
        c
        for c in fit.extreme_grouped()
        if not (overdispersed and c.statistic in ("dispersion", "sd"))
    ]
    if not extreme and not grouped:
        return []
    words = ", ".join(
        [STATISTIC_WORDS.get(c.statistic, c.statistic) for c in extreme]
        + [f"{STATISTIC_WORDS.get(c.statistic, c.statistic)} by {c.factor}" for c in grouped]
    )
    tails = {c.statistic for c in [*extreme, *grouped]} & {"min", "max", "sd"}
    reason = f"the data's {words} lie outside what a {fit.likelihood} likelihood replicates" + (
        "; heavier tails can produce them" if tails else ""
    )
    remedies = [
        Advice(
            action=f"Let a predictor that varies within each {factor} level have a varying "
            f"slope by {factor} (groups: slopes: - column: ...)",
            reason=f"the {STATISTIC_WORDS.get(c.statistic, c.statistic)} of some {factor} "
            "levels lies outside what the model replicates for them: structure inside the "
            "levels that one population slope does not describe",
            remedy="varying_slope",
            target=factor,
        )
        for factor, c in _first_per_factor(grouped).items()
        if _slope_candidates(d, factor)
    ]
    if tails or fit.likelihood in COUNT_LIKELIHOODS:
        # Rows no fit can reproduce also make their levels' sd and max extreme: fix them first.
        switch = _switch(fit, reason)
        remedies = switch + remedies if fit.n_influential else remedies + switch
    remedies.append(
        Advice(
            action=f"Plot the posterior predictive (hmdiag fit --ppc, then hmdiag plot RUN "
            f"--kind ppc) and look at the {words}",
            reason="the statistic the model misses says which part of the data it cannot "
            "produce (tails, zeros, skew)",
            remedy="inspect",
            target="ppc",
        )
    )
    numbers: dict[str, Any] = {
        "statistics": [c.statistic for c in extreme],
        "p_values": [c.p_value for c in extreme],
    }
    if extreme:
        numbers["observed"] = extreme[0].observed
    if grouped:
        numbers["grouped"] = [
            {"factor": c.factor, "statistic": c.statistic, "levels": c.levels}
            | {"extreme": c.n_extreme, "p_value": c.p_value}
            for c in grouped
        ]
    return [
        Pathology(
            kind="misfit",
            where=f"`{fit.variable}`: {words}",
            evidence="; ".join([*map(_p_text, extreme), *map(_grouped_text, grouped)]),
            meaning="the model does not reproduce this feature of the data"
            + (" in some of its groups" if grouped and not extreme else ""),
            numbers=numbers,
            remedies=remedies,
            explains=("model_fit",),
            sampler_fixable=False,
        )
    ]
