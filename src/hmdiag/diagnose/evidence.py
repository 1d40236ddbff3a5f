"""Posterior evidence behind the pathology catalog: pure measurements over a run, no judgment.

Each function reads draws (and, where the run carries it, the spec it was fitted from) and
returns plain dataclasses: strong posterior correlations, the shape of each group scale near
zero, per-chain location and spread of the parameters chains disagree on, and power-scaling
prior/likelihood sensitivity (arviz-stats ``psense``, Kallioinen et al. 2024). ``hmdiag.diagnose.pathologies``
turns them into named pathologies with thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag._datatree import has_group
from hmdiag.runs import RunInfo, log_likelihood_total, stored_spec

# Correlations weaker than this are not kept as evidence (the ridge threshold is higher).
REPORTED_CORRELATION = 0.8
# At most this many correlated pairs are kept, the strongest first.
MAX_CORRELATIONS = 10
# At most this many parameters get per-chain evidence (the worst r_hat first).
CHAIN_SPREAD_PARAMETERS = 3


@dataclass(frozen=True)
class RunStructure:
    """What the spec says about a run's parameters (empty for runs made elsewhere)."""

    intercept: str | None = None
    # The group effects that are centered on the intercept (they contain it).
    absorbing_effect: str | None = None
    population: list[str] = field(default_factory=list)
    # Which predictor column each population coefficient belongs to.
    coefficient_columns: dict[str, str] = field(default_factory=dict)
    standardized: set[str] = field(default_factory=set)
    # Coefficients of interaction terms.
    interactions: set[str] = field(default_factory=set)
    priors: dict[str, Any] = field(default_factory=dict)
    likelihood: str | None = None


@dataclass(frozen=True)
class Correlation:
    """A posterior correlation between two scalar summaries (``mean(r_sample)``: a level mean)."""

    first: str
    second: str
    r: float


@dataclass(frozen=True)
class ScaleShape:
    """Where a group scale's posterior sits relative to 0."""

    scale: str
    factor: str
    q05: float
    median: float
    q95: float
    # Share of draws below a tenth of the 95th percentile (a half-normal puts 0.16 there).
    near_zero: float
    # That share over the fullest of the ten equal bins on [0, q95]: 1 when the mode is at 0
    # (a half-normal), about 0.4 for a lognormal whose mode sits in the second bin.
    zero_bin_ratio: float
    # The varying slope's column, for a correlated block's per-slope scale.
    slope: str | None = None


@dataclass(frozen=True)
class ChainSpread:
    """Per-chain mean and sd of one parameter the chains disagree on."""

    parameter: str
    r_hat: float
    means: list[float]
    sds: list[float]


@dataclass(frozen=True)
class Sensitivity:
    """Power-scaling sensitivity of one population parameter (values above 0.05 matter)."""

    parameter: str
    prior: float
    likelihood: float
    # How many prior sds the posterior mean sits from the prior's center (location-scale priors).
    prior_z: float | None


@dataclass(frozen=True)
class Evidence:
    """All measured evidence for the pathology catalog."""

    correlations: list[Correlation] = field(default_factory=list)
    scales: list[ScaleShape] = field(default_factory=list)
    chain_spreads: list[ChainSpread] = field(default_factory=list)
    sensitivity: list[Sensitivity] | None = None
    sensitivity_note: str | None = None
    structure: RunStructure = field(default_factory=RunStructure)


def run_structure(info: RunInfo) -> RunStructure:
    """Population terms, their priors and the intercept-absorbing group, from the stored spec."""
    from hmdiag.spec.fields import AUX_PARAMS

    spec = stored_spec(info)
    if spec is None or spec.model is not None:
        return RunStructure()
    priors: dict[str, Any] = {}
    columns: dict[str, str] = {}
    standardized: set[str] = set()
    intercept = spec.intercept.name if spec.intercept is not None else None
    if spec.intercept is not None:
        priors[spec.intercept.name] = spec.intercept.prior
    for predictor in spec.predictors:
        priors[predictor.param_name] = predictor.prior
        columns[predictor.param_name] = predictor.column
        if predictor.standardize:
            standardized.add(predictor.column)
    for interaction in spec.interactions:
        priors[interaction.param_name] = interaction.prior
    interactions = {i.param_name for i in spec.interactions}
    for aux, (likelihoods, _) in AUX_PARAMS.items():
        section = getattr(spec, aux)
        if spec.likelihood in likelihoods and (section is None or section.column is None):
            priors[spec.aux_name(aux)] = spec.aux_prior(aux)
    index = spec.absorbing_group()
    absorbing = spec.groups[index].effect_name if index is not None else None
    return RunStructure(
        intercept=intercept,
        absorbing_effect=absorbing,
        population=list(priors),
        coefficient_columns=columns,
        standardized=standardized,
        interactions=interactions,
        priors=priors,
        likelihood=spec.likelihood,
    )


def _pooled(posterior: Any, var: str) -> np.ndarray:
    return np.asarray(posterior[var].values, dtype=float).reshape(-1)


def strong_correlations(
    posterior: Any, structure: RunStructure, population: list[str], group_terms: list[Any]
) -> list[Correlation]:
    """Pairs of population parameters and group-effect (or offset) means correlated at least
    ``REPORTED_CORRELATION`` in absolute value, strongest first.

    The mean of the effects that absorb the intercept contains the intercept by construction,
    and a term's effects and offsets move together, so those pairs are left out.
    """
    series: dict[str, np.ndarray] = {}
    for var in population:
        if var in posterior.data_vars and posterior[var].ndim == 2:
            series[var] = _pooled(posterior, var)
    for term in group_terms:
        # The effects' mean, and for a non-centered term its offsets' mean: the intercept
        # trades off against sigma * mean(z) when the term carries it.
        if term.effects == "zero_sum":
            continue  # their mean is 0 by construction
        for name in (term.effect, term.offset):
            if name and name in posterior.data_vars and posterior[name].ndim == 3:
                # numpy's mean, not xarray's: xarray's NaN-skipping mean copies the draws.
                values = posterior[name].transpose("chain", "draw", ...).values
                series[f"mean({name})"] = values.reshape(-1, values.shape[-1]).mean(axis=-1)
    names = [n for n, v in series.items() if np.all(np.isfinite(v)) and np.ptp(v) > 0]
    if len(names) < 2:
        return []
    matrix = np.corrcoef(np.vstack([series[n] for n in names]))
    owner = {f"mean({n})": t.factor for t in group_terms for n in (t.effect, t.offset) if n}
    same = np.array([owner.get(n, "") for n in names])
    rows, cols = np.triu_indices(len(names), k=1)
    r = matrix[rows, cols]
    keep = np.isfinite(r) & (np.abs(r) >= REPORTED_CORRELATION)
    # A term's effects and offsets move together by construction.
    keep &= ~((same[rows] == same[cols]) & (same[rows] != ""))
    skip = {structure.intercept, f"mean({structure.absorbing_effect})"}
    found = [
        Correlation(names[i], names[j], float(matrix[i, j]))
        for i, j in zip(rows[keep], cols[keep], strict=True)
        if {names[i], names[j]} != skip
    ]
    return sorted(found, key=lambda c: -abs(c.r))[:MAX_CORRELATIONS]


def scale_shapes(
    posterior: Any, group_terms: list[Any], blocks: list[Any] | None = None
) -> list[ScaleShape]:
    """Quantiles of every group scale and how much of its mass sits next to 0.

    A correlated block's per-term scales (``sigma_g``, ``sigma_g_x``, ...) are judged one by
    one: a slope's scale at 0 is a boundary even when the intercept's scale is not."""
    wanted: list[tuple[str, str, str | None]] = [
        (t.scale, t.factor, t.slope) for t in group_terms if t.scale
    ]
    for block in blocks or []:
        first = block.scales[0] if block.scales else ""
        wanted += [
            (s, block.factor or block.packed or s, s[len(first) + 1 :] if i else None)
            for i, s in enumerate(block.scales)
            if s in posterior.data_vars and posterior[s].ndim == 2
        ]
    shapes, seen = [], set()
    for scale, factor, slope in wanted:
        if scale in seen or scale not in posterior.data_vars:
            continue
        seen.add(scale)
        draws = _pooled(posterior, scale)
        draws = draws[np.isfinite(draws)]
        if draws.size == 0:
            continue
        q05, median, q95 = (float(q) for q in np.quantile(draws, [0.05, 0.5, 0.95]))
        if q95 <= 0:
            continue  # a degenerate scale has no shape to judge
        shapes.append(
            ScaleShape(
                scale=scale,
                factor=factor,
                q05=q05,
                median=median,
                q95=q95,
                near_zero=float(np.mean(draws < 0.1 * q95)),
                zero_bin_ratio=_zero_bin_ratio(draws, q95),
                slope=slope,
            )
        )
    return shapes


def _zero_bin_ratio(draws: np.ndarray, q95: float) -> float:
    if q95 <= 0:
        return 1.0
    counts, _ = np.histogram(draws, bins=10, range=(0.0, q95))
    return float(counts[0] / counts.max()) if counts.max() else 0.0


def chain_spreads(posterior: Any, parameters: list[Any]) -> list[ChainSpread]:
    """Per-chain mean and sd of the parameters with the worst r_hat (whatever the threshold:
    the catalog judges them only when the run's own r_hat check failed)."""
    bad = sorted(
        (p for p in parameters if math.isfinite(p.r_hat) and p.r_hat > 1.0),
        key=lambda p: -p.r_hat,
    )[:CHAIN_SPREAD_PARAMETERS]
    spreads = []
    for p in bad:
        values = _element_draws(posterior, p.name, p.variable)
        if values is None:
            continue
        spreads.append(
            ChainSpread(
                parameter=p.name,
                r_hat=p.r_hat,
                means=[float(m) for m in values.mean(axis=1)],
                sds=[float(s) for s in values.std(axis=1, ddof=1)],
            )
        )
    return spreads


def _element_draws(posterior: Any, label: str, variable: str) -> np.ndarray | None:
    """(chain, draw) values of one labeled element (``a[2]``) of ``variable``."""
    from hmdiag.diagnose.summary import SAMPLE_DIMS, element_labels

    if variable not in posterior.data_vars:
        return None
    array = posterior[variable].transpose(
        *SAMPLE_DIMS, *(d for d in posterior[variable].dims if d not in SAMPLE_DIMS)
    )
    values = np.asarray(array.values, dtype=float)
    if values.ndim == 2:
        return values if label == variable else None
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    labels = element_labels(variable, array)
    if label not in labels:
        return None
    return flat[:, :, labels.index(label)]


def _location_scale(prior: Any) -> tuple[float, float] | None:
    """Center and scale of a location-scale prior (normal, student_t, cauchy), else None."""
    if prior is None:
        return None
    args = prior.args
    if prior.family in ("normal", "student_t"):
        return args["mu"], args["sigma"]
    if prior.family == "cauchy":
        return args["alpha"], args["beta"]
    return None


def _sensitivity_tree(idata: Any, names: list[str], total: Any) -> Any:
    """A small run for ``psense``: the parameters, the log prior and the per-draw total
    log-likelihood (``psense`` sums the pointwise values anyway; stacking 70k of them costs
    seconds and gigabytes)."""
    import xarray as xr

    return xr.DataTree.from_dict(
        {
            "posterior": idata["posterior"].to_dataset()[names],
            "log_prior": idata["log_prior"].to_dataset(),
            "log_likelihood": xr.Dataset({"log_likelihood": total}),
        }
    )


def power_scaling(
    idata: Any, structure: RunStructure, population: list[str]
) -> tuple[list[Sensitivity] | None, str | None]:
    """Prior and likelihood power-scaling sensitivity of each scalar population parameter.

    Needs the run's ``log_prior`` and ``log_likelihood`` groups; otherwise (None, why).
    """
    total = log_likelihood_total(idata)
    missing = [g for g in ("log_prior",) if not has_group(idata, g)]
    if total is None:
        missing.append("log_likelihood")
    if missing:
        return None, (
            f"prior sensitivity not available: the run stores no {' or '.join(missing)} group "
            "(runs from hmdiag fit 0.3 and later store both)"
        )
    posterior = idata.posterior
    names = [v for v in population if v in posterior.data_vars and posterior[v].ndim == 2]
    if not names:
        return [], None
    own = [v for v in names if v in idata["log_prior"].data_vars]
    if not own:
        return (
            None,
            "prior sensitivity not computed: the run's log_prior group has none of its population parameters",
        )
    data = _sensitivity_tree(idata, names, total)
    azs = _lazy.arviz_stats()
    try:
        likelihood = azs.psense(data, var_names=names, group="likelihood")
        # Each parameter's own prior is power-scaled: the group effects' priors are the
        # hierarchy that carries the data to the intercept and the scales (priorsense
        # recommends scaling base priors), and another parameter's prior is not this one's.
        prior = {
            name: float(
                azs.psense(data, var_names=[name], group="prior", group_var_names=[name])[
                    name
                ].values
            )
            for name in own
        }
    except Exception as exc:  # PSIS can fail on degenerate weights; report, do not crash
        return None, f"prior sensitivity not computed: {type(exc).__name__}: {exc}"
    out = []
    for name in own:
        center = _location_scale(structure.priors.get(name))
        z = None
        if center is not None:
            z = float((_pooled(posterior, name).mean() - center[0]) / center[1])
        out.append(
            Sensitivity(
                parameter=name,
                prior=prior[name],
                likelihood=float(likelihood[name].values),
                prior_z=z,
            )
        )
    return out, None


def measure_evidence(
    idata: Any,
    info: RunInfo,
    parameters: list[Any],
    group_terms: list[Any],
    blocks: list[Any] | None = None,
) -> Evidence:
    """Everything the pathology catalog judges, measured once per run."""
    posterior = idata.posterior
    structure = run_structure(info)
    scales = {t.scale for t in group_terms if t.scale}
    # Without a spec: the scalar free parameters (a Deterministic of one would correlate 1).
    candidates = [v for v in (info.free_variables or []) if v in posterior.data_vars] or [
        str(v) for v in posterior.data_vars
    ]
    population = structure.population or [
        v for v in candidates if posterior[v].ndim == 2 and not v.endswith("__") and v not in scales
    ]
    sensitivity, note = power_scaling(idata, structure, population)
    return Evidence(
        correlations=strong_correlations(posterior, structure, population, group_terms),
        scales=scale_shapes(posterior, group_terms, blocks),
        chain_spreads=chain_spreads(posterior, parameters),
        sensitivity=sensitivity,
        sensitivity_note=note,
        structure=structure,
    )
