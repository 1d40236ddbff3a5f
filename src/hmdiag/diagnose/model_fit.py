"""Model criticism: does the model fit these data? PSIS-LOO Pareto k per observation and
posterior predictive test statistics, measured before any threshold is applied to a verdict.

Pure functions over arrays and DataTrees. The workflows layer supplies the pointwise
log-likelihood and the replicated data (``FitData``) for runs hmdiag fitted; a run made
elsewhere supplies them through its own ``log_likelihood``, ``posterior_predictive`` and
``observed_data`` groups (``hmdiag.diagnose.fit_data.fit_data_from_run``).

Thresholds, and where they come from:

- Pareto k: PSIS is reliable for an observation when k <= min(1 - 1/log10(S), 0.7), S the
  draws used (Vehtari, Simpson, Gelman, Yao and Gabry 2024, "Pareto smoothed importance
  sampling", JMLR 25(72), section 3.2.4; arviz-stats ``loo`` uses the same limit). An
  observation above it is one the posterior changes sharply without: an influential row.
- Posterior predictive p-values (Gelman, Meng and Stern 1996; BDA3 section 6.3):
  p = Pr(T(y_rep) >= T(y)), ties counted half. The dispersion index var/mean of counts is
  extreme outside [0.01, 0.99] (the issue's and Gelman et al.'s conventional limits). The
  other statistics share a two-sided 2% level (Bonferroni over the statistics measured), so a
  model that fits keeps its chance of a false ``misfit`` near 2% however many are measured.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag.diagnose.grouped_fit import ExtremeLevel, GroupedCheck, grouped_checks

# The dispersion index is extreme outside these posterior predictive p-values.
PPP_LOW = 0.01
PPP_HIGH = 0.99
# The other statistics share this two-sided level (Bonferroni over their number).
PPP_FAMILY_LEVEL = 0.02
# Pareto k above which PSIS fails for any draw count (Vehtari et al. 2024).
PARETO_K_MAX = 0.7
# A row above the k limit is influential misfit only when it also lies in the tail of its own
# posterior predictive distribution: Pr(y_rep_i > y_i) below ROW_TAIL / n or above
# 1 - ROW_TAIL / n, for n observations. Rows that each have their own effect raise k in a
# model that fits (Vehtari's LOO glossary: a flexible model, p_loo near the number of
# observations), and are only said to make LOO unreliable. The level is Bonferroni-corrected
# over the rows, as outlier tests are (Cook & Weisberg 1982; R's car::outlierTest): at 1% per
# row, one in 80 rows of a model that fits lies outside its range by chance. Where ROW_TAIL / n
# is finer than the draws resolve (1 / draws), the test is "beyond every replicated draw".
ROW_TAIL = 0.01
# Influential rows named in messages and kept in a stored summary.
MAX_ROWS_NAMED = 10
# Draws used for the pointwise log-likelihood and the replicated data: as many as fit in this
# many values (draws x observations), between MIN_DRAWS and MAX_DRAWS. 2,000 draws keep the
# Pareto k limit at 0.70 (1 - 1/log10(2000) = 0.697); fewer lower it, as the limit says.
FIT_DRAW_VALUES = 1 << 24
MIN_DRAWS = 400
MAX_DRAWS = 2000
# Values (draws x observations) per arviz-stats ``loo`` call: 2^24 float64 is 128 MB, and
# ``loo`` holds a few arrays of that size at once.
LOO_CHUNK_VALUES = 1 << 24

# "counts": a run made elsewhere whose observations are counts (its likelihood unknown).
COUNT_LIKELIHOODS = ("poisson", "negative_binomial", "counts")


def row_tail_level(n_obs: int) -> float:
    """The one-sided posterior predictive tail a row must lie beyond to be named an outlier:
    ``ROW_TAIL`` Bonferroni-corrected over ``n_obs`` rows."""
    return ROW_TAIL / max(n_obs, 1)


def pareto_k_limit(n_draws: int) -> float:
    """The largest Pareto k at which PSIS is reliable with ``n_draws`` draws."""
    return min(1.0 - 1.0 / math.log10(n_draws), PARETO_K_MAX) if n_draws > 10 else 0.0


def draws_for_fit(n_draws: int, n_obs: int) -> int:
    """How many draws the model-fit measures use: every draw of a small run, else as many as
    ``FIT_DRAW_VALUES`` allows, between ``MIN_DRAWS`` and ``MAX_DRAWS``."""
    budget = FIT_DRAW_VALUES // max(n_obs, 1)
    return int(min(n_draws, max(MIN_DRAWS, min(MAX_DRAWS, budget))))


@dataclass(frozen=True)
class RowLabels:
    """How the user finds an observation: its line in the data file and its group levels."""

    lines: np.ndarray
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    # "line" for a text table (header line 1), else "row"
    unit: str = "line"


@dataclass(frozen=True)
class FitData:
    """What the model-fit measures read, for one observed variable.

    ``log_lik``: a DataTree with a ``log_likelihood`` group (chain, draw, observation) and a
    ``posterior`` group (for PSIS's relative efficiency). ``replicated``: posterior predictive
    draws, (draws, observations). ``draws_note`` says how the draws were chosen.
    """

    variable: str
    observed: np.ndarray
    log_lik: Any | None
    replicated: np.ndarray | None
    likelihood: str | None = None
    trials: np.ndarray | None = None
    rows: RowLabels | None = None
    draws_note: str = ""


@dataclass(frozen=True)
class InfluentialRow:
    """An observation whose Pareto k is above the limit."""

    observation: int
    label: str
    value: float
    pareto_k: float
    groups: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictiveCheck:
    """One test statistic: observed, its replicated distribution, and the p-value."""

    statistic: str
    observed: float
    replicated_mean: float
    replicated_low: float
    replicated_high: float
    p_value: float
    low: float
    high: float

    @property
    def extreme(self) -> bool:
        """Whether the p-value lies outside its limits."""
        return self.p_value < self.low or self.p_value > self.high


@dataclass(frozen=True)
class ModelFit:
    """Model criticism of one run; ``reason`` says why a part could not be measured."""

    variable: str | None = None
    likelihood: str | None = None
    n_obs: int = 0
    n_draws: int = 0
    draws_note: str = ""
    elpd_loo: float | None = None
    se: float | None = None
    p_loo: float | None = None
    k_limit: float | None = None
    max_k: float | None = None
    n_influential: int = 0
    # rows above the k limit, surprising or not (n_influential counts the surprising ones)
    n_high_k: int = 0
    influential: list[InfluentialRow] = field(default_factory=list)
    predictive: list[PredictiveCheck] = field(default_factory=list)
    # the same statistics per level of each grouping factor (hmdiag.diagnose.grouped_fit)
    grouped: list[GroupedCheck] = field(default_factory=list)
    loo_reason: str | None = None
    predictive_reason: str | None = None
    # elpd per observation, to compare two fits of the same data (not stored with the run)
    pointwise_elpd: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def assessed(self) -> bool:
        """Whether any part was measured."""
        return self.elpd_loo is not None or bool(self.predictive)

    @property
    def reason(self) -> str:
        """Why nothing (or what) could not be measured."""
        return "; ".join(r for r in (self.loo_reason, self.predictive_reason) if r)

    def extreme(self) -> list[PredictiveCheck]:
        """The statistics whose p-value is outside its limits."""
        return [c for c in self.predictive if c.extreme]

    def extreme_grouped(self) -> list[GroupedCheck]:
        """The per-level statistics with more extreme levels than chance allows."""
        return [c for c in self.grouped if c.extreme]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (the run file stores it; JSON output prints it)."""
        out = asdict(self)
        out.pop("pointwise_elpd", None)
        for check, row in zip(self.predictive, out["predictive"], strict=True):
            row["extreme"] = check.extreme
        for grouped, row in zip(self.grouped, out["grouped"], strict=True):
            row["extreme"] = grouped.extreme
        return out


def unavailable(reason: str) -> ModelFit:
    """A model fit that could not be measured at all."""
    return ModelFit(loo_reason=reason)


def model_fit_from_dict(raw: dict[str, Any]) -> ModelFit:
    """The record ``ModelFit.to_dict`` wrote, read back."""
    fields = dict(raw)
    fields["influential"] = [InfluentialRow(**r) for r in raw.get("influential") or []]
    fields["predictive"] = [
        PredictiveCheck(**{k: v for k, v in r.items() if k != "extreme"})
        for r in raw.get("predictive") or []
    ]
    fields["grouped"] = [
        GroupedCheck(
            **{k: v for k, v in r.items() if k not in ("extreme", "worst")},
            worst=[ExtremeLevel(**w) for w in r.get("worst") or []],
        )
        for r in raw.get("grouped") or []
    ]
    known = set(ModelFit.__dataclass_fields__)
    return ModelFit(**{k: v for k, v in fields.items() if k in known})


def psis_loo(idata: Any, var_name: str | None = None) -> Any:
    """arviz-stats' PSIS-LOO (``loo(pointwise=True)``) of a run, needing little memory beyond
    the pointwise log-likelihood itself.

    ``loo`` keeps several draws x observations arrays at once (its smoothed log weights among
    them, in the result), so the observations go through it in chunks and the pointwise
    results are joined as ``loo`` itself sums them. The relative efficiency ``reff`` is
    arviz-stats' own definition (mean ESS of every posterior element over the draw count; 1
    for a single chain), computed by ``hmdiag.diagnose.kernels`` instead of one element at a
    time. A run with several observed variables, or few enough values, goes through ``loo``
    whole.
    """
    import dataclasses

    import xarray as xr

    azs = _lazy.arviz_stats()
    log_lik = idata["log_likelihood"].to_dataset()
    posterior = idata["posterior"].to_dataset()
    n_samples = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    reff = relative_efficiency(posterior)
    names = [var_name] if var_name else list(log_lik.data_vars)
    values = log_lik[names[0]] if len(names) == 1 else None
    if values is None or values.ndim != 3 or values.size <= LOO_CHUNK_VALUES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return azs.loo(idata, pointwise=True, reff=reff, var_name=var_name)
    obs_dim = next(d for d in values.dims if d not in ("chain", "draw"))
    per_chunk = max(1, LOO_CHUNK_VALUES // n_samples)
    parts = []
    for start in range(0, values.sizes[obs_dim], per_chunk):
        chunk = values.isel({obs_dim: slice(start, start + per_chunk)}).load()
        tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({names[0]: chunk})})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part = azs.loo(tree, pointwise=True, reff=reff)
        parts.append(dataclasses.replace(part, log_weights=None))
    elpd_i = xr.concat([p.elpd_i for p in parts], dim=obs_dim)
    pointwise = elpd_i.values.ravel()
    n = pointwise.size
    return dataclasses.replace(
        parts[0],
        elpd=float(pointwise.sum()),
        se=float(np.sqrt(n * np.var(pointwise, ddof=1))) if n > 1 else 0.0,
        p=float(sum(p.p for p in parts)),
        n_data_points=n,
        warning=any(p.warning for p in parts),
        elpd_i=elpd_i,
        pareto_k=xr.concat([p.pareto_k for p in parts], dim=obs_dim),
    )


def relative_efficiency(posterior: Any) -> float:
    """arviz-stats' ``reff``: the mean ESS of every posterior element over the draw count (1
    for one chain)."""
    from hmdiag.diagnose import kernels

    n_samples = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    if int(posterior.sizes["chain"]) <= 1 or not posterior.data_vars:
        return 1.0
    ess = [
        kernels.ess(
            posterior[v].transpose("chain", "draw", ...).values,
            chain_axis=0,
            draw_axis=1,
            method="mean",
        )
        for v in posterior.data_vars
    ]
    flat = np.hstack([np.ravel(e) for e in ess])
    flat = flat[np.isfinite(flat)]
    return float(flat.mean() / n_samples) if flat.size else 1.0


def _statistics(likelihood: str | None) -> list[str]:
    if likelihood == "bernoulli":
        return ["mean"]
    if likelihood in COUNT_LIKELIHOODS:
        return ["mean", "sd", "dispersion", "share_zeros", "max"]
    if likelihood == "binomial":
        return ["mean", "sd", "share_zeros"]
    return ["mean", "sd", "min", "max"]


def _statistic(name: str, values: np.ndarray) -> np.ndarray:
    """The statistic per row of ``values`` (replicates x observations)."""
    if name == "mean":
        return values.mean(axis=-1)
    if name == "sd":
        return values.std(axis=-1, ddof=1)
    if name == "min":
        return values.min(axis=-1)
    if name == "max":
        return values.max(axis=-1)
    if name == "share_zeros":
        return (values == 0).mean(axis=-1)
    if name == "dispersion":
        mean = values.mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, values.var(axis=-1, ddof=1) / mean, np.nan)
    raise ValueError(name)


def predictive_checks(
    observed: np.ndarray,
    replicated: np.ndarray,
    likelihood: str | None,
    trials: np.ndarray | None = None,
) -> list[PredictiveCheck]:
    """Posterior predictive p-values of the likelihood's test statistics (see the module).

    Binomial responses are compared as proportions of their trials."""
    y = np.asarray(observed, dtype=float)
    rep = np.asarray(replicated, dtype=float)
    if trials is not None and likelihood == "binomial":
        y, rep = y / trials, rep / trials
    names = _statistics(likelihood)
    others = [n for n in names if n != "dispersion"]
    tail = PPP_FAMILY_LEVEL / 2 / max(len(others), 1)
    out = []
    for name in names:
        t_obs = float(_statistic(name, y[None, :])[0])
        t_rep = _statistic(name, rep)
        t_rep = t_rep[np.isfinite(t_rep)]
        if not math.isfinite(t_obs) or t_rep.size == 0:
            continue
        # Ties (counts' min, max, zeros) count half, so a statistic the model always
        # reproduces exactly has p = 0.5, not 1.
        p = float(np.mean(t_rep > t_obs) + 0.5 * np.mean(t_rep == t_obs))
        low, high = (PPP_LOW, PPP_HIGH) if name == "dispersion" else (tail, 1.0 - tail)
        out.append(
            PredictiveCheck(
                statistic=name,
                observed=t_obs,
                replicated_mean=float(t_rep.mean()),
                replicated_low=float(np.quantile(t_rep, 0.005)),
                replicated_high=float(np.quantile(t_rep, 0.995)),
                p_value=p,
                low=low,
                high=high,
            )
        )
    return out


def _row_label(i: int, rows: RowLabels | None) -> tuple[str, dict[str, str]]:
    if rows is None:
        return f"observation {i}", {}
    groups = {factor: str(levels[i]) for factor, levels in rows.groups.items()}
    return f"{rows.unit} {int(rows.lines[i])}", groups


def measure_model_fit(data: FitData) -> ModelFit:
    """Pareto k per observation and the posterior predictive checks of one observed variable."""
    observed = np.asarray(data.observed).reshape(-1)
    n_obs = observed.size
    elpd = se = p_loo = limit = max_k = None
    pointwise = None
    influential: list[InfluentialRow] = []
    n_influential = n_high_k = 0
    n_draws = 0
    loo_reason = None
    if data.log_lik is None:
        loo_reason = "no pointwise log-likelihood"
    else:
        loo = psis_loo(data.log_lik, data.variable)
        k = np.asarray(loo.pareto_k).reshape(-1)
        n_draws = int(loo.n_samples)
        limit = pareto_k_limit(n_draws)
        elpd, se, p_loo = float(loo.elpd), float(loo.se), float(loo.p)
        pointwise = np.asarray(loo.elpd_i, dtype=float).reshape(-1)
        max_k = float(np.nanmax(k)) if np.isfinite(k).any() else None
        over = np.flatnonzero(np.nan_to_num(k, nan=np.inf) > limit)
        n_high_k = int(over.size)
        if data.replicated is not None and over.size:
            # Only rows the fitted model finds surprising are misfit; a high k on a row that
            # its own effect fits (one row per group level) says LOO is unreliable, no more.
            rep = np.asarray(data.replicated).reshape(-1, observed.size)[:, over]
            y = observed[over][None, :]
            tail = np.mean(rep > y, axis=0) + 0.5 * np.mean(rep == y, axis=0)
            level = row_tail_level(observed.size)
            over = over[(tail < level) | (tail > 1.0 - level)]
        n_influential = int(over.size)
        # Highest k first; equal k by observation order, so the list is the same every time.
        order = over[np.lexsort((over, -np.nan_to_num(k[over], nan=np.inf)))]
        for i in order[:MAX_ROWS_NAMED]:
            label, groups = _row_label(int(i), data.rows)
            influential.append(
                InfluentialRow(
                    observation=int(i),
                    label=label,
                    value=float(observed[i]),
                    pareto_k=float(k[i]),
                    groups=groups,
                )
            )
    predictive: list[PredictiveCheck] = []
    grouped: list[GroupedCheck] = []
    predictive_reason = None
    if data.replicated is None:
        predictive_reason = "no posterior predictive draws"
    else:
        rep = np.asarray(data.replicated).reshape(-1, n_obs)
        n_draws = n_draws or rep.shape[0]
        trials = None if data.trials is None else np.asarray(data.trials).reshape(-1)
        predictive = predictive_checks(observed, rep, data.likelihood, trials)
        if data.rows is not None and data.rows.groups and data.likelihood != "binomial":
            # Binomial rows have their own trials; their per-level proportions are left out.
            grouped = grouped_checks(observed, rep, data.rows.groups, _statistics(data.likelihood))
    return ModelFit(
        variable=data.variable,
        likelihood=data.likelihood,
        n_obs=n_obs,
        n_draws=n_draws,
        draws_note=data.draws_note,
        elpd_loo=elpd,
        se=se,
        p_loo=p_loo,
        k_limit=limit,
        max_k=max_k,
        n_influential=n_influential,
        n_high_k=n_high_k,
        influential=influential,
        predictive=predictive,
        grouped=grouped,
        loo_reason=loo_reason,
        predictive_reason=predictive_reason,
        pointwise_elpd=pointwise,
    )


def elpd_difference(new: ModelFit, old: ModelFit) -> tuple[float, float] | None:
    """elpd_loo(new) - elpd_loo(old) and its standard error, from the pointwise values of two
    fits of the same observations (Vehtari, Gelman and Gabry 2017, section 5.2); None when
    either lacks them or the observations differ."""
    a, b = new.pointwise_elpd, old.pointwise_elpd
    if a is None or b is None or a.shape != b.shape or a.size < 2:
        return None
    diff = a - b
    return float(diff.sum()), float(math.sqrt(diff.size * np.var(diff, ddof=1)))


def thin_posterior(posterior: Any, n_draws: int) -> tuple[Any, str]:
    """Every k-th draw of each chain, so that about ``n_draws`` remain in all; and a note."""
    chains = int(posterior.sizes["chain"])
    draws = int(posterior.sizes["draw"])
    total = chains * draws
    if n_draws >= total:
        return posterior, f"all {total:,} draws"
    step = math.ceil(total / n_draws)
    thinned = posterior.isel(draw=slice(None, None, step))
    kept = chains * int(thinned.sizes["draw"])
    return thinned, f"{kept:,} of {total:,} draws (every {step}th draw of each chain)"
