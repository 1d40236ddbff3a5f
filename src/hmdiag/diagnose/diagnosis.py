"""A run's diagnosis: per-chain sampler statistics, the parameter summaries and divergence
hotspots, the evidence the pathology detectors read, and the notes on how the run was stored."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag._datatree import has_group
from hmdiag.diagnose.blocks import (
    Block,
    CorrelationEdge,
    block_correlations,
    block_scale_draws,
    find_blocks,
)
from hmdiag.diagnose.dialects import dialect_of, setting
from hmdiag.diagnose.evidence import Evidence, measure_evidence
from hmdiag.diagnose.fit_data import fit_data_from_run
from hmdiag.diagnose.model_fit import (
    FitData,
    ModelFit,
    measure_model_fit,
    model_fit_from_dict,
    unavailable,
)
from hmdiag.diagnose.summary import (
    FUNNEL_QUANTILE,
    MIN_DIVERGENCES_FOR_LOCALIZATION,
    SAMPLE_DIMS,
    Hotspot,
    HotspotRequest,
    ParameterSummary,
    divergent_mask,
    element_labels,
    localize_hotspots,
    run_transforms,
    sample_stat,
    sample_stats_group,
    summarize_parameters,
    summarize_with_kernels,
    uses_kernels,
    visible_variables,
)
from hmdiag.model import GroupTerm as GroupTermInfo
from hmdiag.runs import RunInfo

DEFAULT_MAX_TREEDEPTH = 10  # PyMC, Stan and NumPyro all default to 10


ACCEPTANCE_TOLERANCE = 0.05


@dataclass(frozen=True)
class ChainStats:
    """Per-chain sampler behaviour; ``None`` where the run lacks the stat."""

    chain: int
    divergences: int | None
    treedepth_hits: int | None
    bfmi: float | None
    mean_accept: float | None
    step_size: float | None


@dataclass(frozen=True)
class Diagnosis:
    """Everything measured about one run, before any threshold is applied."""

    label: str
    sampler: str
    chains: int
    draws: int
    hdi_prob: float
    parameters: list[ParameterSummary]
    chain_stats: list[ChainStats]
    divergences_total: int | None
    divergence_fraction: float | None
    treedepth_hits_total: int | None
    max_treedepth: int | None
    max_treedepth_assumed: bool
    target_accept: float | None
    sampling_seconds: float | None
    hotspots: list[Hotspot]
    group_terms: list[GroupTermInfo]
    hidden_variables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    # sampler.mass_matrix of the fit (diag, dense, low_rank); None where the run does not say.
    mass_matrix: str | None = None
    # where the chains ran (RunInfo.device): "cpu", "gpu: NVIDIA H200"; None where not recorded
    device: str | None = None
    # the sampler that ran (RunInfo.algorithm): "nuts", "static", "fixed_param"; None: NUTS
    algorithm: str | None = None
    # whose settings the advice names (hmdiag.diagnose.dialects): "hmdiag", "cmdstan", "pymc", ...
    dialect: str = "hmdiag"
    # does the model fit the data (Pareto k, posterior predictive checks); None: not measured
    model_fit: ModelFit | None = None
    # correlated blocks (LKJ-Cholesky) and their off-diagonal correlations (hmdiag.diagnose.blocks)
    blocks: list[Block] = field(default_factory=list)
    block_correlations: list[CorrelationEdge] = field(default_factory=list)

    @property
    def hmc(self) -> bool:
        """Whether the draws are HMC transitions (False for a fixed_param run)."""
        return self.algorithm != "fixed_param"

    @property
    def min_ess_per_second(self) -> float | None:
        """Smallest bulk ESS over parameters divided by sampling seconds."""
        ess = [p.ess_bulk for p in self.parameters if math.isfinite(p.ess_bulk)]
        if not ess or not self.sampling_seconds:
            return None
        return min(ess) / self.sampling_seconds


def _per_chain_sum(values: np.ndarray | None) -> list[int] | None:
    if values is None:
        return None
    return [int(v) for v in np.asarray(values, dtype=bool).reshape(values.shape[0], -1).sum(axis=1)]


def _bfmi(idata: Any) -> list[float] | None:
    energy = sample_stat(sample_stats_group(idata), "energy")
    if energy is None or energy.shape[1] < 2:
        return None
    values = _lazy.arviz_stats().bfmi(energy.reshape(energy.shape[0], -1).astype(float))
    return [float(v) for v in np.atleast_1d(values)]


def _treedepth_hits(
    sample_stats: Any, max_treedepth: int | None
) -> tuple[list[int] | None, int | None, bool]:
    flags = sample_stat(sample_stats, "reached_max_treedepth")
    if flags is not None:
        # PyMC 5 flags the hits without recording the limit: its default, 10, is assumed.
        limit = max_treedepth or DEFAULT_MAX_TREEDEPTH
        return _per_chain_sum(flags), limit, max_treedepth is None
    depth = sample_stat(sample_stats, "tree_depth")
    if depth is None:
        return None, None, False
    assumed = max_treedepth is None
    limit = max_treedepth or DEFAULT_MAX_TREEDEPTH
    return _per_chain_sum(depth >= limit), limit, assumed


def _chain_mean(values: np.ndarray | None) -> list[float | None]:
    if values is None:
        return []
    flat = values.reshape(values.shape[0], -1).astype(float)
    return [float(np.nanmean(row)) if np.isfinite(row).any() else None for row in flat]


def _group_terms(info: RunInfo) -> list[GroupTermInfo]:
    terms = []
    for raw in info.group_terms or []:
        known = {k: raw[k] for k in GroupTermInfo.__dataclass_fields__ if k in raw}
        try:
            terms.append(GroupTermInfo(**known))
        except TypeError:
            continue
    return terms


def data_drift_note(info: RunInfo) -> str | None:
    """A warning when the data file a run was fitted on has changed or gone since the fit."""
    if not info.data_path or not info.data_sha256:
        return None
    from pathlib import Path

    from hmdiag.spec.table import file_sha256

    path = Path(info.data_path)
    if not path.exists():
        return f"the data file this run was fitted on, {path}, no longer exists"
    if not path.is_file():
        return f"the data file this run was fitted on, {path}, is no longer a regular file"
    try:
        current = file_sha256(path)
    except OSError as exc:
        return (
            f"the data file this run was fitted on, {path}, cannot be read: {exc.strerror or exc}"
        )
    if current != info.data_sha256:
        return (
            f"the data file {path} changed since this run was fitted "
            f"(sha256 {info.data_sha256[:12]}… then, {current[:12]}… now): refit before trusting the results"
        )
    return None


def derived_not_stored_note(info: RunInfo) -> str | None:
    """What a run left out to stay small (``fit`` without ``--derived``), or None."""
    if not info.derived_not_stored:
        return None
    parts = [
        f"{name} ({size:,} values per draw)" if size > 0 else name
        for name, size in info.derived_not_stored.items()
    ]
    return (
        f"derived variables not stored: {', '.join(parts)}; the checks cover the parameters "
        "they are computed from, and evidence that needs the effects' own spread (whether "
        "the data pin each level) is not available (hmdiag fit --derived stores them)"
    )


def diagnose(
    idata: Any,
    info: RunInfo,
    *,
    var_names: list[str] | None = None,
    hdi_prob: float = 0.89,
    model_fit: ModelFit | None = None,
) -> Diagnosis:
    """Measure a run: summary per parameter, per-chain sampler stats and divergence hotspots.

    ``model_fit``: the model criticism a workflow computed; without it, the summary the fit
    stored, else the run's own log-likelihood and predictive groups (``model_fit``)."""
    shown, hidden = visible_variables(idata, var_names)
    notes: list[str] = []
    drift = data_drift_note(info)
    if drift:
        notes.append(drift)
    skipped = derived_not_stored_note(info)
    if skipped:
        notes.append(skipped)
    if var_names:
        unknown = [v for v in var_names if v not in idata.posterior.data_vars]
        if unknown:
            from hmdiag.errors import HmdiagError

            not_stored = [v for v in unknown if v in info.derived_not_stored]
            raise HmdiagError(
                f"{info.label}: --var {', '.join(unknown)} not in the posterior",
                f"{', '.join(not_stored)}: derived and not stored; refit with hmdiag fit --derived"
                if not_stored
                else f"variables are: {', '.join(visible_variables(idata)[0])}",
            )
    terms = _group_terms(info)
    scale_names = {t.scale for t in terms if t.scale}
    free = [v for v in (info.free_variables or []) if v in idata.posterior.data_vars]
    localize_over = free or [v for v in visible_variables(idata)[0]]
    mask = divergent_mask(idata)
    request = (
        HotspotRequest(
            mask, frozenset(localize_over), scale_names or None, run_transforms(info, hidden)
        )
        if mask is not None
        else None
    )
    hotspots: list[Hotspot] = []
    if shown and uses_kernels(idata.posterior, shown):
        # One sort of each parameter's draws serves its summary and its hotspot score.
        parameters, hotspots = summarize_with_kernels(idata.posterior, shown, hdi_prob, request)
        localize_over = [v for v in localize_over if v not in shown]
    else:
        parameters = summarize_parameters(idata, shown, hdi_prob)
    if request is not None and localize_over:
        hotspots += localize_hotspots(idata, localize_over, request)
    blocks = find_blocks(idata.posterior, terms, request.transforms if request else None)
    if request is not None and blocks:
        inside = _block_hotspots(idata.posterior, blocks, request)
        seen = {h.parameter for h in inside}
        hotspots = inside + [h for h in hotspots if h.parameter not in seen]
    # Stable: on a tie a block's scale ranks before the packed factor's element it equals.
    hotspots.sort(key=lambda h: h.score, reverse=True)
    sample_stats = sample_stats_group(idata)
    chains = int(idata.posterior.sizes["chain"])
    draws = int(idata.posterior.sizes["draw"])
    if chains == 1:
        parameters = _one_chain_rhat(idata.posterior, shown, parameters)
    notes += _run_shape_notes(idata, info, chains)

    diverging = sample_stat(sample_stats, "diverging")
    div_per_chain = _per_chain_sum(diverging)
    hits, max_depth, assumed = _treedepth_hits(sample_stats, info.max_treedepth)
    bfmi = _bfmi(idata)
    accept = _chain_mean(sample_stat(sample_stats, "acceptance_rate"))
    step = _chain_mean(sample_stat(sample_stats, "step_size"))
    if sample_stats is None:
        notes.append(
            "the run has no sample_stats group: divergence, tree-depth and E-BFMI checks are not available"
        )

    chain_stats = [
        ChainStats(
            chain=c,
            divergences=div_per_chain[c] if div_per_chain else None,
            treedepth_hits=hits[c] if hits else None,
            bfmi=bfmi[c] if bfmi and c < len(bfmi) else None,
            mean_accept=accept[c] if c < len(accept) else None,
            step_size=step[c] if c < len(step) else None,
        )
        for c in range(chains)
    ]
    total_div = sum(div_per_chain) if div_per_chain is not None else None
    if total_div and 0 < total_div < MIN_DIVERGENCES_FOR_LOCALIZATION:
        notes.append(f"only {total_div} divergent draw(s): the hotspot ranking is noisy")
    library = info.inference_library or str(
        getattr(sample_stats, "attrs", {}).get("inference_library", "unknown")
    )
    sampler = info.sampler_label or info.backend or library
    if not info.sampler_label and not info.backend and info.source_version:
        sampler = f"{library} {info.source_version}"
    evidence = measure_evidence(idata, info, parameters, terms, blocks)
    if evidence.sensitivity_note:
        notes.append(evidence.sensitivity_note)
    return Diagnosis(
        label=info.label,
        sampler=sampler,
        chains=chains,
        draws=draws,
        hdi_prob=hdi_prob,
        parameters=parameters,
        chain_stats=chain_stats,
        divergences_total=total_div,
        divergence_fraction=(total_div / (chains * draws)) if total_div is not None else None,
        treedepth_hits_total=sum(hits) if hits is not None else None,
        max_treedepth=max_depth,
        max_treedepth_assumed=assumed,
        target_accept=info.target_accept,
        sampling_seconds=info.sampling_seconds,
        hotspots=hotspots,
        group_terms=terms,
        hidden_variables=hidden,
        notes=notes,
        evidence=evidence,
        mass_matrix=info.mass_matrix,
        device=info.device,
        algorithm=info.algorithm,
        dialect=dialect_of(info),
        model_fit=model_fit if model_fit is not None else stored_model_fit(idata, info),
        blocks=blocks,
        block_correlations=[e for b in blocks for e in block_correlations(idata.posterior, b)],
    )


def stored_model_fit(idata: Any, info: RunInfo) -> ModelFit:
    """The model fit a run carries: its fit's summary, or measured from its own groups."""
    if info.model_fit:
        return model_fit_from_dict(info.model_fit)
    own = fit_data_from_run(idata)
    return measure_model_fit(own) if isinstance(own, FitData) else unavailable(own)


def _block_hotspots(posterior: Any, blocks: list[Block], request: HotspotRequest) -> list[Hotspot]:
    """Divergence hotspots of the per-term scales inside correlated blocks (scored on the log
    scale the sampler moves them on; the KS distance and the quantile do not depend on it)."""
    from hmdiag.diagnose import kernels

    found = []
    for block in blocks:
        for label, (var, draws) in block_scale_draws(posterior, block).items():
            if draws.size != request.mask.size or not np.all(draws > 0):
                continue
            separation = kernels.subset_separation(
                draws[..., None], request.mask, chain_axis=0, draw_axis=1, transform=np.log
            )
            score, quantile = float(separation["ks"][0]), float(separation["median_quantile"][0])
            if not math.isfinite(score):
                continue
            found.append(
                Hotspot(
                    parameter=label,
                    variable=label if label == var else var,
                    score=score,
                    quantile=quantile,
                    transform="cholesky"
                    if block.derived
                    else request.transforms.get(var, "deterministic"),
                    is_scale=True,
                    funnel=quantile < FUNNEL_QUANTILE,
                )
            )
    return found


def _one_chain_rhat(
    posterior: Any, shown: list[str], parameters: list[ParameterSummary]
) -> list[ParameterSummary]:
    """One chain: the split R-hat of its two halves, as Stan computes it (arviz-stats gives
    NaN; hmdiag.diagnose.kernels computes it with ``split_one_chain``)."""
    from dataclasses import replace

    from hmdiag.diagnose import kernels

    values: dict[str, float] = {}
    for var in shown:
        array = posterior[var].transpose(
            *SAMPLE_DIMS, *(d for d in posterior[var].dims if d not in SAMPLE_DIMS)
        )
        names = element_labels(var, array) if array.ndim > 2 else [var]
        draws = np.asarray(array.values, dtype=float).reshape(*array.shape[:2], -1)
        rhat = kernels.rhat(draws, chain_axis=0, draw_axis=1, split_one_chain=True)
        values.update(zip(names, np.atleast_1d(rhat).tolist(), strict=True))
    return [replace(p, r_hat=values.get(p.name, p.r_hat)) for p in parameters]


def _run_shape_notes(idata: Any, info: RunInfo, chains: int) -> list[str]:
    """What the reader must know about the run's shape: one chain, warmup not counted."""
    notes = []
    if chains == 1:
        notes.append(
            "one chain: r_hat is the split R-hat of its two halves, which cannot see chains "
            f"that settle in different regions; run 4 or more chains ({setting(dialect_of(info), 'chains', 4)})"
        )
    if info.warmup_dropped:
        notes.append(
            f"warmup was saved with the draws: {info.warmup_dropped} warmup rows per chain "
            "were dropped, and only post-warmup draws are counted"
        )
    for group in ("warmup_posterior", "warmup_sample_stats"):
        if has_group(idata, group):
            size = int(idata[group].sizes.get("draw", 0))
            notes.append(
                f"the run holds {size} warmup draws per chain ({group}); they are not counted"
            )
            break
    return notes
