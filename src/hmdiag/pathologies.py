"""The pathology catalog: name how a run fails, where, and what repairs it.

Pure functions over a ``Diagnosis`` (its measured ``Evidence``) and the run's checks. Every
threshold is a named constant here and is listed in the README's "Pathology catalog". A
pathology that describes the sampler's trouble (ridge, boundary, tree-depth saturation,
chains disagree) is reported only when a check it explains failed; one that describes the
posterior itself (a prior that sets the estimate) is reported on passing runs too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hmdiag.checks import TARGET_ACCEPT_LADDER, Advice, CheckResult, percentile
from hmdiag.diagnostics import Diagnosis
from hmdiag.evidence import Correlation, ScaleShape, Sensitivity

# A non-centered term whose widest effect sd is at most this share of its scale has its effects
# pinned by the data: centered mixes better (the ridge's carrier term, the doctor's recentering).
PINNED_RATIO = 0.5
# Two-sample KS coefficient at the 5% level: a hotspot must beat c * sqrt((n + m) / (n m)).
KS_C_ALPHA = 1.358
# ridge: |posterior correlation| at least this, with a failed r_hat / ESS / tree-depth check.
RIDGE_CORRELATION = 0.95
# boundary: the lowest of ten equal bins on [0, q95] of a scale's draws holds at least this
# share of the fullest bin, i.e. the posterior's mode is at 0 (a half-normal: 1.0; a lognormal
# with its mode inside the range: about 0.4).
BOUNDARY_ZERO_BIN = 0.8
# boundary: the scale (or its effects) must rank among this many divergence hotspots.
BOUNDARY_HOTSPOT_RANK = 3
# prior: power-scaling sensitivity threshold of priorsense (Kallioinen et al. 2024).
SENSITIVITY_THRESHOLD = 0.05
# prior-data conflict: the posterior mean sits this many prior sds from the prior's center.
CONFLICT_PRIOR_Z = 1.5
# chains disagree: a chain's mean this many pooled within-chain sds from the others' median.
CHAINS_APART_SD = 3.0
# stuck chain: its sd below this share of the median chain sd.
STUCK_SD_RATIO = 0.2
# tree-depth saturation: at least this share of transitions hit the maximum depth.
TREEDEPTH_SATURATION = 0.01

SAMPLING_CHECKS = ("r_hat", "ess_bulk", "ess_tail", "tree_depth")


TITLES = {
    "funnel": "funnel",
    "ridge": "ridge (non-identification)",
    "boundary": "scale at its boundary",
    "prior_dominated": "prior-dominated estimate",
    "prior_data_conflict": "prior-data conflict",
    "stuck_chain": "stuck chain",
    "multimodal": "several modes",
    "treedepth_saturation": "tree-depth saturation",
}


@dataclass(frozen=True)
class Pathology:
    """One named way the run fails, the numbers it was detected from, and its remedies."""

    kind: str
    where: str
    evidence: str
    meaning: str
    numbers: dict[str, Any] = field(default_factory=dict)
    remedies: list[Advice] = field(default_factory=list)
    # Checks this pathology accounts for (generic advice for them is then not given).
    explains: tuple[str, ...] = ()
    # False when no sampler setting can fix it (the model or the data must change).
    sampler_fixable: bool = True

    @property
    def title(self) -> str:
        """The catalog name for people (``prior-dominated estimate``)."""
        return TITLES.get(self.kind, self.kind.replace("_", " "))


def _smaller_steps(d: Diagnosis, reason: str) -> list[Advice]:
    """The top target_accept rung as a remedy, unless the run already sampled with it."""
    top = TARGET_ACCEPT_LADDER[-1]
    if d.target_accept is not None and d.target_accept >= top - 1e-9:
        return []
    return [
        Advice(
            action=f"Raise target_accept to {top:g} (sampler: target_accept: {top:g})",
            reason=reason,
            remedy="raise_target_accept",
        )
    ]


def _adapts_correlations(d: Diagnosis) -> bool:
    """Whether the run's metric already adapts to correlations (dense, or nutpie's low rank)."""
    return d.mass_matrix in ("dense", "low_rank")


def _dense(reason: str) -> Advice:
    return Advice(
        action="Use a dense mass matrix (sampler: mass_matrix: dense; nutpie adapts a low-rank "
        "one) so NUTS adapts to the correlation",
        reason=reason,
        remedy="dense_mass_matrix",
    )


def ks_critical(n_divergent: int, n_total: int) -> float:
    """The two-sample KS distance a divergence hotspot must reach to be more than chance (5%)."""
    n, m = n_divergent, n_total - n_divergent
    if n <= 0 or m <= 0:
        return 1.0
    return KS_C_ALPHA * math.sqrt((n + m) / (n * m))


def pinned_ratio(d: Diagnosis, term: Any) -> float | None:
    """The widest posterior sd of a term's effects over the mean of its scale.

    Well below 1, the data pin every level's effect more tightly than the effects spread:
    the likelihood dominates, and the centered form mixes better than the non-centered one.
    """
    sds = [p.sd for p in d.parameters if p.variable == term.effect and math.isfinite(p.sd)]
    scale = next((p.mean for p in d.parameters if p.name == term.scale), None)
    if not sds or not scale or scale <= 0:
        return None
    return max(sds) / scale


def _failed(checks: list[CheckResult]) -> set[str]:
    return {c.name for c in checks if c.status == "fail"}


def _term_of(d: Diagnosis, name: str) -> Any | None:
    """The group term a variable or a ``mean(effect)`` summary belongs to."""
    bare = name[5:-1] if name.startswith("mean(") else name
    return next((t for t in d.group_terms if bare in (t.effect, t.scale, t.offset)), None)


def _funnel(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    if "divergences" not in failed:
        return []
    hotspot = next((h for h in d.hotspots[:2] if h.funnel), None)
    if hotspot is None:
        return []
    term = next((t for t in d.group_terms if t.scale == hotspot.variable), None)
    where = (
        f"`{hotspot.variable}` (group {term.factor}, {term.parameterization})"
        if term
        else f"`{hotspot.variable}`"
    )
    remedies = []
    if term is None or term.parameterization == "centered":
        target = term.factor if term else hotspot.variable
        remedies.append(
            Advice(
                action=f"Reparameterize group `{term.effect}` ({term.factor}) as non_centered "
                "(groups: parameterization: non_centered)"
                if term
                else f"Non-center the effects that `{hotspot.variable}` scales: "
                f"theta = mu + z * {hotspot.variable}, z ~ Normal(0, 1)",
                reason="a funnel: the effects' spread collapses with the scale, and raising "
                "target_accept rarely cures it",
                remedy="non_center",
                target=target,
            )
        )
    else:
        remedies += _smaller_steps(
            d, "the term is already non-centered; what is left of the funnel needs smaller steps"
        )
    return [
        Pathology(
            kind="funnel",
            where=where,
            evidence=f"divergences concentrate at small `{hotspot.variable}`: KS distance "
            f"{hotspot.score:.2f}, median divergent draw at the {percentile(hotspot.quantile)}",
            meaning="the sampler cannot follow the neck of the funnel between the group scale "
            "and its effects",
            numbers={
                "parameter": hotspot.variable,
                "ks_distance": hotspot.score,
                "divergent_quantile": hotspot.quantile,
                "divergences": d.divergences_total,
            },
            remedies=remedies,
            explains=("divergences", "e_bfmi"),
        )
    ]


def _pair_text(c: Correlation) -> str:
    return f"`{c.first}` and `{c.second}` (r = {c.r:+.2f})"


def _can_sum_to_zero(term: Any) -> bool:
    """A partially pooled, uncorrelated intercept term with normal effects (spec rules)."""
    return (
        term.pooling == "partial"
        and not term.correlated
        and term.slope is None
        and term.effects != "zero_sum"
    )


def _on_ridge(d: Diagnosis, pairs: list[Correlation]) -> bool:
    """Whether the top divergence hotspot is one of the ridge's parameters (or its term's)."""
    names = set()
    for name in [n for c in pairs for n in (c.first, c.second)]:
        term = _term_of(d, name)
        names |= {term.effect, term.offset, term.scale} if term else {name}
    return bool(d.hotspots) and d.hotspots[0].variable in names


def _ridge(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    if not failed & set(SAMPLING_CHECKS):
        return []
    strong = [c for c in d.evidence.correlations if abs(c.r) >= RIDGE_CORRELATION]
    if not strong:
        return []
    c = strong[0]
    structure = d.evidence.structure
    means = [n for n in (c.first, c.second) if n.startswith("mean(")]
    remedies: list[Advice] = []
    if means:
        # A group mean trades off against the intercept or another term: pin it to zero.
        # Every term whose mean lies on a strong pair; a term that does not carry the intercept
        # first, then the one that does (non-centered, it trades sigma * mean(z) against it).
        names = [n for x in strong for n in (x.first, x.second) if n.startswith("mean(")]
        terms = []
        for t in (_term_of(d, n) for n in names):
            if t is not None and t not in terms and _can_sum_to_zero(t):
                terms.append(t)
        terms.sort(key=lambda t: t.effect == structure.absorbing_effect)
        term = terms[0] if terms else None
        ratio = pinned_ratio(d, term) if term is not None else None
        if (
            term is not None
            and term.effect == structure.absorbing_effect
            and term.parameterization == "non_centered"
            and ratio is not None
            and ratio <= PINNED_RATIO
        ):
            remedies.append(
                Advice(
                    action=f"Reparameterize group `{term.effect}` ({term.factor}) as centered",
                    reason=f"it carries the intercept, and the data pin its effects (sd at most "
                    f"{ratio:.2f} of `{term.scale}`): non-centered, the intercept trades off "
                    f"against {term.scale} * mean({term.offset})",
                    remedy="center",
                    target=term.factor,
                )
            )
        elif term is not None:
            remedies.append(
                Advice(
                    action=f"Make the `{term.effect}` effects sum to zero "
                    f"(groups: factor {term.factor}: effects: zero_sum)",
                    reason=f"only a sum of the intercept and the mean of `{term.effect}` is "
                    "identified; a sum-to-zero constraint (pm.ZeroSumNormal) removes the ridge",
                    remedy="zero_sum",
                    target=term.factor,
                )
            )
        meaning = "the data identify only a sum of these terms, so the sampler drifts along a ridge"
    else:
        columns = structure.coefficient_columns
        pair = {c.first, c.second}
        unscaled = [
            columns[n] for n in pair if n in columns and columns[n] not in structure.standardized
        ]
        if structure.intercept in pair and unscaled:
            remedies.append(
                Advice(
                    action=f"Standardize the predictor `{unscaled[0]}` "
                    f"(predictors: column {unscaled[0]}: standardize: true)",
                    reason=f"the intercept and `{c.first if c.first != structure.intercept else c.second}` "
                    "trade off because the predictor is far from 0; centering it decorrelates them",
                    remedy="standardize",
                    target=unscaled[0],
                )
            )
            meaning = "the intercept is the prediction at predictor 0, far from the data"
        else:
            coefficients = set(columns) | set(structure.interactions)
            collinear = pair <= coefficients
            meaning = (
                "the predictors are nearly collinear: the data pin down a combination of "
                "these coefficients, not each one"
                if collinear
                else "the data pin down a combination of these parameters, not each one"
            )
            if not _adapts_correlations(d):
                remedies.append(
                    _dense(f"posterior correlation {c.r:+.2f} between `{c.first}` and `{c.second}`")
                )
            if collinear:
                remedies.append(
                    Advice(
                        action=f"Or drop one of the two predictors, or replace them by their sum "
                        f"(the data cannot separate `{c.first}` from `{c.second}`)",
                        reason="a model change; the doctor reports it but does not make it",
                        remedy="drop_term",
                        target=c.second,
                    )
                )
    explains = [n for n in SAMPLING_CHECKS if n in failed]
    if "divergences" in failed and _on_ridge(d, strong):
        explains.append("divergences")
    return [
        Pathology(
            kind="ridge",
            where=" and ".join(f"`{n}`" for n in (c.first, c.second)),
            evidence="posterior correlation "
            + "; ".join(_pair_text(x) for x in strong[:3])
            + f" (|r| >= {RIDGE_CORRELATION:g})",
            meaning=meaning,
            numbers={"first": c.first, "second": c.second, "correlation": c.r},
            remedies=remedies,
            explains=tuple(explains),
        )
    ]


def _involved(d: Diagnosis, shape: ScaleShape, failed: set[str]) -> str | None:
    """Why a scale near 0 is behind the divergences: it ranks among the top hotspots with a KS
    distance beyond chance (None when it does not)."""
    if "divergences" not in failed or not d.divergences_total:
        return None
    needed = ks_critical(d.divergences_total, d.chains * d.draws)
    for rank, hotspot in enumerate(d.hotspots[:BOUNDARY_HOTSPOT_RANK], start=1):
        if hotspot.variable == shape.scale and hotspot.score >= needed:
            return (
                f"`{shape.scale}` is divergence hotspot #{rank} (KS {hotspot.score:.2f}, "
                f"beyond chance at {needed:.2f})"
            )
    return None


def _boundary(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    found = []
    for shape in d.evidence.scales:
        if shape.zero_bin_ratio < BOUNDARY_ZERO_BIN:
            continue
        why = _involved(d, shape, failed)
        if why is None:
            continue
        term = _term_of(d, shape.scale)
        remedies = []
        if term is not None and term.parameterization == "centered":
            remedies.append(
                Advice(
                    action=f"Reparameterize group `{term.effect}` ({term.factor}) as non_centered",
                    reason="near 0 the centered effects squeeze into a funnel",
                    remedy="non_center",
                    target=term.factor,
                )
            )
        factor = term.factor if term else shape.scale
        where = f"{factor}:{term.slope}" if term is not None and term.slope else factor
        tighter = Advice(
            action=f"Give `{shape.scale}` a tighter prior that puts less mass on large "
            "scales (groups: scale: prior: halfnormal(...))",
            reason=f"the data support little variation between {factor} levels "
            f"(median {shape.median:.3g}, 95th percentile {shape.q95:.3g})",
            remedy="tighten_scale_prior",
            target=where,
        )
        if term is not None and term.parameterization == "non_centered":
            # Already as well parameterized as it gets: smaller steps first, then the prior.
            remedies += _smaller_steps(
                d, "the term is already non-centered; the curvature left near 0 needs smaller steps"
            )
        remedies.append(tighter)
        remedies.append(
            Advice(
                action=f"Or drop the {factor} term: a model without it may describe these data "
                "as well (compare both with hmdiag compare)",
                reason="a model change; the doctor reports it but does not make it",
                remedy="drop_term",
                target=factor,
            )
        )
        found.append(
            Pathology(
                kind="boundary",
                where=f"`{shape.scale}` (group {factor})",
                evidence=f"`{shape.scale}` has its mode at 0: {100 * shape.near_zero:.0f}% of "
                f"draws lie below {shape.q95 / 10:.3g} (a tenth of its 95th percentile), "
                f"{shape.zero_bin_ratio:.2f} of the fullest bin; {why}",
                meaning=f"the data support little or no variation between {factor} levels: "
                "the scale piles up at its boundary, 0",
                numbers={
                    "parameter": shape.scale,
                    "near_zero": shape.near_zero,
                    "zero_bin_ratio": shape.zero_bin_ratio,
                    "q05": shape.q05,
                    "median": shape.median,
                    "q95": shape.q95,
                },
                remedies=remedies,
                explains=("divergences",),
            )
        )
    return found


def _prior(d: Diagnosis) -> list[Pathology]:
    found = []
    for s in d.evidence.sensitivity or []:
        if s.prior < SENSITIVITY_THRESHOLD:
            continue
        conflict = (
            s.likelihood >= SENSITIVITY_THRESHOLD
            and s.prior_z is not None
            and abs(s.prior_z) >= CONFLICT_PRIOR_Z
        )
        weak = s.likelihood < SENSITIVITY_THRESHOLD
        if not (conflict or weak):
            continue
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


def _chains(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    if "r_hat" not in failed:
        return []
    for spread in d.evidence.chain_spreads:
        means, sds = spread.means, spread.sds
        within = math.sqrt(sum(s * s for s in sds) / len(sds)) if sds else 0.0
        if within <= 0 or len(means) < 2:
            continue
        center = sorted(means)[len(means) // 2]
        apart = [(c, (m - center) / within) for c, m in enumerate(means)]
        outliers = [(c, z) for c, z in apart if abs(z) >= CHAINS_APART_SD]
        if not outliers:
            continue
        median_sd = sorted(sds)[len(sds) // 2]
        stuck = [c for c, _ in outliers if sds[c] < STUCK_SD_RATIO * median_sd]
        chains = ", ".join(f"chain {c} ({z:+.1f} sd)" for c, z in outliers)
        numbers = {
            "parameter": spread.parameter,
            "r_hat": spread.r_hat,
            "chain_means": means,
            "chain_sds": sds,
            "outlying_chains": [c for c, _ in outliers],
            "stuck_chains": stuck,
        }
        if stuck:
            return [
                Pathology(
                    kind="stuck_chain",
                    where=f"`{spread.parameter}`, chain {', '.join(map(str, stuck))}",
                    evidence=f"r_hat {spread.r_hat:.3f}; {chains} from the other chains; "
                    f"chain {stuck[0]} barely moves (sd {sds[stuck[0]]:.3g} against a median "
                    f"{median_sd:.3g})",
                    meaning="a chain stopped moving during warm-up (a bad starting point or a "
                    "step size adapted to a tiny region)",
                    numbers=numbers,
                    remedies=[
                        Advice(
                            action="Give warm-up more steps (sampler: tune: 2000) or change "
                            "the seed, and see whether the chain joins the others",
                            reason=f"chain {stuck[0]} of `{spread.parameter}` is stuck",
                            remedy="more_tune",
                        )
                    ],
                    explains=tuple(sorted(failed & {"r_hat", "ess_bulk", "ess_tail"})),
                )
            ]
        return [
            Pathology(
                kind="multimodal",
                where=f"`{spread.parameter}`",
                evidence=f"r_hat {spread.r_hat:.3f}; {chains} from the other chains, each "
                "moving normally within its own region",
                meaning="the chains explore different modes of the posterior; no sampler setting "
                "makes one run visit them in the right proportions",
                numbers=numbers,
                remedies=[
                    Advice(
                        action="Change the model so one mode remains: a prior that rules the "
                        "others out, a different likelihood, or a parameter that is identified",
                        reason="chain means "
                        + ", ".join(f"{m:.3g}" for m in means)
                        + f" for `{spread.parameter}`",
                        remedy="rethink_model",
                        target=spread.parameter,
                    )
                ],
                explains=tuple(sorted(failed & {"r_hat", "ess_bulk", "ess_tail", "divergences"})),
                sampler_fixable=False,
            )
        ]
    return []


def _treedepth(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    if "tree_depth" not in failed or not d.treedepth_hits_total:
        return []
    fraction = d.treedepth_hits_total / max(1, d.chains * d.draws)
    if fraction < TREEDEPTH_SATURATION:
        return []
    strongest = d.evidence.correlations[0] if d.evidence.correlations else None
    why = (
        f"; strongest posterior correlation {_pair_text(strongest)}"
        if strongest is not None
        else ""
    )
    depth = d.max_treedepth if d.max_treedepth is not None else "(the maximum)"
    metric = d.mass_matrix or "diag"
    remedies = []
    if not _adapts_correlations(d):
        remedies.append(_dense("it adapts the step to the correlation, so trajectories get short"))
    return [
        Pathology(
            kind="treedepth_saturation",
            where=f"`{strongest.first}` and `{strongest.second}`"
            if strongest
            else "the whole posterior",
            evidence=f"{100 * fraction:.0f}% of transitions hit max tree depth {depth}{why}",
            meaning="trajectories are cut off before they cross the posterior: with a "
            f"{metric} mass matrix a strongly correlated posterior takes very many small steps",
            numbers={
                "fraction": fraction,
                "hits": d.treedepth_hits_total,
                "max_treedepth": d.max_treedepth,
                "correlation": strongest.r if strongest else None,
            },
            remedies=remedies,
            explains=tuple(sorted(failed & {"tree_depth", "ess_bulk", "ess_tail"})),
        )
    ]


def detect_pathologies(d: Diagnosis, checks: list[CheckResult]) -> list[Pathology]:
    """Every catalog entry the evidence supports: sampling pathologies first (the funnel, chains,
    the ridge, tree depth, the boundary), then the prior-driven estimates."""
    failed = _failed(checks)
    found = (
        _funnel(d, failed)
        + _chains(d, failed)
        + _ridge(d, failed)
        + _treedepth(d, failed)
        + _boundary(d, failed)
        + _prior(d)
    )
    return found
