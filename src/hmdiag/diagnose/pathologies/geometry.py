"""Sampling geometry: funnel, ridge (non-identification), scale at its boundary, tree-depth saturation."""

from __future__ import annotations

import math
from typing import Any

from hmdiag.diagnose.checks import Advice, percentile
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.evidence import Correlation, ScaleShape
from hmdiag.diagnose.pathologies._base import (
    BOUNDARY_HOTSPOT_RANK,
    BOUNDARY_ZERO_BIN,
    CORR_BOUNDARY_R,
    CORR_BOUNDARY_SHARE,
    ISOLATED_ESS_RATIO,
    PINNED_RATIO,
    RIDGE_CORRELATION,
    SAMPLING_CHECKS,
    TREEDEPTH_SATURATION,
    Pathology,
    adapts_correlations,
    dense_advice,
    ks_critical,
    pair_text,
    pinned_ratio,
    smaller_steps,
    term_of,
)


def _block_of(d: Diagnosis, hotspot: Any) -> Any | None:
    """The correlated block whose per-term scale a hotspot is (None: not inside a block)."""
    return next((b for b in d.blocks if hotspot.parameter in b.scales), None)


def funnel(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """Divergences at small values of a group scale: the funnel between the scale and its
    effects; inside a correlated block, at small values of one of its per-term scales."""
    if "divergences" not in failed:
        return []
    # A block's packed factor holds its scales in another form: its elements do not compete.
    packed = {b.packed for b in d.blocks if b.packed}
    ranked = [h for h in d.hotspots if h.variable not in packed or _block_of(d, h)]
    hotspot = next((h for h in ranked[:2] if h.funnel), None)
    if hotspot is None:
        return []
    block = _block_of(d, hotspot)
    if block is not None:
        return [_block_funnel(d, hotspot, block)]
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
        remedies += smaller_steps(
            d, "the term is already non-centered; what is left of the funnel needs smaller steps"
        )
    return [_funnel_record(d, hotspot, hotspot.variable, where, remedies)]


def _funnel_record(
    d: Diagnosis, hotspot: Any, name: str, where: str, remedies: list[Advice], inside: str = ""
) -> Pathology:
    return Pathology(
        kind="funnel",
        where=where,
        evidence=f"divergences concentrate at small `{name}`{inside}: KS distance "
        f"{hotspot.score:.2f}, median divergent draw at the {percentile(hotspot.quantile)}",
        meaning="the sampler cannot follow the neck of the funnel between the group scale "
        "and its effects",
        numbers={
            "parameter": name,
            "ks_distance": hotspot.score,
            "divergent_quantile": hotspot.quantile,
            "divergences": d.divergences_total,
        },
        remedies=remedies,
        explains=("divergences", "e_bfmi"),
    )


def _block_funnel(d: Diagnosis, hotspot: Any, block: Any) -> Pathology:
    """A funnel inside a correlated (LKJ-Cholesky) block, at one of its per-term scales."""
    name = hotspot.parameter
    term = next((t for t in d.group_terms if t.correlated and t.factor == block.factor), None)
    packed = block.packed or "the Cholesky factor"
    derived = " (a row norm of the packed Cholesky factor)" if block.derived else ""
    inside = f", inside the correlated block `{packed}`{derived}"
    remedies: list[Advice] = []
    if term is None or term.parameterization == "centered":
        remedies.append(
            Advice(
                action=f"Reparameterize the correlated group `{term.effect}` ({term.factor}) as "
                "non_centered (groups: correlated: true, parameterization: non_centered): "
                "coefs = z · diag(σ) · Lᵀ with z ~ Normal(0, 1)"
                if term
                else f"Non-center the correlated effects of `{packed}`: coefs = mu + z · "
                "diag(σ) · Lᵀ (the Cholesky factor of the correlations), z ~ Normal(0, 1), "
                "instead of MvNormal(mu, chol)",
                reason="a funnel inside the correlated block: the effects' spread collapses "
                "with the scale, and raising target_accept rarely cures it",
                remedy="non_center",
                target=term.factor if term else packed,
            )
        )
    else:
        remedies += smaller_steps(
            d, "the term is already non-centered; what is left of the funnel needs smaller steps"
        )
    where = (
        f"`{name}` (correlated group {term.factor}, {term.parameterization})"
        if term
        else f"`{name}` (correlated block `{packed}`)"
    )
    return _funnel_record(d, hotspot, name, where, remedies, inside)


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
        term = term_of(d, name)
        names |= {term.effect, term.offset, term.scale} if term else {name}
    return bool(d.hotspots) and d.hotspots[0].variable in names


def ridge(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """A posterior correlation so strong that the data identify only a combination of terms."""
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
        for t in (term_of(d, n) for n in names):
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
            if not adapts_correlations(d):
                remedies.append(
                    dense_advice(
                        d, f"posterior correlation {c.r:+.2f} between `{c.first}` and `{c.second}`"
                    )
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
            + "; ".join(pair_text(x) for x in strong[:3])
            + f" (|r| >= {RIDGE_CORRELATION:g})",
            meaning=meaning,
            numbers={"first": c.first, "second": c.second, "correlation": c.r},
            remedies=remedies,
            explains=tuple(explains),
        )
    ]


def _involved(
    d: Diagnosis, shape: ScaleShape, failed: set[str]
) -> tuple[str, tuple[str, ...]] | None:
    """Why a scale near 0 is behind the failed checks (None when it is not): it ranks among
    the top divergence hotspots with a KS distance beyond chance, or it (or the row of the
    packed Cholesky factor it is the norm of) is the parameter that mixes worst. Returns the
    reason and the checks it explains."""
    if "divergences" in failed and d.divergences_total:
        needed = ks_critical(d.divergences_total, d.chains * d.draws)
        for rank, hotspot in enumerate(d.hotspots[:BOUNDARY_HOTSPOT_RANK], start=1):
            if hotspot.variable == shape.scale and hotspot.score >= needed:
                return (
                    f"`{shape.scale}` is divergence hotspot #{rank} (KS {hotspot.score:.2f}, "
                    f"beyond chance at {needed:.2f})",
                    ("divergences",),
                )
    mixing = failed & {"r_hat", "ess_bulk", "ess_tail"}
    if not mixing:
        return None
    ess = sorted(
        (min(p.ess_bulk, p.ess_tail), p.name, p.variable)
        for p in d.parameters
        if math.isfinite(min(p.ess_bulk, p.ess_tail))
    )
    if not ess:
        return None
    lowest, name, variable = ess[0]
    median = ess[len(ess) // 2][0]
    if lowest > ISOLATED_ESS_RATIO * median:
        return None  # every parameter mixes about as slowly: the chains are short, not the scale
    if variable == shape.scale or name in _packed_row(d, shape.scale):
        return (
            f"the worst-mixing parameter is `{name}` (ess {lowest:.0f}, against a median "
            f"{median:.0f} over all parameters)",
            tuple(sorted(mixing)),
        )
    return None


def _packed_row(d: Diagnosis, scale: str) -> set[str]:
    """The packed Cholesky elements of the row whose norm is ``scale`` (PyMC packs the lower
    triangle row by row), for a block that stores its scales by name."""
    for block in d.blocks:
        if block.packed and scale in block.scales:
            row = block.scales.index(scale)
            first = row * (row + 1) // 2
            return {f"{block.packed}[{k}]" for k in range(first, first + row + 1)}
    return set()


def boundary(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """A group scale whose posterior piles up at 0, behind the divergences."""
    found = []
    for shape in d.evidence.scales:
        if shape.zero_bin_ratio < BOUNDARY_ZERO_BIN:
            continue
        involved = _involved(d, shape, failed)
        if involved is None:
            continue
        why, explains = involved
        term = term_of(d, shape.scale) or next(
            (t for t in d.group_terms if t.correlated and t.factor == shape.factor), None
        )
        slope = shape.slope or (term.slope if term is not None else None)
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
        where = f"{factor}:{slope}" if slope else factor
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
            remedies += smaller_steps(
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
                explains=explains,
            )
        )
    return found + _correlation_boundary(d, failed)


def _correlation_boundary(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """Correlations of a correlated block piled against +-1, the LKJ prior's boundary."""
    if not failed & {"divergences", *SAMPLING_CHECKS}:
        return []
    found = []
    for edge in d.block_correlations:
        if edge.near_one < CORR_BOUNDARY_SHARE:
            continue
        term = next((t for t in d.group_terms if t.correlated and t.factor == edge.factor), None)
        remedies = []
        if term is not None and term.parameterization == "centered":
            remedies.append(
                Advice(
                    action=f"Reparameterize the correlated group `{term.effect}` ({term.factor}) "
                    "as non_centered (groups: parameterization: non_centered)",
                    reason="near |r| = 1 the centered effects squeeze onto a line",
                    remedy="non_center",
                    target=term.factor,
                )
            )
        factor = edge.factor or edge.block
        remedies.append(
            Advice(
                action=f"Give the {factor} correlations a prior that favours smaller ones "
                "(groups: correlation_prior: lkj(eta) with a larger eta, e.g. lkj(4)), or drop the "
                "correlation (correlated: false, `||` in a formula)",
                reason="a model change; the doctor reports it but does not make it",
                remedy="drop_term",
                target=factor,
            )
        )
        found.append(
            Pathology(
                kind="boundary",
                where=f"`{edge.parameter}` (correlated group {factor})",
                evidence=f"{100 * edge.near_one:.0f}% of the draws of `{edge.parameter}` lie "
                f"beyond |r| = {CORR_BOUNDARY_R:g} (median {edge.median:+.2f}); the LKJ prior "
                f"puts at most {100 * (1 - CORR_BOUNDARY_R):.0f}% there",
                meaning="the correlation piles up at its boundary, ±1: the data cannot separate "
                f"the {factor} intercepts from their slopes, or support no variation in one",
                numbers={
                    "parameter": edge.parameter,
                    "near_one": edge.near_one,
                    "median": edge.median,
                },
                remedies=remedies,
                explains=tuple(sorted(failed & {"divergences", *SAMPLING_CHECKS})),
            )
        )
    return found


def treedepth(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """Trajectories cut off at the maximum tree depth by a strongly correlated posterior."""
    if "tree_depth" not in failed or not d.treedepth_hits_total:
        return []
    fraction = d.treedepth_hits_total / max(1, d.chains * d.draws)
    if fraction < TREEDEPTH_SATURATION:
        return []
    strongest = d.evidence.correlations[0] if d.evidence.correlations else None
    why = (
        f"; strongest posterior correlation {pair_text(strongest)}" if strongest is not None else ""
    )
    depth = d.max_treedepth if d.max_treedepth is not None else "(the maximum)"
    metric = d.mass_matrix or "diag"
    remedies = []
    if not adapts_correlations(d):
        remedies.append(
            dense_advice(d, "it adapts the step to the correlation, so trajectories get short")
        )
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
