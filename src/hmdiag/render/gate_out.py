"""The regression gate of ``hmdiag compare --baseline``: terminal and Markdown tables, GitHub
annotations and JUnit test suites (one test case per parameter)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hmdiag.render.ci import _DATA_ESCAPES, _PROPERTY_ESCAPES, _escape
from hmdiag.render.text import fmt

if TYPE_CHECKING:
    from hmdiag.workflows.regression import ParameterShift, RegressionGate

# Rows shown without --all: every failing parameter, then the largest shifts.
SHOWN_ROWS = 12

HEADER = ("parameter", "baseline", "run", "shift (sds)", "sd ratio", "ESS/s", "status")


def _limits(gate: RegressionGate) -> str:
    parts = []
    if gate.fail_on_shift is not None:
        parts.append(f"shift > {gate.fail_on_shift:g} sds beyond 1.96 MCSE")
    if gate.fail_on_ess_drop is not None:
        parts.append(f"ESS/s drop >= {100 * gate.fail_on_ess_drop:.0f}%")
    return "; ".join(parts) or "no limits set (--fail-on-shift, --fail-on-ess-drop): report only"


def _status(p: ParameterShift) -> str:
    return "FAIL" if p.failed else "ok"


def gate_rows(gate: RegressionGate, *, show_all: bool) -> tuple[list[list[str]], int]:
    """The table rows (``HEADER``), failing parameters first, and how many were left out."""
    ordered = sorted(gate.parameters, key=lambda p: (not p.failed, -abs(p.shift_sds)))
    shown = ordered if show_all else ordered[: max(SHOWN_ROWS, len(gate.failures))]
    rows = []
    for p in shown:
        ess = (
            f"{fmt(p.base_ess_per_second, 1)} -> {fmt(p.ess_per_second, 1)} "
            f"({100 * p.ess_change:+.0f}%)"
            if p.ess_change is not None
            else "n/a (no sampling time)"
        )
        rows.append(
            [
                p.name,
                f"{p.base_mean:.4g} ({p.base_sd:.3g})",
                f"{p.mean:.4g} ({p.sd:.3g})",
                f"{p.shift_sds:+.2f} ± {p.mcse_sds:.2f}",
                f"{p.sd_ratio:.2f}",
                ess,
                _status(p),
            ]
        )
    return rows, len(ordered) - len(shown)


def _title(gate: RegressionGate) -> str:
    verdict = "PASS" if gate.passed else f"FAIL ({len(gate.failures)} parameters)"
    return f"baseline {gate.baseline} -> {gate.run}: {verdict}; limits: {_limits(gate)}"


def render_gates_terminal(
    console: Console, gates: Sequence[RegressionGate], *, show_all: bool = False
) -> None:
    """One table per gated run; mean (sd) per run, shift ± its MCSE in baseline sds."""
    for gate in gates:
        table = Table(title=_title(gate), title_justify="left")
        for h in HEADER:
            table.add_column(h, justify="left" if h == "parameter" else "right")
        rows, omitted = gate_rows(gate, show_all=show_all)
        for row in rows:
            status = Text(row[-1], style="bold red" if row[-1] == "FAIL" else "green")
            table.add_row(*row[:-1], status)
        console.print(table)
        if omitted:
            console.print(Text(f"{omitted} more parameters within limits; --all shows them"))
        for line in unmatched_notes(gate):
            console.print(Text(f"note: {line}", style="yellow"))


def unmatched_notes(gate: RegressionGate) -> list[str]:
    """Parameters only one of the two runs has (not gated), a few named."""
    out = []
    for names, where in ((gate.only_baseline, "the baseline"), (gate.only_run, gate.run)):
        if names:
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            out.append(f"{len(names)} parameter(s) only in {where}, not gated: {shown}")
    return out


def render_gates_markdown(gates: Sequence[RegressionGate], *, show_all: bool = False) -> str:
    """The same tables in Markdown."""
    out = []
    for gate in gates:
        out += [f"### {_title(gate)}", "", "| " + " | ".join(HEADER) + " |"]
        out.append("|" + "---|" * len(HEADER))
        rows, omitted = gate_rows(gate, show_all=show_all)
        out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
        if omitted:
            out.append(f"\n{omitted} more parameters within limits.")
        out += [f"\n> note: {line}" for line in unmatched_notes(gate)]
        out.append("")
    return "\n".join(out)


def github_gate_annotations(gates: Sequence[RegressionGate]) -> list[str]:
    """One ``::error`` per parameter that fails its gate."""
    lines = []
    for gate in gates:
        for p in gate.failures:
            title = f"hmdiag baseline {gate.run}: {p.name}"
            lines.append(
                f"::error title={_escape(title, _PROPERTY_ESCAPES)}::"
                f"{_escape(failure_text(gate, p), _DATA_ESCAPES)}"
            )
    return lines


def junit_gate_suites(gates: Sequence[RegressionGate]) -> list[Any]:
    """A ``<testsuite>`` per gated run, a ``<testcase>`` per parameter (classname
    ``hmdiag.baseline.<run>``), with a ``<failure>`` where it fails the gate."""
    suites = []
    for gate in gates:
        suite = ET.Element(
            "testsuite",
            name=f"baseline {gate.baseline} -> {gate.run}",
            tests=str(len(gate.parameters)),
            failures=str(len(gate.failures)),
            errors="0",
            skipped="0",
        )
        for p in gate.parameters:
            case = ET.SubElement(
                suite, "testcase", name=p.name, classname=f"hmdiag.baseline.{gate.run}"
            )
            if p.failed:
                text = failure_text(gate, p)
                ET.SubElement(case, "failure", message=text, type="baseline").text = text
        suites.append(suite)
    return suites


def failure_text(gate: RegressionGate, p: ParameterShift) -> str:
    """One line per failing parameter, for messages and CI annotations."""
    parts = []
    if p.shifted:
        parts.append(
            f"posterior mean moved {p.shift_sds:+.2f} baseline sds ({p.base_mean:.4g} -> "
            f"{p.mean:.4g}; MCSE {p.mcse_sds:.2f} sds; limit {gate.fail_on_shift:g})"
        )
    if p.ess_dropped and p.ess_change is not None:
        parts.append(
            f"ESS/s fell {-100 * p.ess_change:.0f}% ({p.base_ess_per_second:.3g} -> "
            f"{p.ess_per_second:.3g}; limit {100 * (gate.fail_on_ess_drop or 0):.0f}%)"
        )
    return f"{p.name}: " + "; ".join(parts)
