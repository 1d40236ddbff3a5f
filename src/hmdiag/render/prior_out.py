"""Renderers for ``hmdiag prior``."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hmdiag.diagnose.checks import percentile
from hmdiag.diagnose.report import SCHEMA_VERSION, json_ready
from hmdiag.render.text import fmt

if TYPE_CHECKING:
    from hmdiag.workflows.prior_check import PriorCheck


def render(console: Console, check: PriorCheck, name: str) -> None:
    """Observed vs simulated, then warnings or an all-clear line."""
    table = Table(
        title=f"{name}: prior predictive ({check.draws} simulated datasets) vs observed {check.response}",
        title_justify="left",
    )
    for h in ("", "observed", "prior predictive"):
        table.add_column(h, justify="left" if not h else "right")
    table.add_row(
        "mean",
        fmt(check.observed_mean),
        f"{fmt(check.simulated_mean_q50)} [90%: {fmt(check.simulated_mean_q05)}, {fmt(check.simulated_mean_q95)}]",
    )
    table.add_row(
        "range",
        f"{fmt(check.observed_min)} .. {fmt(check.observed_max)}",
        f"{fmt(check.simulated_min)} .. {fmt(check.simulated_max)} (1%..99%)",
    )
    table.add_row("extreme", "", f"{100 * check.share_extreme:.1f}% ({check.extreme_rule})")
    if check.share_impossible is not None:
        table.add_row("impossible", "", f"{100 * check.share_impossible:.1f}% below 0")
    table.add_row(
        "observed mean at", "", f"{percentile(check.observed_mean_quantile)} of simulated means"
    )
    console.print(table)
    for warning in check.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if not check.warnings:
        console.print(
            Text("the priors allow the observed data without piling up on extremes", style="green")
        )


def to_dict(check: PriorCheck) -> dict[str, Any]:
    """The JSON document for ``prior --json``."""
    return json_ready({"schema_version": SCHEMA_VERSION, "kind": "prior", **asdict(check)})
