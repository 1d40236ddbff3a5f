"""Diagnostic figures via arviz-plots and matplotlib (Agg backend; no display needed).

Each function draws one figure and returns it; ``write_plots`` saves them atomically.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmdiag._datatree import group_dataset, has_group
from hmdiag.errors import HmdiagError
from hmdiag.render.plot_kit import (
    arviz_plots,
    figure_of,
    flat_labeller,
    integer_ticks,
    pyplot,
    save_figure,
    titled,
)

PER_RUN_KINDS = ("trace", "rank", "pair", "energy", "autocorr", "ppc")
CROSS_RUN_KINDS = ("forest", "ess")
KINDS = (*PER_RUN_KINDS, *CROSS_RUN_KINDS)
# Most scalar parameters (variable elements) in one pair plot (6 x 6 subplots) and in one
# rank or autocorrelation figure: arviz-plots refuses figures over 40 subplots
# (rcParams["plot.max_subplots"]), so large vectors are cut to their first elements.
MAX_PAIR_PANELS = 6
MAX_PANELS = 40
SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class PlotRun:
    """What a plot needs from a run: its label, data and a sensible default variable list."""

    label: str
    idata: Any
    variables: list[str]
    free_variables: list[str]
    ess_bulk: dict[str, float]


def _plot_data(run: PlotRun, *groups: str) -> Any:
    """A DataTree of ``groups`` of the run, sample stats under their canonical names.

    Runs from other samplers name stats differently (``divergent__`` as 0/1 ints, ``energy__``);
    arviz-plots only looks for ``sample_stats.diverging`` (boolean) and ``energy``.
    """
    import xarray as xr

    from hmdiag.sampling.layout import canonical_stat_names

    nodes = {}
    for name in groups:
        ds = group_dataset(run.idata, name)
        if ds is None:
            continue
        if name == "sample_stats":
            ds = canonical_stat_names(ds)
            if "diverging" in ds and ds["diverging"].dtype != bool:
                ds["diverging"] = ds["diverging"].astype(bool)
        nodes[name] = ds
    return xr.DataTree.from_dict(nodes)


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


def _limit_panels(
    posterior: Any, names: list[str], cap: int
) -> tuple[list[str], dict[str, Any], int, int]:
    """Variables and leading coordinates that fit in ``cap`` scalar panels.

    Returns ``(names, coords, shown, total)``: ``coords`` keeps the first values of a
    dimension when a vector variable does not fit whole; ``shown``/``total`` count elements.
    """

    def size(var: str, limits: dict[str, Any], skip: str | None = None) -> int:
        da = posterior[var]
        return math.prod(
            len(limits[d]) if d in limits else da.sizes[d]
            for d in da.dims
            if d not in SAMPLE_DIMS and d != skip
        )

    total = sum(size(v, {}) for v in names)
    chosen: list[str] = []
    coords: dict[str, Any] = {}
    used = 0
    for var in names:
        if used + size(var, coords) <= cap:
            chosen.append(var)
            used += size(var, coords)
            continue
        # cut dimensions to their first values (last dimension first), but only those no
        # variable already shown uses
        da = posterior[var]
        taken = {d for v in chosen for d in posterior[v].dims}
        free = [d for d in da.dims if d not in SAMPLE_DIMS and d not in taken]
        limits = dict(coords)
        for dim in reversed(free):
            rest = size(var, limits, skip=dim)
            if rest <= cap - used:
                limits[dim] = da[dim].values[: (cap - used) // rest]
                break
            limits[dim] = da[dim].values[:1]
        if free and used + size(var, limits) <= cap:
            coords = limits
            chosen.append(var)
        break
    shown = sum(size(v, coords) for v in chosen)
    return chosen, coords, shown, total


# Plots that draw every variable (trace, forest) show at most this many values of each
# dimension; the ESS chart at most MAX_ESS_BARS parameters, the lowest first.
MAX_VECTOR_ELEMENTS = 10
MAX_ESS_BARS = 40


def _cut_long_dims(posterior: Any, names: list[str]) -> tuple[dict[str, Any], int, int]:
    """Coordinates keeping the first ``MAX_VECTOR_ELEMENTS`` values of every longer dimension
    of ``names``, and how many elements that shows of how many."""
    coords: dict[str, Any] = {}
    for var in names:
        for dim in posterior[var].dims:
            if dim not in SAMPLE_DIMS and posterior.sizes[dim] > MAX_VECTOR_ELEMENTS:
                coords[dim] = posterior[dim].values[:MAX_VECTOR_ELEMENTS]

    def count(var: str, limits: dict[str, Any]) -> int:
        da = posterior[var]
        return math.prod(
            len(limits[d]) if d in limits else da.sizes[d] for d in da.dims if d not in SAMPLE_DIMS
        )

    return coords, sum(count(v, coords) for v in names), sum(count(v, {}) for v in names)


def _of(shown: int, total: int) -> str:
    return "" if shown == total else f"; first {shown} of {total} parameters"


def plot_trace(run: PlotRun, var_names: list[str] | None) -> Any:
    """Marginal density and trace per variable, divergent draws ticked along the bottom."""
    data = _plot_data(run, "posterior", "sample_stats")
    names = _select(run, var_names)
    coords, shown, total = _cut_long_dims(data["posterior"], names)
    pc = arviz_plots().plot_trace_dist(
        data,
        var_names=names,
        coords=coords,
        compact=True,
        backend="matplotlib",
        labeller=flat_labeller(),
    )
    cut = f" (first {shown} of {total} parameters)" if shown != total else ""
    return titled(figure_of(pc), f"{run.label}: trace{cut}")


def plot_rank(run: PlotRun, var_names: list[str] | None) -> Any:
    """Fractional-rank Δ-ECDF per chain, with arviz-stats' multi-chain uniformity test."""
    data = _plot_data(run, "posterior")
    names, coords, shown, total = _limit_panels(
        data["posterior"], _select(run, var_names), MAX_PANELS
    )
    pc = arviz_plots().plot_rank(
        data, var_names=names, coords=coords, backend="matplotlib", labeller=flat_labeller()
    )
    return titled(
        figure_of(pc),
        f"{run.label}: rank plot (Δ-ECDF of fractional ranks per chain{_of(shown, total)})\n"
        "near 0 = good mixing; p: multi-chain uniformity test, dots where it fails",
    )


def plot_pair(run: PlotRun, var_names: list[str] | None) -> Any:
    """Pair plot of the free parameters with divergent draws highlighted in red."""
    data = _plot_data(run, "posterior", "sample_stats")
    chosen = _select(run, var_names, prefer_free=True)
    names, coords, shown, total = _limit_panels(data["posterior"], chosen, MAX_PAIR_PANELS)
    if shown < 2:  # one scalar (--var a_bar): pair it with the other parameters
        others = [v for v in (*run.free_variables, *run.variables) if v not in chosen]
        names, coords, shown, total = _limit_panels(
            data["posterior"], list(dict.fromkeys([*chosen, *others])), MAX_PAIR_PANELS
        )
    if shown < 2:
        raise HmdiagError(f"{run.label}: a pair plot needs two parameters; the run has one")
    stats = group_dataset(data, "sample_stats")
    has_div = stats is not None and "diverging" in stats
    n_div = int(stats["diverging"].sum()) if has_div else 0
    side = min(2.2 * shown + 1.0, 14.0)
    pc = arviz_plots().plot_pair(
        data,
        var_names=names,
        coords=coords,
        marginal=True,
        triangle="lower",
        backend="matplotlib",
        labeller=flat_labeller(),
        visuals={
            "scatter": {"alpha": 0.25},
            "divergence": {"color": "red", "alpha": 0.8, "size": 12} if n_div else False,
        },
        figure_kwargs={"figsize": (side, side)},
    )
    if not has_div:
        note = "the run records no divergence flags"
    elif n_div:
        note = f"red = {n_div} divergent draws"
    else:
        note = "no divergent draws"
    return titled(figure_of(pc), f"{run.label}: pair plot ({note}{_of(shown, total)})")


def plot_energy(run: PlotRun, var_names: list[str] | None) -> Any:
    """Marginal vs transition energy, with E-BFMI per chain against the 0.3 threshold."""
    data = _plot_data(run, "sample_stats")
    stats = group_dataset(data, "sample_stats")
    if stats is None or "energy" not in stats:
        raise HmdiagError(
            f"{run.label}: the run records no energy; the energy plot needs sample_stats.energy"
        )
    pc = arviz_plots().plot_energy(
        data, backend="matplotlib", figure_kwargs={"figsize": (10.0, 4.0)}
    )
    fig = figure_of(pc)
    integer_ticks(fig.axes[0], "y")  # the E-BFMI panel: one point per chain
    return titled(fig, f"{run.label}: energy (left: E-BFMI per chain, dashed at 0.3)")


def plot_autocorr(run: PlotRun, var_names: list[str] | None) -> Any:
    """Autocorrelation per parameter, one line per chain."""
    data = _plot_data(run, "posterior")
    names, coords, shown, total = _limit_panels(
        data["posterior"], _select(run, var_names), MAX_PANELS
    )
    pc = arviz_plots().plot_autocorr(
        data, var_names=names, coords=coords, backend="matplotlib", labeller=flat_labeller()
    )
    return titled(
        figure_of(pc), f"{run.label}: autocorrelation (one line per chain{_of(shown, total)})"
    )


def plot_ppc(run: PlotRun, var_names: list[str] | None) -> Any:
    """Posterior predictive check: simulated responses against the observed ones.

    Integer responses (counts, 0/1) get a rootogram: how often each value occurs, observed
    against the predictive 89% interval (arviz-plots' density view breaks on 0/1 data).
    Continuous responses get ``plot_ppc_dist``: the observed distribution over 100 posterior
    predictive draws (a KDE, or an ECDF under 100 observations).
    """
    if not has_group(run.idata, "posterior_predictive"):
        raise HmdiagError(
            f"{run.label}: the run has no posterior predictive", "fit it with hmdiag fit --ppc"
        )
    data = _plot_data(run, "posterior_predictive", "observed_data")
    predictive = group_dataset(data, "posterior_predictive")
    observed = group_dataset(data, "observed_data")
    names = [str(v) for v in predictive.data_vars if observed is not None and v in observed]
    if not names:
        raise HmdiagError(
            f"{run.label}: the run has no observed data for its posterior predictive",
            "fit it with hmdiag fit --ppc",
        )
    azp = arviz_plots()
    figsize = (8.0, 4.0 * math.ceil(len(names) / 2))
    discrete = all(predictive[v].dtype.kind == "i" and observed[v].dtype.kind == "i" for v in names)
    if discrete:
        pc = azp.plot_ppc_rootogram(
            data,
            var_names=names,
            ci_prob=0.89,
            backend="matplotlib",
            labeller=flat_labeller(),
            figure_kwargs={"figsize": figsize},
        )
        fig = figure_of(pc)
        for ax in fig.axes:
            integer_ticks(ax, "x")
        what = "rootogram: count of each value, observed (black) vs predictive 89% interval"
    else:
        pc = azp.plot_ppc_dist(
            data,
            var_names=names,
            num_samples=100,
            backend="matplotlib",
            labeller=flat_labeller(),
            figure_kwargs={"figsize": figsize},
        )
        fig = figure_of(pc)
        what = "observed (black) over 100 posterior predictive draws"
    return titled(fig, f"{run.label}: posterior predictive check\n({what})")


def plot_forest(runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Forest plot of several runs overlaid (HDI per parameter per run)."""
    if var_names:
        names = var_names
    else:
        shared = [v for v in runs[0].variables if all(v in r.variables for r in runs)]
        names = shared or runs[0].variables
    missing = [r.label for r in runs if not any(v in r.variables for v in names)]
    if missing:
        raise HmdiagError(f"forest plot: {', '.join(missing)} has none of {', '.join(names)}")
    names = [v for v in names if any(v in r.variables for r in runs)]
    data = {r.label: _plot_data(r, "posterior") for r in runs}
    first = data[runs[0].label]["posterior"]
    _, shown, total = _cut_long_dims(first, [v for v in names if v in first.data_vars])
    # Each run cut by position on the dims it has (runs may label or size them differently).
    for tree in data.values():
        posterior = tree["posterior"].to_dataset()
        long = {d: slice(0, MAX_VECTOR_ELEMENTS) for d in posterior.dims if d not in SAMPLE_DIMS}
        tree["posterior"] = posterior.isel(long)
    pc = arviz_plots().plot_forest(
        data if len(runs) > 1 else data[runs[0].label],
        var_names=names,
        combined=True,
        ci_kind="hdi",
        ci_probs=(0.5, 0.89),
        point_estimate="mean",
        # runs of different lengths are NaN-padded to a common draw axis when combined
        stats={key: {"skipna": True} for key in ("trunk", "twig", "point_estimate")},
        backend="matplotlib",
        labeller=flat_labeller(),
    )
    if len(runs) > 1:
        pc.add_legend("model", title="run")
    return titled(
        figure_of(pc),
        " vs ".join(r.label for r in runs)
        + f": 89% HDI (thick: 50% HDI; dot: mean{_of(shown, total)})",
    )


def plot_ess(runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Grouped bars of bulk ESS per parameter, one bar per run."""
    import numpy as np

    plt = pyplot()
    names = [n for n in runs[0].ess_bulk if all(n in r.ess_bulk for r in runs)]
    if var_names:
        names = [n for n in names if n.split("[")[0] in var_names]
    if not names:
        raise HmdiagError("ESS chart: the runs share no parameter names")
    total = len(names)
    if total > MAX_ESS_BARS:

        def lowest_ess(name: str) -> float:
            values = [r.ess_bulk[name] for r in runs if not math.isnan(r.ess_bulk[name])]
            return min(values, default=math.inf)

        lowest = sorted(names, key=lowest_ess)[:MAX_ESS_BARS]
        keep = set(lowest)
        names = [n for n in names if n in keep]
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
    lowest_note = f" ({len(names)} lowest of {total} parameters)" if len(names) < total else ""
    return titled(fig, "bulk ESS: " + " vs ".join(r.label for r in runs) + lowest_note)


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


def draw(kind: str, runs: list[PlotRun], var_names: list[str] | None) -> Any:
    """Draw one figure of ``kind``."""
    pyplot()
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
    from hmdiag.diagnose.summary import visible_variables

    shown, _ = visible_variables(run.idata)
    free = [v for v in (run.report.info.free_variables or []) if v in shown]
    ess = {p.name: p.ess_bulk for p in run.report.diagnosis.parameters}
    return PlotRun(
        label=run.label, idata=run.idata, variables=shown, free_variables=free, ess_bulk=ess
    )
