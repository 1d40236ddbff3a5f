"""Rich terminal renderer: tables for people at a terminal (failures highlighted)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hmdiag.diagnose.checks import percentile
from hmdiag.diagnose.pathologies import Pathology
from hmdiag.diagnose.report import RunReport
from hmdiag.errors import HmdiagError
from hmdiag.model.structure import ModelStructure
from hmdiag.render.text import (
    MODEL_FIT_HEADER,
    TAIL_ESS_NOTE,
    fmt,
    is_bad,
    model_fit_caption,
    model_fit_rows,
    summary_cells,
    visible_parameters,
)

_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "n/a": "dim"}


def make_console(*, stderr: bool = False) -> Console:
    """A console that stays plain when output is not a terminal (pipes, CI logs)."""
    return Console(
        stderr=stderr,
        highlight=False,
        markup=False,
        emoji=False,  # ":b:" in "group a:b:" is a level name, not an emoji code
        soft_wrap=True,
        width=None if sys.stdout.isatty() else 120,
    )


def render_error(console: Console, error: HmdiagError) -> None:
    """A bad-input message: ``error: ...`` plus a hint line, no traceback."""
    console.print(Text("error: ", style="bold red") + Text(error.message))
    if error.hint:
        console.print(Text("  hint: ", style="dim") + Text(error.hint))


def render_internal_error(console: Console, error: BaseException) -> None:
    """An unexpected failure: one line and how to see the traceback."""
    console.print(
        Text("internal error: ", style="bold red")
        + Text(f"{type(error).__name__}: {error}")
        + Text("  (rerun with --debug for the traceback and report it)", style="dim")
    )


def verdict_line(report: RunReport) -> str:
    """One line per run for --quiet and CI logs: ``mme4: PASS`` or ``mme3: FAIL (divergences,
    r_hat)``."""
    return f"{report.diagnosis.label}: {report.verdict.headline}"


def render_verdict_line(console: Console, report: RunReport) -> None:
    """``verdict_line``, green or red."""
    console.print(Text(verdict_line(report), style="green" if report.verdict.passed else "red"))


def render_message(console: Console, message: str, *, style: str | None = None) -> None:
    """A single status line (e.g. "saved runs/mme4.nc")."""
    console.print(Text(message, style=style or ""))


def render_structure(console: Console, structure: ModelStructure, source: Path) -> None:
    """The model as ``hmdiag validate`` sees it: rows, likelihood, parameters, groups."""
    dropped = (
        f", {structure.dropped_missing} dropped for missing values"
        if structure.dropped_missing
        else ""
    )
    console.print(Text(f"{structure.name}: spec and data are valid", style="bold green"))
    console.print(
        f"data: {source} — {structure.n_rows} of {structure.n_rows_read} rows used{dropped}"
    )
    console.print(
        f"likelihood: {structure.response} ~ {structure.likelihood}, link {structure.link}"
    )
    console.print(f"linear predictor: {structure.linear_predictor}")
    table = Table(title="parameters", title_justify="left")
    for column in ("name", "shape", "role", "prior"):
        table.add_column(column)
    for p in structure.parameters:
        table.add_row(p.name, p.shape, p.role, p.prior)
    console.print(table)
    for group in structure.groups:
        counts = "/".join(str(c) for c in group.counts)
        levels = ", ".join(str(v) for v in group.levels[:12]) + (
            " …" if len(group.levels) > 12 else ""
        )
        console.print(
            f"group {group.factor}: {len(group.levels)} levels ({levels}); rows per level {counts}"
        )


def _summary_table(report: RunReport, *, show_all: bool) -> tuple[Table, int]:
    d = report.diagnosis
    low, high = 50 - 50 * d.hdi_prob, 50 + 50 * d.hdi_prob
    table = Table(
        title=f"posterior summary ({100 * d.hdi_prob:g}% HDI; {TAIL_ESS_NOTE})",
        title_justify="left",
    )
    headers = [
        "parameter",
        "mean",
        "sd",
        f"hdi_{low:g}%",
        f"hdi_{high:g}%",
        "mcse_mean",
        "mcse_sd",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    shown, omitted = visible_parameters(report, show_all=show_all)
    for p in shown:
        table.add_row(*summary_cells(p), style="red" if is_bad(p, report) else None)
    return table, omitted


def _chain_table(report: RunReport) -> Table:
    d = report.diagnosis
    target = f" (target {d.target_accept:g})" if d.target_accept is not None else ""
    table = Table(title="per chain", title_justify="left")
    for h in (
        "chain",
        "divergences",
        "tree-depth hits",
        "E-BFMI",
        f"mean accept{target}",
        "step size",
    ):
        table.add_column(h, justify="right")
    t = report.thresholds
    for c in d.chain_stats:
        bad = (c.divergences or 0) > t.max_divergences or (
            c.bfmi is not None and c.bfmi < t.min_bfmi
        )
        table.add_row(
            str(c.chain),
            fmt(c.divergences),
            fmt(c.treedepth_hits),
            fmt(c.bfmi, 2),
            fmt(c.mean_accept, 2),
            fmt(c.step_size),
            style="red" if bad else None,
        )
    if d.divergences_total is not None:
        table.add_row(
            "total", str(d.divergences_total), fmt(d.treedepth_hits_total), "", "", "", style="bold"
        )
    return table


def _checks_table(report: RunReport) -> Table:
    table = Table(title="checks", title_justify="left")
    for h in ("check", "status", "value", "threshold", "detail"):
        table.add_column(h)
    for c in report.verdict.checks:
        table.add_row(
            c.name,
            Text(c.status.upper(), style=_STYLE[c.status]),
            fmt(c.value),
            fmt(c.threshold),
            c.message,
        )
    return table


def _model_fit_table(report: RunReport) -> Table | None:
    caption = model_fit_caption(report)
    if caption is None:
        return None
    table = Table(title=f"model fit ({caption})", title_justify="left")
    for h in MODEL_FIT_HEADER:
        table.add_column(h)
    for row in model_fit_rows(report):
        table.add_row(*row[:-1], Text(row[-1].upper(), style=_STYLE[row[-1]]))
    return table


def _hotspot_table(report: RunReport) -> Table:
    table = Table(
        title="divergence hotspots (divergent vs other draws; transform from the model)",
        title_justify="left",
    )
    for h in ("rank", "parameter", "KS distance", "divergent median at", "transform", "funnel"):
        table.add_column(h)
    for i, h in enumerate(report.diagnosis.hotspots[:5], 1):
        table.add_row(
            str(i),
            h.parameter,
            f"{h.score:.2f}",
            percentile(h.quantile),
            h.transform,
            Text("yes", style="bold red") if h.funnel else Text(""),
        )
    return table


def _render_pathologies(console: Console, pathologies: list[Pathology], *, passed: bool) -> None:
    if not pathologies:
        return
    lead = "but the posterior shows" if passed else "diagnosis"
    console.print(Text(f"{lead}:", style="bold"))
    for p in pathologies:
        console.print(
            Text(f"  ✗ {p.title}", style="bold magenta")
            + Text(f" at {p.where}")
            + Text(f"\n    evidence: {p.evidence}", style="dim")
            + Text(f"\n    meaning: {p.meaning}")
            + (
                Text("\n    no sampler setting can fix this", style="yellow")
                if not p.sampler_fixable
                else Text("")
            )
        )


def render_report(console: Console, report: RunReport, *, show_all: bool = False) -> None:
    """Summary, per-chain stats, checks, hotspots, verdict and advice for one run."""
    d, v = report.diagnosis, report.verdict
    table, omitted = _summary_table(report, show_all=show_all)
    console.print(table)
    if omitted:
        console.print(Text(f"  … {omitted} more elements not shown (use --all)", style="dim"))
    console.print(_chain_table(report))
    console.print(_checks_table(report))
    fit_table = _model_fit_table(report)
    if fit_table is not None:
        console.print(fit_table)
    if d.hotspots:
        console.print(_hotspot_table(report))
    for note in d.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    if d.hidden_variables:
        console.print(
            Text(f"hidden sampler-internal variables: {', '.join(d.hidden_variables)}", style="dim")
        )
    seconds = f"; {d.sampling_seconds:.1f} s sampling" if d.sampling_seconds else ""
    rate = f", min ESS/s {d.min_ess_per_second:.0f}" if d.min_ess_per_second else ""
    device = f" on {d.device}" if d.device else ""
    console.print(
        f"{d.label}: {d.chains} chains x {d.draws} draws, sampler {d.sampler}{device}{seconds}{rate}"
    )
    if v.passed and v.not_assessed:
        console.print(
            Text(
                f"verdict: {v.headline} — the other checks passed for {d.label}",
                style="bold green",
            )
        )
    elif v.passed and any(c.name == "model_fit" and c.status == "warn" for c in v.checks):
        console.print(
            Text(
                f"verdict: PASS — the sampling checks passed for {d.label}, but the model does "
                "not fit the data (model_fit: WARN; --fail-on-misfit makes it fail)",
                style="bold yellow",
            )
        )
    elif v.passed:
        console.print(Text(f"verdict: PASS — all checks passed for {d.label}", style="bold green"))
    else:
        names = ", ".join(c.name for c in v.failed())
        console.print(Text(f"verdict: FAIL — {names}", style="bold red"))
    _render_pathologies(console, v.pathologies, passed=v.passed)
    if v.advice:
        console.print(Text("advice:", style="bold"))
    for i, advice in enumerate(v.advice, 1):
        console.print(
            Text(f"  {i}. ", style="bold")
            + Text(advice.action)
            + Text(f"\n     why: {advice.reason}", style="dim")
        )
