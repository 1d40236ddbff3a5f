"""A self-contained HTML report (inline CSS and PNGs, no network) for CI artifacts."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmdiag import _views
from hmdiag._version import __version__
from hmdiag.diagnose.checks import percentile
from hmdiag.diagnose.report import RunReport
from hmdiag.render.compare_out import HEADLINE, _cell
from hmdiag.render.text import (
    MODEL_FIT_HEADER,
    TAIL_ESS_NOTE,
    fmt,
    is_bad,
    model_fit_caption,
    model_fit_rows,
    param_rows,
)

if TYPE_CHECKING:
    from hmdiag.workflows.compare import Comparison

CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d232b;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#aab4c0;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:20px 32px 48px}
section{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 10px;font-size:18px}h3{margin:18px 0 8px;font-size:15px}
table{border-collapse:collapse;width:100%;margin:6px 0 4px;font-size:13px}
th,td{border-bottom:1px solid #eceff2;padding:5px 8px;text-align:right;white-space:nowrap}
th{background:#f1f3f5;font-weight:600}th:first-child,td:first-child{text-align:left}
td.msg{text-align:left;white-space:normal}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-weight:700;font-size:12px;color:#fff}
.pass{background:#1f883d}.fail{background:#cf222e}.warn{background:#bf8700}.na{background:#8c959f}
tr.bad td{background:#fff1f0}
.alert{border-left:4px solid #cf222e;background:#fff1f0;padding:8px 12px;margin:8px 0;border-radius:4px}
.alert.pareto{border-left-color:#bf8700;background:#fff8e5}
ol.advice li{margin:4px 0}ol.advice .why{color:#57606a;font-size:12.5px}
.figs{display:flex;flex-wrap:wrap;gap:14px}.figs figure{margin:0;flex:1 1 460px;max-width:100%}
.figs img{max-width:100%;border:1px solid #eceff2;border-radius:4px}
figcaption{font-size:12px;color:#57606a}
"""

_BADGE = {"pass": "pass", "fail": "fail", "warn": "warn", "n/a": "na"}


def _e(text: object) -> str:
    return html.escape(str(text))


def _badge(status: str) -> str:
    return f'<span class="badge {_BADGE.get(status, "na")}">{_e(status.upper())}</span>'


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(text: object, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>"


def image_tag(png: bytes, alt: str) -> str:
    """An inline ``<img>`` with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"><figcaption>{_e(alt)}</figcaption></figure>'


def _run_section(report: RunReport, images: list[tuple[str, bytes]], figures: str = "") -> str:
    d, v = report.diagnosis, report.verdict
    parts = [f"<section><h2>{_e(d.label)} {_badge(v.label)}</h2>"]
    seconds = f", {d.sampling_seconds:.1f} s sampling" if d.sampling_seconds else ""
    device = f" on {d.device}" if d.device else ""
    source = f"; file {report.source}" if report.source else ""
    parts.append(
        f"<p>{d.chains} chains × {d.draws} draws, sampler {_e(d.sampler)}{_e(device)}{_e(seconds)}{_e(source)}</p>"
    )
    parts.append("<h3>Checks</h3>")
    rows = [
        [
            _td(c.name),
            f"<td>{_badge(c.status)}</td>",
            _td(fmt(c.value)),
            _td(fmt(c.threshold)),
            _td(c.message, "msg"),
        ]
        for c in v.checks
    ]
    parts.append(_table(["check", "status", "value", "threshold", "detail"], rows))
    caption = model_fit_caption(report)
    if caption is not None:
        parts.append(f"<h3>Model fit</h3><p>{_e(caption)}</p>")
        rows = [
            [*(_td(cell) for cell in r[:-1]), f"<td>{_badge(r[-1])}</td>"]
            for r in model_fit_rows(report)
        ]
        parts.append(_table(MODEL_FIT_HEADER, rows))
    if v.pathologies:
        rows = [
            [
                _td(p.title),
                _td(p.where),
                _td(p.evidence, "msg"),
                _td(p.meaning, "msg"),
            ]
            for p in v.pathologies
        ]
        parts.append("<h3>Diagnosis</h3>")
        parts.append(_table(["pathology", "where", "evidence", "meaning"], rows))
    if v.advice:
        items = "".join(
            f'<li>{_e(a.action)}<br><span class="why">why: {_e(a.reason)}</span></li>'
            for a in v.advice
        )
        parts.append(f'<h3>Advice</h3><ol class="advice">{items}</ol>')
    if d.hotspots:
        parts.append(
            "<h3>Divergence hotspots</h3><p>Kolmogorov–Smirnov distance between divergent and other draws; the transform is the model's.</p>"
        )
        rows = [
            [
                _td(h.parameter),
                _td(f"{h.score:.2f}"),
                _td(percentile(h.quantile)),
                _td(h.transform),
                _td("funnel" if h.funnel else ""),
            ]
            for h in d.hotspots[:5]
        ]
        parts.append(
            _table(["parameter", "KS distance", "divergent median at", "transform", ""], rows)
        )
    rows_text, omitted = param_rows(report, show_all=False)
    shown = [p for p in d.parameters if p.name in {r[0] for r in rows_text}]
    classes = ["bad" if is_bad(p, report) else "" for p in shown]
    parts.append(f"<h3>Posterior summary ({100 * d.hdi_prob:g}% HDI; {TAIL_ESS_NOTE})</h3>")
    parts.append(
        _table(
            [
                "parameter",
                "mean",
                "sd",
                "hdi low",
                "hdi high",
                "mcse_mean",
                "ess_bulk",
                "ess_tail",
                "r_hat",
            ],
            [[_td(c) for c in r] for r in rows_text],
            classes,
        )
    )
    if omitted:
        parts.append(f"<p>{omitted} more elements not shown.</p>")
    per_chain = [
        [
            _td(c.chain),
            _td(fmt(c.divergences)),
            _td(fmt(c.treedepth_hits)),
            _td(fmt(c.bfmi, 2)),
            _td(fmt(c.mean_accept, 2)),
            _td(fmt(c.step_size)),
        ]
        for c in d.chain_stats
    ]
    parts.append(
        "<h3>Per chain</h3>"
        + _table(
            ["chain", "divergences", "tree-depth hits", "E-BFMI", "mean accept", "step size"],
            per_chain,
        )
    )
    if images:
        parts.append(
            '<h3>Figures</h3><div class="figs">'
            + "".join(image_tag(png, alt) for alt, png in images)
            + "</div>"
        )
    if figures:
        parts.append(f'<h3>Interactive figures</h3><div class="bokeh">{figures}</div>')
    parts.append("</section>")
    return "".join(parts)


def _comparison_section(comparison: Comparison, images: list[tuple[str, bytes]]) -> str:
    labels = comparison.labels
    parts = ["<section><h2>Comparison</h2>"]
    rows = [
        [
            _td(name),
            *[
                (f"<td>{_badge(r.verdict)}</td>" if name == "verdict" else _td(get(r)))
                for r in comparison.runs
            ],
        ]
        for name, get in HEADLINE
    ]
    parts.append(_table(["", *labels], rows))
    prow = []
    for row in comparison.parameters:
        cells = [_cell(c) for c in row.cells]
        for i, stat in enumerate(("mean", "sd", "hdi", "ess_bulk")):
            prow.append([_td(row.name if i == 0 else ""), _td(stat), *[_td(c[i]) for c in cells]])
    parts.append(
        "<h3>Parameters matched by name (ESS ratio to the first run)</h3>"
        + _table(["parameter", "stat", *labels], prow)
    )
    if comparison.loo:
        rows = [
            [
                _td(r.rank),
                _td(r.label),
                _td(fmt(r.elpd_loo, 2)),
                _td(fmt(r.se, 2)),
                _td(fmt(r.elpd_diff, 2)),
                _td(fmt(r.weight, 2)),
                _td(fmt(r.max_pareto_k, 2)),
                f"<td>{_badge('pass' if r.checks_passed else 'fail')}</td>",
            ]
            for r in comparison.loo
        ]
        header = ["rank", "run", "elpd_loo", "se", "elpd_diff", "weight", "max Pareto k", "checks"]
        parts.append("<h3>PSIS-LOO</h3>")
        parts += [
            f'<p class="alert"><strong>Warning:</strong> {_e(w)}</p>' for w in comparison.warnings
        ]
        parts += [
            f'<p class="alert pareto"><strong>Warning:</strong> {_e(w)}</p>'
            for w in comparison.pareto_k_warnings
        ]
        parts.append(
            _table(header, rows, ["" if r.checks_passed else "bad" for r in comparison.loo])
        )
    elif comparison.loo_skipped:
        parts.append(f"<p>{_e(comparison.loo_skipped)}</p>")
    if images:
        parts.append(
            '<div class="figs">' + "".join(image_tag(png, alt) for alt, png in images) + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_report(
    reports: list[RunReport],
    run_images: list[list[tuple[str, bytes]]],
    comparison: Comparison | None = None,
    comparison_images: list[tuple[str, bytes]] | None = None,
    *,
    head: str = "",
    run_figures: list[str] | None = None,
) -> str:
    """The whole HTML document; ``head`` (inlined scripts) and ``run_figures`` (one HTML
    fragment per run) carry the interactive report's figures."""
    verdicts = ", ".join(f"{r.diagnosis.label}: {r.verdict.label.upper()}" for r in reports)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<header><h1>hmdiag report</h1><p>{_e(verdicts)} · hmdiag {__version__} · {stamp}</p></header><main>"
    ]
    if comparison is not None:
        body.append(_comparison_section(comparison, comparison_images or []))
    figures = run_figures or [""] * len(reports)
    body += [
        _run_section(r, imgs, fig)
        for r, imgs, fig in zip(reports, run_images, figures, strict=True)
    ]
    body.append("</main>")
    return f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>hmdiag report</title><style>{CSS}</style>{head}</head><body>{"".join(body)}</body></html>\n'


def _scoped_css() -> str:
    """The report's CSS with every rule confined to ``.hmdiag`` (a notebook page is not ours)."""
    rules = []
    for rule in CSS.split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        scoped = []
        for selector in selectors.split(","):
            selector = selector.strip()
            if selector in ("body", "html"):
                scoped.append(".hmdiag")
            elif selector not in ("header", "main") and not selector.startswith("header "):
                scoped.append(f".hmdiag {selector}")
        if scoped:
            rules.append(f"{','.join(scoped)}{{{body}}}")
    return "".join(rules)


@_views.register("run.html")
def notebook_fragment(reports: list[RunReport], comparison: Comparison | None = None) -> str:
    """Jupyter's ``_repr_html_``: the report's sections without plots, styles scoped to the
    fragment."""
    parts = [f'<div class="hmdiag"><style>{_scoped_css()}</style>']
    if comparison is not None:
        parts.append(_comparison_section(comparison, []))
    parts += [_run_section(r, []) for r in reports]
    parts.append("</div>")
    return "".join(parts)


@_views.register("doctor.html")
def doctor_fragment(result: Any) -> str:
    """Jupyter's view of a ``DoctorResult``: the attempts, then the last attempt's section."""
    rows = []
    for a in result.attempts:
        d = a.report.diagnosis
        failed = ", ".join(c.name for c in a.report.verdict.failed()) or "none"
        rows.append(
            [
                _td(a.number),
                _td(a.change, "msg"),
                f"<td>{_badge(a.report.verdict.label)}</td>",
                _td(fmt(d.divergences_total)),
                _td(failed, "msg"),
                _td(a.reason, "msg"),
            ]
        )
    if result.fixed is not None:
        outcome = f"passing spec found at attempt {result.fixed.number}"
    else:
        outcome = f"no passing spec: {result.stopped_because or 'attempts ran out'}"
    parts = [
        f'<div class="hmdiag"><style>{_scoped_css()}</style>',
        f"<section><h2>hmdiag doctor</h2><p>{_e(outcome)}</p>",
        _table(["attempt", "change", "verdict", "divergences", "failed checks", "why"], rows),
        "</section>",
    ]
    if result.attempts:
        parts.append(_run_section(result.attempts[-1].report, []))
    parts.append("</div>")
    return "".join(parts)
