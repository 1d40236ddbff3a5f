"""``hmdiag report --interactive``: the report's plots as linked Bokeh figures, in the same
single self-contained HTML file (BokehJS inlined, nothing fetched).

Bokeh over plotly: a selection lives on a ``ColumnDataSource``, so every glyph drawn from one
source highlights the same draws with no custom JavaScript. Box- or lasso-selecting draws in
one pair panel highlights them in every other pair panel and in the trace, ShinyStan's brushing.
plotly links figures only through callbacks written by hand. arviz-plots' Bokeh backend draws
the rank, trace/density, ESS and posterior predictive views.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hmdiag.render.plots import PlotRun

# Draws kept in the linked source (every divergent draw is kept): bounds the file's size.
MAX_LINKED_DRAWS = 2000
# Parameters in the pair grid and the linked trace; in the rank and trace/density views.
PAIR_PARAMETERS = 4
VIEW_PARAMETERS = 6
DIVERGENT_COLOR = "#d62728"
DRAW_COLOR = "#1f77b4"
# The names the browser test finds the linked source and panels by.
SOURCE_NAME = "hmdiag-draws"


def _scalars(run: PlotRun, var: list[str] | None, hotspots: list[str]) -> list[str]:
    """Scalar parameters to show: the divergence hotspots first, then the lowest bulk ESS."""
    post = run.idata.posterior
    names = [v for v in (var or run.free_variables or run.variables) if v in post.data_vars]
    names = [v for v in names if post[v].ndim == 2]
    if not names:
        names = [v for v in run.variables if v in post.data_vars and post[v].ndim == 2]
    ranked = sorted(names, key=lambda v: run.ess_bulk.get(v, np.inf))
    first = [h for h in hotspots if h in names]
    return list(dict.fromkeys(first + ranked))


def _elements(run: PlotRun, var: list[str] | None, hotspots: list[str]) -> dict[str, np.ndarray]:
    """Columns for the linked pairs, by ArviZ label: the scalar parameters, then the elements
    of small vectors (``a[2]``), hotspots and low-ESS elements first; flattened draws."""
    post = run.idata.posterior
    names = [v for v in (var or run.free_variables or run.variables) if v in post.data_vars]
    columns: dict[str, np.ndarray] = {}
    for v in names:
        da = post[v]
        if da.ndim == 2:
            columns[v] = np.asarray(da.values, dtype=float).reshape(-1)
        elif int(np.prod(da.shape[2:])) <= PAIR_PARAMETERS:
            stacked = da.stack(element=da.dims[2:])
            for k in range(stacked.sizes["element"]):
                coord = stacked["element"].values[k]
                label = ",".join(map(str, coord if isinstance(coord, tuple) else (coord,)))
                columns[f"{v}[{label}]"] = np.asarray(
                    stacked.isel(element=k).values, dtype=float
                ).reshape(-1)
    ess = run.ess_bulk
    order = sorted(columns, key=lambda c: (c.split("[")[0] not in hotspots, ess.get(c, np.inf)))
    return {c: columns[c] for c in order}


def _linked_source(run: PlotRun, columns: dict[str, np.ndarray]) -> Any:
    from bokeh.models import ColumnDataSource

    post = run.idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    diverging = np.zeros((chains, draws), dtype=bool)
    stats = getattr(run.idata, "children", {})
    if "sample_stats" in stats:
        for name in ("diverging", "divergent__", "divergences"):
            if name in run.idata["sample_stats"].data_vars:
                diverging = np.asarray(run.idata["sample_stats"][name].values, dtype=bool)
                break
    flat = diverging.reshape(-1)
    keep = np.arange(flat.size)
    if flat.size > MAX_LINKED_DRAWS:
        # A fixed, evenly spread subset plus every divergent draw: the same file every time.
        step = int(np.ceil(flat.size / MAX_LINKED_DRAWS))
        keep = np.union1d(keep[::step], np.flatnonzero(flat))
    data: dict[str, Any] = {label: values[keep] for label, values in columns.items()}
    data["chain"] = np.repeat(np.arange(chains), draws)[keep]
    data["draw"] = np.tile(np.arange(draws), chains)[keep]
    data["diverging"] = flat[keep]
    data["color"] = np.where(flat[keep], DIVERGENT_COLOR, DRAW_COLOR)
    data["size"] = np.where(flat[keep], 6.0, 3.0)
    return ColumnDataSource(data, name=SOURCE_NAME)


def linked_pairs(run: PlotRun, columns: dict[str, np.ndarray]) -> Any:
    """A pair grid and a trace over one source: selecting draws anywhere highlights them
    everywhere; divergent draws are red and larger."""
    from bokeh.layouts import column, gridplot
    from bokeh.models import Div
    from bokeh.plotting import figure

    source = _linked_source(run, columns)
    names = list(columns)
    tools = "box_select,lasso_select,pan,wheel_zoom,reset"
    panels: list[list[Any]] = []
    for i, y in enumerate(names[1:], start=1):
        row = []
        for x in names[:i]:
            fig = figure(width=220, height=220, tools=tools, name=f"pair-{x}-{y}")
            fig.scatter(
                x,
                y,
                source=source,
                color="color",
                size="size",
                alpha=0.5,
                selection_color="#ff7f0e",
                nonselection_alpha=0.08,
            )
            fig.xaxis.axis_label, fig.yaxis.axis_label = x, y
            row.append(fig)
        panels.append(row + [None] * (len(names) - 1 - len(row)))
    trace = figure(width=660, height=200, tools=tools, name=f"trace-{names[0]}")
    trace.scatter(
        "draw",
        names[0],
        source=source,
        color="color",
        size=2,
        selection_color="#ff7f0e",
        nonselection_alpha=0.08,
    )
    trace.xaxis.axis_label, trace.yaxis.axis_label = "draw (all chains)", names[0]
    n_div = int(np.sum(source.data["diverging"]))
    note = Div(
        text=f"<b>{run.label}: pairs with divergences</b> ({n_div} divergent draws in red; "
        f"{len(source.data['draw'])} draws shown). Box- or lasso-select draws in any panel: "
        "they are highlighted in every panel and in the trace below."
    )
    grid = gridplot(panels, toolbar_location="right") if panels else None
    return column(*[m for m in (note, grid, trace) if m is not None])


def _arviz_view(kind: str, run: PlotRun, names: list[str]) -> Any | None:
    """An arviz-plots view on its Bokeh backend, laid out as one model; None when the run
    cannot draw it (no posterior predictive, say)."""
    import arviz_plots as azp
    from bokeh.layouts import gridplot
    from bokeh.models import Plot

    data = run.idata
    try:
        if kind == "rank":
            pc = azp.plot_rank(data, backend="bokeh", var_names=names)
        elif kind == "trace":
            pc = azp.plot_trace_dist(data, backend="bokeh", var_names=names)
        elif kind == "ess":
            pc = azp.plot_ess(data, backend="bokeh", var_names=names)
        elif kind == "ppc":
            if "posterior_predictive" not in getattr(data, "children", {}):
                return None
            pc = azp.plot_ppc_dist(data, backend="bokeh", num_samples=50)
        else:
            raise ValueError(kind)
    except Exception:
        return None
    figures = [
        fig
        for node in pc.viz.subtree
        for da in node.ds.data_vars.values()
        if da.dtype == object
        for fig in np.asarray(da.values).reshape(-1)
        if isinstance(fig, Plot)
    ]
    if not figures:
        return None
    for fig in figures:
        fig.width, fig.height = 300, 220
    return gridplot(figures, ncols=3 if kind != "trace" else 2, toolbar_location="right")


def interactive_fragments(
    runs: list[PlotRun], hotspots: list[list[str]], var: list[str] | None
) -> tuple[str, list[str]]:
    """(the ``<head>`` resources: BokehJS inlined, the per-run HTML: each run's linked pairs,
    rank, trace/density, ESS and posterior predictive views)."""
    from bokeh.embed import components
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import Resources

    models = []
    for run, spots in zip(runs, hotspots, strict=True):
        names = _scalars(run, var, spots)
        parts: list[Any] = []
        columns = _elements(run, var, spots)
        if len(columns) >= 2:
            first = dict(list(columns.items())[:PAIR_PARAMETERS])
            parts.append(linked_pairs(run, first))
        for kind, title in (
            ("rank", "rank plots per chain (uniform when the chains agree)"),
            ("trace", "trace and density per chain"),
            ("ess", "effective sample size per parameter"),
            ("ppc", "posterior predictive overlay"),
        ):
            view = _arviz_view(kind, run, names[:VIEW_PARAMETERS])
            if view is not None:
                parts += [Div(text=f"<b>{run.label}: {title}</b>"), view]
        models.append(column(*parts) if parts else Div(text="no scalar parameter to plot"))
    script, divs = components(models)
    # BokehJS core and widgets (the Div titles) only: GL, tables and MathJax (1.7 MB, and a
    # CDN address inside it) are not used.
    resources = Resources(mode="inline", components=["bokeh", "bokeh-widgets"])
    return resources.render() + script, list(divs)
