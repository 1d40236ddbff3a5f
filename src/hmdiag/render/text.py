"""Formatting helpers shared by the terminal and Markdown renderers."""

from __future__ import annotations

import math

from hmdiag.diagnose.report import RunReport
from hmdiag.diagnose.summary import ParameterSummary

COMPACT_ELEMENTS = 8
# Tail ESS follows Vehtari et al. (2021), not arviz-stats 1.x's default quantiles (0.11, 0.89).
TAIL_ESS_NOTE = "ess_tail at the 5%/95% quantiles"


def fmt(value: float | int | None, digits: int = 3) -> str:
    """A number for a table cell: integers plain, floats to ``digits`` significant places."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "nan"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}" if abs(value) < 10 else f"{value:.{max(digits - 1, 1)}f}"


def is_bad(p: ParameterSummary, report: RunReport) -> bool:
    """Whether a parameter fails the r_hat or ESS thresholds."""
    t, chains = report.thresholds, report.diagnosis.chains
    need = t.min_ess_per_chain * chains
    return (
        (math.isfinite(p.r_hat) and p.r_hat > t.max_rhat)
        or (math.isfinite(p.ess_bulk) and p.ess_bulk < need)
        or (math.isfinite(p.ess_tail) and p.ess_tail < need)
    )


def visible_parameters(report: RunReport, *, show_all: bool) -> tuple[list[ParameterSummary], int]:
    """Parameters to show: all, or per variable its failing elements first, at most 8."""
    params = report.diagnosis.parameters
    if show_all:
        return params, 0
    by_var: dict[str, list[ParameterSummary]] = {}
    for p in params:
        by_var.setdefault(p.variable, []).append(p)
    shown: list[ParameterSummary] = []
    omitted = 0
    for group in by_var.values():
        if len(group) <= COMPACT_ELEMENTS:
            shown += group
            continue
        bad = [p for p in group if is_bad(p, report)]
        good = [p for p in group if not is_bad(p, report)]
        keep = (bad + good)[:COMPACT_ELEMENTS]
        keep_ids = {id(p) for p in keep}
        shown += [p for p in group if id(p) in keep_ids]
        omitted += len(group) - len(keep)
    return shown, omitted


def summary_cells(p: ParameterSummary, *, mcse_sd: bool = True) -> list[str]:
    """One parameter's summary as table cells (name, mean, sd, HDI, mcse, ESS, r_hat)."""
    cells = [p.name, fmt(p.mean), fmt(p.sd), fmt(p.hdi_low), fmt(p.hdi_high), fmt(p.mcse_mean)]
    if mcse_sd:
        cells.append(fmt(p.mcse_sd))
    return [*cells, fmt(p.ess_bulk, 0), fmt(p.ess_tail, 0), fmt(p.r_hat)]


def param_rows(report: RunReport, *, show_all: bool) -> tuple[list[list[str]], int]:
    """Summary table rows (without mcse_sd) as strings, and how many elements were left out."""
    shown, omitted = visible_parameters(report, show_all=show_all)
    return [summary_cells(p, mcse_sd=False) for p in shown], omitted


MODEL_FIT_HEADER = ["measure", "observed", "replicated 99% range", "p-value", "status"]


def model_fit_caption(report: RunReport) -> str | None:
    """What the model-fit table was computed on; None when it was not measured."""
    fit = report.diagnosis.model_fit
    if fit is None or not fit.assessed:
        return None
    parts = [f"`{fit.variable}`, {fit.n_obs:,} observations", fit.draws_note]
    if fit.elpd_loo is not None:
        parts.append(f"elpd_loo {fit.elpd_loo:.1f} (se {fit.se:.1f}), p_loo {fit.p_loo:.1f}")
    return "; ".join(p for p in parts if p)


def model_fit_rows(report: RunReport) -> list[list[str]]:
    """Pareto k and each posterior predictive statistic, one row each (``MODEL_FIT_HEADER``)."""
    fit = report.diagnosis.model_fit
    if fit is None or not fit.assessed:
        return []
    rows = []
    if fit.max_k is not None:
        status = "warn" if fit.n_influential else "pass"
        rows.append(
            [
                "Pareto k (max)",
                f"{fit.max_k:.3g}",
                f"<= {fit.k_limit:.3g}; {fit.n_high_k} above, {fit.n_influential} of them "
                "outside their predictive range",
                "",
                status,
            ]
        )
    for c in fit.predictive:
        rows.append(
            [
                c.statistic,
                f"{c.observed:.4g}",
                f"{c.replicated_low:.4g} to {c.replicated_high:.4g}",
                f"{c.p_value:.3f}",
                "warn" if c.extreme else "pass",
            ]
        )
    for g in fit.grouped:
        rows.append(
            [
                f"{g.statistic} by {g.factor}",
                f"{g.n_extreme} of {g.levels} levels extreme",
                f"{g.expected:.2g} by chance (1% tail per level)",
                f"{g.p_value:.3g}",
                "warn" if g.extreme else "pass",
            ]
        )
    return rows
