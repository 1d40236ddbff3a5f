"""What every plot shares: matplotlib pinned to the headless Agg backend, arviz-plots, labels
written as hmdiag names them, titles, and PNG output written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hmdiag import _lazy
from hmdiag.runs.files import write_atomically


def pyplot() -> Any:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def arviz_plots() -> Any:
    """arviz-plots, after pinning matplotlib to the headless Agg backend."""
    pyplot()
    return _lazy.arviz_plots()


def figure_of(pc: Any) -> Any:
    """The matplotlib Figure behind an arviz-plots PlotCollection / PlotMatrix."""
    return pc.viz["figure"].item()


def flat_labeller() -> Any:
    """arviz-base's labeller, writing elements as ``a[1]`` (hmdiag's names) on one line."""
    from arviz_base.labels import BaseLabeller

    class FlatLabeller(BaseLabeller):
        def make_label_vert(self, var_name: Any, sel: Any, isel: Any) -> str:
            return self.make_label_flat(var_name, sel, isel)

    return FlatLabeller()


def integer_ticks(ax: Any, axis: str) -> None:
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def titled(fig: Any, title: str) -> Any:
    # tight_layout reserves the title's height below the top edge, but suptitle's default
    # y=0.98 sits lower on tall figures (rank, autocorr grids) and runs into subplot titles
    fig.suptitle(title, fontsize=12, y=1.0 - 0.08 / fig.get_figheight())
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: Path, *, force: bool, flag: str = "--out") -> None:
    """Write ``fig`` as PNG atomically, then close it."""
    plt = pyplot()
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


def figure_png(fig: Any) -> bytes:
    """Render a figure to PNG bytes (for inline HTML) and close it."""
    import io

    plt = pyplot()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(fig)
    return buffer.getvalue()
