"""Diagnostic figures via ArviZ and matplotlib (Agg backend; no display needed).

Each function draws one figure and returns it; ``write_plots`` saves them atomically.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmdiag import _lazy
from hmdiag.errors import HmdiagError
from hmdiag.runs import write_atomically

PER_RUN_KINDS = ("trace", "rank", "pair", "energy", "autocorr", "ppc")
CROSS_RUN_KINDS = ("forest", "ess")
KINDS = (*PER_RUN_KINDS, *CROSS_RUN_KINDS)
MAX_PAIR_VARIABLES = 8


@dataclass(frozen=True)
class PlotRun:
    """What a plot needs from a run: its label, data and a sensible default variable list."""

    label: str
    idata: Any
    variables: list[str]
    free_variables: list[str]
    ess_bulk: dict[str, float]


def _pyplot() -> Any:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure(axes: Any) -> Any:
    import numpy as np

    first = np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes
    return first.figure


def _select(run: PlotRun, var_names: list[str] | None, prefer_free: bool = False) -> list[str]:
    pool = run.free_variables if prefer_free and run.free_variables else run.variables
    if not var_names:
        return pool
    chosen = [v for v in var_names if v in run.variables]
    if not chosen:
        raise HmdiagError(
            f"{run.label}: none of --var {', '.join(var_names)} is in the posterior",
            f"variables are: {', '.join(run.variables)}",
        )
    return chosen


def _titled(fig: Any, title: str) -> Any:
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def plot_trace(run: PlotRun, var_names: list[str] | None) -> Any:
    """Trace plot with divergent draws marked under the traces."""
    az = _lazy.arviz()
    axes = az.plot_trace(
        run.idata, var_names=_select(run, var_names), divergences="bottom", compact=True
    )
    return _titled(_figure(axes), f"{run.label}: trace")


def plot_rank(run: PlotRun, var_names: list[str] | None) -> Any:
    """Rank (trank) histograms per chain; uniform means good mixing."""
    az = _lazy.arviz()
    axes = az.plot_rank(run.idata, var_names=_select(run, var_names))
    return _titled(_figure(axes), f"{run.label}: rank plot (uniform = good mixing)")


def plot_pair(run: PlotRun, var_names: list[str] | None) -> Any:
    """Pair plot of the free parameters with divergent draws highlighted."""
    az = _lazy.arviz()
    names = _select(run, var_names, prefer_free=True)[:MAX_PAIR_VARIABLES]
    has_div = "sample_stats" in run.idata.groups() and "diverging" in run.idata.sample_stats
    axes = az.plot_pair(
        run.idata,
        var_names=names,
        kind="scatter",
        divergences=has_div,
        divergences_kwargs={
            "color": "red",
            "markeredgecolor": "red",
            "marker": "o",
            "markersize": 3,
            "alpha": 0.8,
        },
        scatter_kwargs={"alpha": 0.25},
        figsize=(min(3.0 * len(names), 12.0), min(3.0 * len(names), 12.0)),
        textsize=9,
    )
    return _titled(_figure(axes), f"{run.label}: pair plot (red = divergent draws)")


def plot_energy(run: PlotRun, var_names: list[str] | None) -> Any:
    """Marginal vs transition energy (E-BFMI)."""
    az = _lazy.arviz()
    if "sample_stats" not in run.idata.groups() or "energy" not in run.idata.sample_stats:
        raise HmdiagError(
            f"{run.label}: the run records no energy; the energy plot needs sample_stats.energy"
        )
    ax = az.plot_energy(run.idata)
    return _titled(_figure(ax), f"{run.label}: energy")


def plot_autocorr(run: PlotRun, var_names: list[str] | None) -> Any:
    """Autocorrelation per parameter, chains combined."""
    az = _lazy.arviz()
    axes = az.plot_autocorr(run.idata, var_names=_select(run, var_names), combined=True)
    return _titled(_figure(axes), f"{run.label}: autocorrelation")


def plot_ppc(run: PlotRun, var_names: list[str] | None) -> Any:
    """Posterior predictive check: simulated response distributions against the observed one."""
    az = _lazy.arviz()
    if "posterior_predictive" not in run.idata.groups():
        raise HmdiagError(
            f"{run.label}: the run has no posterior predictive", "fit it with hmdiag fit --ppc"
        )
    ax = az.plot_ppc(run.idata, num_pp_samples=100, random_seed=0)
    return _titled(_figure(ax), f"{run.label}: posterior predictive check")


def plot_forest(runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Forest plot of several runs overlaid (HDI per parameter per run)."""
    az = _lazy.arviz()
    if var_names:
        names = var_names
    else:
        shared = [v for v in runs[0].variables if all(v in r.variables for r in runs)]
        names = shared or runs[0].variables
    missing = [r.label for r in runs if not any(v in r.variables for v in names)]
    if missing:
        raise HmdiagError(f"forest plot: {', '.join(missing)} has none of {', '.join(names)}")
    axes = az.plot_forest(
        [r.idata for r in runs],
        model_names=[r.label for r in runs],
        var_names=names,
        combined=True,
        hdi_prob=0.89,
        figsize=(7, 1.2 + 0.45 * len(runs) * 4),
    )
    return _titled(_figure(axes), " vs ".join(r.label for r in runs) + ": 89% HDI")


def plot_ess(runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Grouped bars of bulk ESS per parameter, one bar per run."""
    import numpy as np

    plt = _pyplot()
    names = [n for n in runs[0].ess_bulk if all(n in r.ess_bulk for r in runs)]
    if var_names:
        names = [n for n in names if n.split("[")[0] in var_names]
    if not names:
        raise HmdiagError("ESS chart: the runs share no parameter names")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4))
    width = 0.8 / len(runs)
    x = np.arange(len(names))
    for i, run in enumerate(runs):
        ax.bar(
            x + (i - (len(runs) - 1) / 2) * width,
            [run.ess_bulk[n] for n in names],
            width=width,
            label=run.label,
        )
    ax.set_xticks(x)
    ax.set_xticklabels(
        names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    ax.set_ylabel("bulk effective sample size")
    ax.legend(fontsize=9)
    return _titled(fig, "bulk ESS: " + " vs ".join(r.label for r in runs))


PER_RUN: dict[str, Callable[[PlotRun, list[str] | None], Any]] = {
    "trace": plot_trace,
    "rank": plot_rank,
    "pair": plot_pair,
    "energy": plot_energy,
    "autocorr": plot_autocorr,
    "ppc": plot_ppc,
}
CROSS_RUN: dict[str, Callable[[list[PlotRun], list[str] | None], Any]] = {
    "forest": plot_forest,
    "ess": plot_ess,
}


def planned_files(
    runs: list[PlotRun], kinds: list[str], out_dir: Path
) -> list[tuple[str, list[PlotRun], Path]]:
    """(kind, runs, path) for every figure ``write_plots`` would write."""
    plan: list[tuple[str, list[PlotRun], Path]] = []
    for kind in kinds:
        if kind in PER_RUN:
            plan += [(kind, [r], out_dir / f"{r.label}-{kind}.png") for r in runs]
        else:
            labels = [r.label for r in runs]
            if len(runs) == 1:
                name = f"{labels[0]}-{kind}.png"
            else:
                name = f"{kind}-{'-'.join(labels)}.png" if len(runs) <= 4 else f"{kind}.png"
            plan.append((kind, runs, out_dir / name))
    return plan


def save_figure(fig: Any, path: Path, *, force: bool, flag: str = "--out") -> None:
    """Write ``fig`` as PNG atomically, then close it."""
    plt = _pyplot()
    try:
        write_atomically(
            path,
            lambda tmp: fig.savefig(tmp, format="png", dpi=100),
            force=force,
            suffix=".png",
            flag=flag,
        )
    finally:
        plt.close(fig)


def draw(kind: str, runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Draw one figure of ``kind``."""
    _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind in PER_RUN:
            return PER_RUN[kind](runs[0], var_names)
        return CROSS_RUN[kind](runs, var_names)


def write_plots(
    runs: list[PlotRun],
    kinds: list[str],
    out_dir: Path,
    *,
    var_names: list[str] | None,
    force: bool,
) -> list[Path]:
    """Draw and save every requested figure; refuse to clobber unless ``force``."""
    plan = planned_files(runs, kinds, out_dir)
    if not force:
        existing = [str(p) for _, _, p in plan if p.exists()]
        if existing:
            raise HmdiagError(
                f"{existing[0]}: already exists; refusing to overwrite",
                "pass --force to replace plots",
            )
    written = []
    for kind, group, path in plan:
        save_figure(draw(kind, group, var_names), path, force=force)
        written.append(path)
    return written


def plot_run(run: Any) -> PlotRun:
    """A ``PlotRun`` from a ``compare.LoadedRun``."""
    from hmdiag.diagnostics import visible_variables

    shown, _ = visible_variables(run.idata)
    free = [v for v in (run.report.info.free_variables or []) if v in shown]
    ess = {p.name: p.ess_bulk for p in run.report.diagnosis.parameters}
    return PlotRun(
        label=run.label, idata=run.idata, variables=shown, free_variables=free, ess_bulk=ess
    )


def figure_png(fig: Any) -> bytes:
    """Render a figure to PNG bytes (for inline HTML) and close it."""
    import io

    plt = _pyplot()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def plot_sweep(entries: list[dict[str, Any]], keys: list[str]) -> Any:
    """Divergences and ESS/s against the first swept setting, one line per other combination."""
    plt = _pyplot()
    done = [e for e in entries if e["status"] == "done"]
    if not done or not keys:
        raise HmdiagError("sweep plot: no finished variants with swept settings to plot")
    x_key, others = keys[0], keys[1:]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in done:
        label = (
            ", ".join(f"{k.split('.')[-1]}={entry['settings'].get(k)}" for k in others)
            or entry["config"].rsplit("/", 1)[-1]
        )
        groups.setdefault(label, []).append(entry)
    for label, group in groups.items():
        group.sort(key=lambda e: (str(type(e["settings"][x_key])), e["settings"][x_key]))
        xs = [str(e["settings"][x_key]) for e in group]
        axes[0].plot(xs, [e["summary"]["divergences"] or 0 for e in group], marker="o", label=label)
        axes[1].plot(
            xs, [e["summary"]["ess_per_second"] or 0 for e in group], marker="o", label=label
        )
    axes[0].set_ylabel("divergences")
    axes[1].set_ylabel("min bulk ESS per second")
    for ax in axes:
        ax.set_xlabel(x_key)
        ax.legend(fontsize=8)
    return _titled(fig, "sweep: divergences and ESS/s by " + x_key)


def plot_sbc(result: Any) -> Any:
    """Rank histograms per parameter with the 99% band expected under uniformity."""
    import math

    from scipy.stats import binom

    plt = _pyplot()
    params = result.parameters
    if not params:
        raise HmdiagError("SBC plot: no parameter could be ranked")
    cols = min(4, len(params))
    rows = math.ceil(len(params) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), params, strict=False):
        expected = p.simulations / p.bins
        low, high = binom.interval(0.99, p.simulations, 1 / p.bins)
        ax.axhspan(low, high, color="0.85")
        ax.axhline(expected, color="0.4", lw=1)
        ax.bar(range(p.bins), p.counts, width=0.9, color="C3" if not p.calibrated else "C0")
        ax.set_title(f"{p.parameter} (p={p.p_value:.2g})", fontsize=9)
        ax.set_xticks([])
    for ax in axes.ravel()[len(params) :]:
        ax.set_visible(False)
    return _titled(fig, "SBC rank histograms (grey: 99% band under uniformity)")
