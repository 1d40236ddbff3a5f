"""Pure diagnostics over a run (a DataTree): numbers in, plain dataclasses out (no printing).

Everything numeric comes from arviz-stats (``summary``, ``bfmi``) or from the run's own
sample stats; this module normalizes sampler-specific names and adds divergence
localization, which no existing tool reports.

Two ArviZ 1.x defaults differ from ArviZ 0.x, Stan and Vehtari et al. (2021), and hmdiag keeps
the published definitions (the README says so):
- the summary interval is an equal-tailed interval by default; hmdiag asks for the highest
  density interval (``ci_kind="hdi"``) so ``hdi_prob`` and the ``hdi_*`` fields mean what they say;
- tail ESS is taken at the quantiles ``(1 - ci_prob, ci_prob)`` (0.11 and 0.89 by default);
  hmdiag sets ``stats.ci_prob`` to 0.95 while summarizing, so it is the minimum ESS of the 5% and
  95% quantiles, as defined in the paper.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag._datatree import has_group
from hmdiag.runs import RunInfo, stored_spec
from hmdiag.sampling.layout import STAT_ALIASES

FUNNEL_QUANTILE = 0.3
# Tail ESS at the 5% and 95% quantiles (Vehtari et al. 2021): arviz-stats reads them from this.
TAIL_ESS_CI_PROB = 0.95
# From this many scalar parameters on, the summary comes from hmdiag.diagnose.kernels (vectorized,
# tested against arviz-stats to 1e-8) instead of arviz-stats' per-element loops.
KERNEL_MIN_PARAMETERS = 200
SAMPLE_DIMS = ("chain", "draw")
MIN_DIVERGENCES_FOR_LOCALIZATION = 5


@dataclass(frozen=True)
class ParameterSummary:
    """One scalar parameter element as ArviZ labels it (``a[1]``), unrounded."""

    name: str
    variable: str
    mean: float
    sd: float
    hdi_low: float
    hdi_high: float
    mcse_mean: float
    mcse_sd: float
    ess_bulk: float
    ess_tail: float
    r_hat: float


@dataclass(frozen=True)
class Hotspot:
    """How strongly one parameter separates divergent from non-divergent draws.

    ``score`` is the two-sample Kolmogorov-Smirnov distance between divergent and other draws;
    ``quantile`` is where the divergent draws' median sits within the non-divergent draws (near
    0: lower tail). ``transform`` is the parameter's transform in the model (``log`` for a
    scale), ``unknown`` where the run does not say.
    """

    parameter: str
    variable: str
    score: float
    quantile: float
    transform: str
    is_scale: bool
    funnel: bool


def visible_variables(
    idata: Any, var_names: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """Posterior variables to report, and the sampler's transformed ones hidden (``*__``)."""
    names = [str(v) for v in idata.posterior.data_vars]
    hidden = [v for v in names if v.endswith("__")]
    shown = [v for v in names if v not in hidden]
    if var_names:
        shown = [v for v in shown if v in var_names]
    return shown, hidden


def summarize_parameters(
    idata: Any, var_names: list[str], hdi_prob: float, *, engine: str = "auto"
) -> list[ParameterSummary]:
    """Mean, sd, HDI, MCSE, ESS and R-hat of every scalar element, unrounded.

    ``engine``: "arviz" (arviz-stats' ``summary``), "kernel" (``hmdiag.diagnose.kernels``, the same
    numbers computed for all elements at once) or "auto" (the kernel from
    ``KERNEL_MIN_PARAMETERS`` elements on, where arviz-stats' per-element loops take seconds).
    """
    if not var_names:
        return []
    if engine not in ("auto", "arviz", "kernel"):
        raise ValueError(f"engine must be auto, arviz or kernel, not {engine!r}")
    posterior = idata["posterior"]
    if engine == "auto":
        engine = "kernel" if uses_kernels(posterior, var_names) else "arviz"
    if engine == "kernel":
        return summarize_with_kernels(posterior, var_names, hdi_prob)[0]
    return _summarize_with_arviz(idata, var_names, hdi_prob)


def uses_kernels(posterior: Any, var_names: list[str]) -> bool:
    """``engine="auto"``: the kernel from ``KERNEL_MIN_PARAMETERS`` elements on."""
    elements = sum(
        int(np.prod([posterior[v].sizes[d] for d in posterior[v].dims if d not in SAMPLE_DIMS]))
        for v in var_names
    )
    return elements >= KERNEL_MIN_PARAMETERS


def _summarize_with_arviz(
    idata: Any, var_names: list[str], hdi_prob: float
) -> list[ParameterSummary]:
    from arviz_base import rc_context

    with rc_context({"stats.ci_prob": TAIL_ESS_CI_PROB}):
        table = _lazy.arviz_stats().summary(
            idata, var_names=var_names, ci_prob=hdi_prob, ci_kind="hdi", round_to="none", kind="all"
        )
    low, high = _interval_columns(table.columns, hdi_prob)
    out: list[ParameterSummary] = []
    for label, row in table.iterrows():
        label = str(label)
        out.append(
            ParameterSummary(
                name=label,
                variable=label.split("[", 1)[0],
                mean=float(row["mean"]),
                sd=float(row["sd"]),
                hdi_low=float(row[low]),
                hdi_high=float(row[high]),
                mcse_mean=float(row["mcse_mean"]),
                mcse_sd=float(row["mcse_sd"]),
                ess_bulk=float(row["ess_bulk"]),
                ess_tail=float(row["ess_tail"]),
                r_hat=float(row["r_hat"]),
            )
        )
    return out


# Elements per call of the summary kernel: bounds the per-call results and hotspot lists (the
# kernel copies its own 1 MB chunks, so the posterior itself is never copied whole).
_SUMMARY_SLICE = 4096


@dataclass(frozen=True)
class HotspotRequest:
    """What divergence hotspots are scored on: the divergent draws (flattened chain x draw),
    the variables to score, the known group scales and the model's transforms."""

    mask: np.ndarray
    variables: frozenset[str]
    scale_names: set[str] | None
    transforms: dict[str, str]


def summarize_with_kernels(
    posterior: Any, var_names: list[str], hdi_prob: float, hotspots: HotspotRequest | None = None
) -> tuple[list[ParameterSummary], list[Hotspot]]:
    """The arviz path's records, computed by ``hmdiag.diagnose.kernels`` for all elements at once; and
    the hotspots of the requested variables among them, scored from the same sort of draws."""
    from hmdiag.diagnose import kernels

    labels: list[str] = []
    variables: list[str] = []
    arrays = []
    for var in var_names:
        array = posterior[var].transpose(
            *(d for d in posterior[var].dims if d not in SAMPLE_DIMS), *SAMPLE_DIMS
        )
        names = element_labels(var, array) if array.ndim > 2 else [var]
        arrays.append(array)
        labels += names
        variables += [var] * len(names)
    # A slice of elements at a time: memory beyond the loaded posterior stays a few MB
    # however many parameters there are.
    parts: list[dict[str, np.ndarray]] = []
    found: list[Hotspot] = []
    start = 0
    for var, array in zip(var_names, arrays, strict=True):
        # (chain, draw, element) is how runs store draws, so this is a view, not a copy.
        values = array.transpose(*SAMPLE_DIMS, ...).values
        values = values.reshape(*values.shape[:2], -1)
        draws = values.reshape(-1, values.shape[-1])
        score = hotspots is not None and var in hotspots.variables
        score = score and draws.shape[0] == hotspots.mask.size
        transform = (
            _TO_SAMPLER_SCALE.get(hotspots.transforms.get(var, "unknown")) if hotspots else None
        )
        for lo in range(0, values.shape[-1], _SUMMARY_SLICE):
            part = kernels.summary_stats(
                values[..., lo : lo + _SUMMARY_SLICE],
                chain_axis=0,
                draw_axis=1,
                tail_prob=TAIL_ESS_CI_PROB,
                hdi_prob=hdi_prob,
                subset=hotspots.mask if score and hotspots else None,
                subset_transform=transform,
            )
            if score and hotspots:
                stop = min(lo + _SUMMARY_SLICE, draws.shape[1])
                found += _hotspots(
                    var,
                    labels[start + lo : start + stop],
                    (part.pop("subset_ks"), part.pop("subset_median_quantile")),
                    array.ndim == 2 and bool(np.all(draws > 0)),
                    hotspots,
                )
            parts.append(part)
        start += values.shape[-1]
    stats = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    kernels.release_memory()
    summaries = [
        ParameterSummary(
            name=label,
            variable=var,
            mean=float(stats["mean"][i]),
            sd=float(stats["sd"][i]),
            hdi_low=float(stats["hdi_low"][i]),
            hdi_high=float(stats["hdi_high"][i]),
            mcse_mean=float(stats["mcse_mean"][i]),
            mcse_sd=float(stats["mcse_sd"][i]),
            ess_bulk=float(stats["ess_bulk"][i]),
            ess_tail=float(stats["ess_tail"][i]),
            r_hat=float(stats["r_hat"][i]),
        )
        for i, (label, var) in enumerate(zip(labels, variables, strict=True))
    ]
    return summaries, found


def _interval_columns(columns: Any, prob: float) -> tuple[str, str]:
    """The HDI bound columns arviz-stats names after the probability (``hdi89_lb``)."""
    lower = [c for c in columns if str(c).startswith("hdi") and str(c).endswith("_lb")]
    upper = [c for c in columns if str(c).startswith("hdi") and str(c).endswith("_ub")]
    if len(lower) != 1 or len(upper) != 1:
        raise RuntimeError(
            f"arviz-stats summary has no single {prob:.0%} HDI column: {list(columns)}"
        )
    return str(lower[0]), str(upper[0])


# Transforms hmdiag can apply to draws to put them on the scale the sampler moves on.
_TO_SAMPLER_SCALE = {
    "log": np.log,
    "logit": lambda x: np.log(x) - np.log1p(-x),
}


def run_transforms(info: RunInfo, hidden: list[str]) -> dict[str, str]:
    """Each parameter's transform as the model defines it, never guessed from the values.

    From the run's record (hmdiag 0.3+), else from the spec it carries, else from the
    sampler's transformed variables it kept (``sigma_log__``); unknown parameters are absent.
    """
    if info.param_transforms:
        return dict(info.param_transforms)
    spec = stored_spec(info)
    if spec is not None:
        from hmdiag.model import transforms_from_spec

        return transforms_from_spec(spec)
    found = {}
    for name in hidden:
        stem, _, suffix = name[:-2].rpartition("_")
        if stem and suffix in ("log", "logodds"):
            found[stem] = "log" if suffix == "log" else "logit"
    return found


def element_labels(var: str, array: Any) -> list[str]:
    """ArviZ's flat labels (``a[1]``, ``beta[x, 2]``) of a variable's elements in C order."""
    dims = tuple(d for d in array.dims if d not in SAMPLE_DIMS)
    values = [np.asarray(array[d].values) for d in dims]
    # The dtypes are part of the key: 1 == 1.0 would otherwise reuse w[1.0] for w[1].
    coords = tuple((str(v.dtype), tuple(v)) for v in values)
    return list(_element_labels(str(var), dims, coords))


@functools.lru_cache(maxsize=32)
def _element_labels(
    var: str, dims: tuple[Any, ...], coords: tuple[tuple[str, tuple[Any, ...]], ...]
) -> tuple[str, ...]:
    # Cached: summaries, hotspots and evidence each label the same thousands of elements.
    from arviz_base.labels import BaseLabeller

    labeller = BaseLabeller()
    labels = []
    levels = [values for _, values in coords]
    for index in np.ndindex(*(len(c) for c in levels)):
        sel = {d: c[i] for d, c, i in zip(dims, levels, index, strict=True)}
        labels.append(labeller.make_label_flat(var, sel, dict(zip(dims, index, strict=True))))
    return tuple(labels)


def ks_distances(rows: np.ndarray, in_first: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov distance per row, between the columns in ``in_first``
    and the others: scipy's ``ks_2samp(...).statistic`` for every row at once (NaN for rows
    with a non-finite value or a single value)."""
    from hmdiag.diagnose import kernels

    return kernels.subset_separation(rows, in_first, chain_axis=None)["ks"]


def divergent_mask(idata: Any) -> np.ndarray | None:
    """Divergent draws, flattened over (chain, draw); None when there are none to score
    (no stat, none divergent, or all but one divergent)."""
    diverging = sample_stat(sample_stats_group(idata), "diverging")
    if diverging is None:
        return None
    mask = np.asarray(diverging, dtype=bool).reshape(-1)
    n_div = int(mask.sum())
    return mask if 0 < n_div < mask.size - 1 else None


def _hotspots(
    var: str,
    labels: list[str],
    separation: tuple[np.ndarray, np.ndarray],
    positive: bool,
    request: HotspotRequest,
) -> list[Hotspot]:
    """Hotspots of one variable's elements from their KS distances and median quantiles
    (``kernels.subset_separation``); elements without a score (constant, not finite) are
    left out. ``positive``: a scalar whose draws are all positive (a scale, failing names)."""
    transform = request.transforms.get(var, "unknown")
    is_scale = var in request.scale_names if request.scale_names else positive
    scores, quantiles = separation
    return [
        Hotspot(
            parameter=label,
            variable=var,
            score=float(score),
            quantile=float(quantile),
            transform=transform,
            is_scale=is_scale,
            funnel=is_scale and quantile < FUNNEL_QUANTILE,
        )
        for label, score, quantile in zip(labels, scores, quantiles, strict=True)
        if np.isfinite(score)
    ]


def localize_divergences(
    idata: Any,
    var_names: list[str],
    scale_names: set[str] | None = None,
    transforms: dict[str, str] | None = None,
) -> list[Hotspot]:
    """Rank parameters by how far divergent draws sit from the others, strongest first.

    ``transforms`` (parameter -> the model's transform) puts draws on the sampler's scale;
    a parameter missing from it is labeled ``unknown`` and scored as stored (the KS distance
    is the same on any monotone scale). ``scale_names`` are the known group scales; without
    them a scalar parameter whose draws are all positive is taken for a scale.
    """
    mask = divergent_mask(idata)
    if mask is None:
        return []
    request = HotspotRequest(mask, frozenset(var_names), scale_names, transforms or {})
    return localize_hotspots(idata, var_names, request)


def localize_hotspots(idata: Any, var_names: list[str], request: HotspotRequest) -> list[Hotspot]:
    from hmdiag.diagnose import kernels

    posterior = idata.posterior
    hotspots: list[Hotspot] = []
    for var in var_names:
        array = posterior[var].transpose("chain", "draw", ...)
        if array.sizes["chain"] * array.sizes["draw"] != request.mask.size:
            continue
        values = np.asarray(array.values).reshape(*array.shape[:2], -1)
        separation = kernels.subset_separation(
            values,
            request.mask,
            chain_axis=0,
            draw_axis=1,
            transform=_TO_SAMPLER_SCALE.get(request.transforms.get(str(var), "unknown")),
        )
        scalar = array.ndim == 2
        labels = [str(var)] if scalar else element_labels(var, array)
        positive = scalar and bool(np.all(values > 0))
        hotspots += _hotspots(
            str(var), labels, (separation["ks"], separation["median_quantile"]), positive, request
        )
    hotspots.sort(key=lambda h: h.score, reverse=True)
    return hotspots


def sample_stat(sample_stats: Any, canonical: str) -> np.ndarray | None:
    """A sample stat by its canonical name, whatever the sampler called it."""
    if sample_stats is None:
        return None
    for name in STAT_ALIASES[canonical]:
        if name in sample_stats:
            return np.asarray(sample_stats[name].transpose("chain", "draw", ...).values)
    return None


def sample_stats_group(idata: Any) -> Any | None:
    """The run's sample_stats group, or None (runs from some tools lack it)."""
    return idata["sample_stats"] if has_group(idata, "sample_stats") else None
