"""Markdown renderer, for CI job summaries and pull-request comments."""

from __future__ import annotations

from hmdiag.diagnose.report import RunReport
from hmdiag.diagnose.verdict import Verdict
from hmdiag.render.text import (
    MODEL_FIT_HEADER,
    TAIL_ESS_NOTE,
    fmt,
    model_fit_caption,
    model_fit_rows,
    param_rows,
)

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "n/a": "➖"}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def render_report(report: RunReport, *, show_all: bool = False) -> str:
    """One run's verdict, checks, advice, hotspots and summary as GitHub-flavoured Markdown."""
    d, v = report.diagnosis, report.verdict
    out = [f"## hmdiag: `{d.label}` — {'PASS ✅' if v.passed else 'FAIL ❌'}{_not_assessed(v)}", ""]
    seconds = f", {d.sampling_seconds:.1f} s sampling" if d.sampling_seconds else ""
    device = f" on {d.device}" if d.device else ""
    out += [f"{d.chains} chains × {d.draws} draws, sampler `{d.sampler}`{device}{seconds}.", ""]
    out += _table(
        ["check", "status", "value", "threshold", "detail"],
        [
            [c.name, f"{_ICON[c.status]} {c.status}", fmt(c.value), fmt(c.threshold), c.message]
            for c in v.checks
        ],
    )
    caption = model_fit_caption(report)
    if caption is not None:
        out += ["", f"**Model fit** ({caption})", ""]
        rows = [[*r[:-1], f"{_ICON[r[-1]]} {r[-1]}"] for r in model_fit_rows(report)]
        out += _table(MODEL_FIT_HEADER, rows)
    if v.pathologies:
        out += ["", "**Diagnosis**", ""]
        out += _table(
            ["pathology", "where", "evidence", "meaning"],
            [[p.title, p.where, p.evidence, p.meaning] for p in v.pathologies],
        )
    if v.advice:
        out += ["", "**Advice**", ""] + [
            f"{i}. {a.action} — {a.reason}" for i, a in enumerate(v.advice, 1)
        ]
    if d.hotspots:
        out += [
            "",
            "**Divergence hotspots** (KS distance, divergent vs other draws; transform from the model)",
            "",
        ]
        out += _table(
            ["parameter", "score", "divergent median percentile", "transform", "funnel"],
            [
                [
                    h.parameter,
                    f"{h.score:.2f}",
                    f"{100 * h.quantile:.0f}",
                    h.transform,
                    "yes" if h.funnel else "",
                ]
                for h in d.hotspots[:5]
            ],
        )
    out += ["", f"**Posterior summary** ({100 * d.hdi_prob:g}% HDI; {TAIL_ESS_NOTE})", ""]
    header = [
        "parameter",
        "mean",
        "sd",
        "hdi_low",
        "hdi_high",
        "mcse_mean",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    rows, omitted = param_rows(report, show_all=show_all)
    out += _table(header, rows)
    if omitted:
        out += ["", f"_{omitted} more elements not shown (use --all)._"]
    for note in d.notes:
        out += ["", f"> {note}"]
    return "\n".join(out) + "\n"


def _not_assessed(verdict: Verdict) -> str:
    """`` (not assessed: r_hat)`` after a pass that could not compute every check."""
    if not verdict.passed or not verdict.not_assessed:
        return ""
    return f" (not assessed: {', '.join(verdict.not_assessed)})"
