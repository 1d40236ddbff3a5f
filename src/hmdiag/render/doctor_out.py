"""Renderers for ``hmdiag doctor``: the attempts table, the fixed spec and its diff."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hmdiag import _views
from hmdiag.diagnose.report import SCHEMA_VERSION, json_ready, pathology_to_dict
from hmdiag.render.text import fmt

if TYPE_CHECKING:
    from hmdiag.workflows.doctor import Attempt, DoctorResult


def attempt_numbers(attempt: Attempt) -> dict[str, Any]:
    """The headline numbers of one attempt."""
    d = attempt.report.diagnosis
    rhat = [p.r_hat for p in d.parameters if math.isfinite(p.r_hat)]
    ess = [
        min(p.ess_bulk, p.ess_tail)
        for p in d.parameters
        if math.isfinite(p.ess_bulk) and math.isfinite(p.ess_tail)
    ]
    return {
        "divergences": d.divergences_total,
        "max_rhat": max(rhat) if rhat else None,
        "min_ess": min(ess) if ess else None,
        "ess_per_second": d.min_ess_per_second,
        "seconds": attempt.report.info.wall_seconds,
        "verdict": attempt.report.verdict.label,
    }


def render_attempt_line(console: Console, attempt: Attempt) -> None:
    """One progress line as each attempt finishes."""
    n = attempt_numbers(attempt)
    style = "green" if attempt.passed else "red"
    console.print(
        Text(f"attempt {attempt.number}: {attempt.change} -> ", style="bold")
        + Text(n["verdict"].upper(), style=style)
        + Text(
            f" ({fmt(n['divergences'])} divergences, max r_hat {fmt(n['max_rhat'])}, min ESS {fmt(n['min_ess'], 0)})"
        )
    )


def render_terminal(
    console: Console, result: DoctorResult, fixed_path: Any, diff: str | None
) -> None:
    """Attempts table, the reason for each change, and the outcome."""
    table = Table(title="doctor attempts", title_justify="left")
    for h in (
        "attempt",
        "change",
        "divergences",
        "max r_hat",
        "min ESS",
        "ESS/s",
        "seconds",
        "verdict",
    ):
        table.add_column(h, justify="left" if h == "change" else "right")
    for a in result.attempts:
        n = attempt_numbers(a)
        verdict = Text(n["verdict"].upper(), style="green" if a.passed else "bold red")
        table.add_row(
            str(a.number),
            a.change,
            fmt(n["divergences"]),
            fmt(n["max_rhat"]),
            fmt(n["min_ess"], 0),
            fmt(n["ess_per_second"], 1),
            fmt(n["seconds"], 1),
            verdict,
        )
    console.print(table)
    for a in result.attempts[1:]:
        console.print(Text(f"why attempt {a.number}: ", style="bold") + Text(a.reason))
    for p in result.caveats():
        console.print(
            Text(
                f"no sampler change fixes the {p.title} at {p.where}: ",
                style="bold yellow",
            )
            + Text(p.meaning)
            + Text(f"\n  next: {p.remedies[0].action}" if p.remedies else "", style="dim")
        )
    if result.fixed is None:
        console.print(Text(f"no passing spec: {result.stopped_because}", style="bold red"))
        return
    if result.fixed.number == 1:
        if result.caveats():
            console.print(
                Text(
                    "the spec passes its checks as written; no change the doctor can make "
                    "fixed what is named above",
                    style="bold yellow",
                )
            )
        else:
            console.print(Text("the spec passes as written; nothing to fix", style="bold green"))
        return
    console.print(Text(f"passing spec written to {fixed_path}", style="bold green"))
    if diff:
        console.print(Text(diff))


@_views.register("doctor.dict")
def result_to_dict(result: DoctorResult, fixed_path: Any, diff: str | None) -> dict[str, Any]:
    """The JSON document for ``doctor --json``."""
    return json_ready(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "doctor",
            "passed": result.fixed is not None,
            "fixed_at_attempt": result.fixed.number if result.fixed else None,
            "fixed_config": str(fixed_path) if fixed_path else None,
            "diff": diff,
            "stopped_because": result.stopped_because,
            "attempts": [
                {
                    "attempt": a.number,
                    "change": a.change,
                    "reason": a.reason,
                    "run": str(a.run_path) if a.run_path else None,
                    **attempt_numbers(a),
                    "failed_checks": [c.name for c in a.report.verdict.failed()],
                    "pathologies": [p.kind for p in a.report.verdict.pathologies],
                }
                for a in result.attempts
            ],
            "caveats": [pathology_to_dict(p) for p in result.caveats()],
        }
    )
