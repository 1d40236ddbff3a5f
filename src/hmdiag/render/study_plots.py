"""Plots of a sweep's grid and of an SBC run's rank histograms (PNG), drawn with the helpers of
``hmdiag.render.plot_kit``."""

from __future__ import annotations

import math
from typing import Any

from hmdiag.errors import HmdiagError
from hmdiag.render.plot_kit import pyplot, titled


def plot_sweep(entries: list[dict[str, Any]], keys: list[str]) -> Any:
    """Divergences and ESS/s against the first swept setting, one line per other combination."""
    plt = pyplot()
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
    return titled(fig, "sweep: divergences and ESS/s by " + x_key)


def plot_sbc(result: Any) -> Any:
    """Rank histograms per parameter with the 99% band expected under uniformity."""
    from scipy.stats import binom

    plt = pyplot()
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
    return titled(fig, "SBC rank histograms (grey: 99% band under uniformity)")
