"""Renderers for ``hmdiag compare``: terminal tables, Markdown and JSON."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hmdiag import _views
from hmdiag.diagnose.report import SCHEMA_VERSION, json_ready
from hmdiag.render.text import COMPACT_ELEMENTS, fmt

if TYPE_CHECKING:
    from hmdiag.workflows.compare import Comparison

HEADLINE = (
    ("verdict", lambda r: r.verdict.upper()),
    ("divergences", lambda r: fmt(r.divergences)),
    ("max r_hat", lambda r: fmt(r.max_rhat)),
    ("min ess_bulk", lambda r: fmt(r.min_ess_bulk, 0)),
    ("min ess_tail", lambda r: fmt(r.min_ess_tail, 0)),
    ("sampling seconds", lambda r: fmt(r.seconds, 2)),
    ("min ESS/s", lambda r: fmt(r.ess_per_second, 1)),
    ("failed checks", lambda r: ", ".join(r.failed_checks) or "–"),
)


def _cell(c: Any) -> tuple[str, str, str, str]:
    if c is None:
        return ("–", "–", "–", "–")
    ratio = "" if c.ess_ratio is None else f" (x{c.ess_ratio:.2f})"
    return (
        fmt(c.mean),
        fmt(c.sd),
        f"[{fmt(c.hdi_low)}, {fmt(c.hdi_high)}]",
        f"{fmt(c.ess_bulk, 0)}{ratio}",
    )


def _checks_cell(r: Any) -> Text:
    return Text("PASS", style="green") if r.checks_passed else Text("FAIL", style="bold red")


@_views.register("comparison.dict")
def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """The JSON document for ``compare --json`` (same ``schema_version`` as ``check``)."""
    return json_ready(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "comparison",
            "runs": [asdict(r) for r in comparison.runs],
            "parameters": [
                {
                    "name": row.name,
                    "runs": {
                        label: (asdict(c) if c else None)
                        for label, c in zip(comparison.labels, row.cells, strict=True)
                    },
                }
                for row in comparison.parameters
            ],
            "loo": [asdict(r) for r in comparison.loo],
            "loo_skipped": comparison.loo_skipped,
            "notes": comparison.notes,
            # a ranked run that failed its own checks: its elpd_loo is not to be trusted
            "warnings": comparison.warnings,
            "pareto_k_warnings": comparison.pareto_k_warnings,
            # compare --baseline: one gate per run against the baseline (additive in v1)
            **({"baseline": [g.to_dict() for g in comparison.gates]} if comparison.gates else {}),
        }
    )


def visible_rows(comparison: Comparison, *, show_all: bool) -> tuple[list[Any], int]:
    """Parameter rows to show: all, or per variable at most ``COMPACT_ELEMENTS`` elements, those
    with the lowest bulk ESS in any run first; and how many were left out."""
    rows = comparison.parameters
    if show_all:
        return rows, 0
    by_var: dict[str, list[Any]] = {}
    for row in rows:
        by_var.setdefault(row.name.split("[", 1)[0], []).append(row)
    keep: set[int] = set()
    for group in by_var.values():
        worst = sorted(
            group,
            key=lambda r: min(
                (c.ess_bulk for c in r.cells if c is not None and not math.isnan(c.ess_bulk)),
                default=math.inf,
            ),
        )
        keep |= {id(r) for r in worst[:COMPACT_ELEMENTS]}
    shown = [r for r in rows if id(r) in keep]
    return shown, len(rows) - len(shown)


def _omitted_line(omitted: int) -> str:
    return (
        f"{omitted} more elements not shown (per variable, the {COMPACT_ELEMENTS} with the "
        "lowest ess_bulk are); --all shows every one"
    )


def render_terminal(console: Console, comparison: Comparison, *, show_all: bool = False) -> None:
    """Headline table, parameter table and LOO table."""
    labels = comparison.labels
    head = Table(title="runs", title_justify="left")
    head.add_column("")
    for label in labels:
        head.add_column(label, justify="right")
    for name, get in HEADLINE:
        cells = [get(r) for r in comparison.runs]
        if name == "verdict":
            styled = [Text(c, style="green" if c == "PASS" else "bold red") for c in cells]
            head.add_row(name, *styled)
        else:
            head.add_row(name, *cells)
    console.print(head)
    params = Table(
        title="parameters (matched by name; ESS ratio to the first run)", title_justify="left"
    )
    params.add_column("parameter")
    params.add_column("stat")
    for label in labels:
        params.add_column(label, justify="right")
    rows, omitted = visible_rows(comparison, show_all=show_all)
    for row in rows:
        cells = [_cell(c) for c in row.cells]
        for i, stat in enumerate(("mean", "sd", "hdi", "ess_bulk")):
            params.add_row(
                row.name if i == 0 else "", stat, *[c[i] for c in cells], end_section=i == 3
            )
    console.print(params)
    if omitted:
        console.print(Text(_omitted_line(omitted), style="dim"))
    if comparison.loo:
        loo = Table(
            title="PSIS-LOO (arviz-stats compare; higher elpd is better)", title_justify="left"
        )
        for h in (
            "rank",
            "run",
            "elpd_loo",
            "se",
            "elpd_diff",
            "dse",
            "p_loo",
            "weight",
            "max Pareto k",
            "checks",
        ):
            loo.add_column(h, justify="right")
        for r in comparison.loo:
            k = Text(fmt(r.max_pareto_k, 2), style="red" if r.bad_pareto_k else "")
            loo.add_row(
                str(r.rank),
                r.label,
                fmt(r.elpd_loo, 2),
                fmt(r.se, 2),
                fmt(r.elpd_diff, 2),
                fmt(r.dse, 2),
                fmt(r.p_loo, 2),
                fmt(r.weight, 2),
                k,
                _checks_cell(r),
            )
        console.print(loo)
        for warning in comparison.warnings:
            console.print(Text("warning: ", style="bold red") + Text(warning, style="red"))
        for warning in comparison.pareto_k_warnings:
            console.print(Text(f"warning: {warning}", style="yellow"))
    elif comparison.loo_skipped:
        console.print(Text(comparison.loo_skipped, style="dim"))
    for note in comparison.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def render_markdown(comparison: Comparison, *, show_all: bool = False) -> str:
    """GitHub-flavoured Markdown tables."""
    labels = comparison.labels
    out = [
        "## hmdiag compare",
        "",
        "| | " + " | ".join(f"`{label}`" for label in labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for name, get in HEADLINE:
        out.append(f"| {name} | " + " | ".join(get(r) for r in comparison.runs) + " |")
    out += [
        "",
        "| parameter | stat | " + " | ".join(f"`{label}`" for label in labels) + " |",
        "|---" * (len(labels) + 2) + "|",
    ]
    rows, omitted = visible_rows(comparison, show_all=show_all)
    for row in rows:
        cells = [_cell(c) for c in row.cells]
        for i, stat in enumerate(("mean", "sd", "hdi", "ess_bulk")):
            out.append(
                f"| {row.name if i == 0 else ''} | {stat} | "
                + " | ".join(c[i] for c in cells)
                + " |"
            )
    if omitted:
        out += ["", f"_{_omitted_line(omitted)}_"]
    if comparison.loo:
        out += [
            "",
            "| rank | run | elpd_loo | se | elpd_diff | dse | weight | max Pareto k | checks |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in comparison.loo:
            checks = "PASS" if r.checks_passed else "**FAIL**: " + ", ".join(r.failed_checks)
            out.append(
                f"| {r.rank} | `{r.label}` | {fmt(r.elpd_loo, 2)} | {fmt(r.se, 2)} | {fmt(r.elpd_diff, 2)} | {fmt(r.dse, 2)} | {fmt(r.weight, 2)} | {fmt(r.max_pareto_k, 2)} | {checks} |"
            )
        out += [f"\n> **warning:** {w}" for w in comparison.warnings]
        out += [f"\n> warning: {w}" for w in comparison.pareto_k_warnings]
    elif comparison.loo_skipped:
        out += ["", f"_{comparison.loo_skipped}_"]
    out += [f"\n> note: {note}" for note in comparison.notes]
    return "\n".join(out) + "\n"
