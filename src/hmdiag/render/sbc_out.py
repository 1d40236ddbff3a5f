"""Renderers for ``hmdiag sbc``: progress, a calibration table, JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hmdiag.diagnose.report import SCHEMA_VERSION, json_ready

if TYPE_CHECKING:
    from hmdiag.workflows.sbc import SbcResult


@contextlib.contextmanager
def progress(console: Console, total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar over simulations; yields a callback to call per finished one."""
    if not enabled:
        yield lambda: None
        return
    with Progress(
        TextColumn("sbc"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("", total=total)
        yield lambda: bar.update(task, advance=1)


def render(console: Console, result: SbcResult) -> None:
    """One row per parameter, then the verdict."""
    table = Table(
        title=f"simulation-based calibration (ranks 0..{result.rank_draws}, chi-square, alpha {result.alpha:g} Bonferroni)",
        title_justify="left",
    )
    for h in ("parameter", "simulations", "bins", "chi2", "p", "calibrated"):
        table.add_column(h, justify="left" if h == "parameter" else "right")
    for p in result.parameters:
        mark = Text("yes", style="green") if p.calibrated else Text("NO", style="bold red")
        table.add_row(
            p.parameter, str(p.simulations), str(p.bins), f"{p.chi2:.1f}", f"{p.p_value:.3g}", mark
        )
    console.print(table)
    failed = [s for s in result.simulations if s.error]
    divergent = sum(1 for s in result.simulations if s.divergences)
    console.print(
        f"{len(result.simulations)} simulations, {len(failed)} failed, {divergent} with divergences"
    )
    for s in failed[:5]:
        console.print(Text(f"simulation {s.index} failed: {s.error}", style="red"))
    if result.passed:
        console.print(Text("verdict: PASS — ranks consistent with uniform", style="bold green"))
    else:
        bad = (
            ", ".join(p.parameter for p in result.parameters if not p.calibrated)
            or "no parameter could be ranked"
        )
        console.print(Text(f"verdict: FAIL — miscalibrated: {bad}", style="bold red"))


def to_dict(result: SbcResult) -> dict[str, Any]:
    """The JSON document for ``sbc --json``."""
    return json_ready(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "sbc",
            "verdict": "pass" if result.passed else "fail",
            "alpha": result.alpha,
            "rank_draws": result.rank_draws,
            "parameters": [asdict(p) for p in result.parameters],
            "simulations": [asdict(s) for s in result.simulations],
        }
    )
