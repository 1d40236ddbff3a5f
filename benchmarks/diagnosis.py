"""`make bench-diagnosis`: does hmdiag name the right pathology on models it has never seen?

Runs the simulated cases of benchmarks/diagnosis_cases/ (known truth, fixed seeds, 4 chains x
1000 draws after 1000 tuning steps (hmdiag's defaults), one fit at a time) through the Python API: ``hmdiag.fit``,
or ``hmdiag.doctor`` for the cases a sampler or likelihood change should repair. Scores each
case (named right / named wrong / missed; a healthy model: ok or false alarm), prints the
confusion table and writes its section of benchmarks/results.md (between the bench-diagnosis
markers; `make bench` keeps it). Nothing here asserts a number.

    python benchmarks/diagnosis.py                      # every case (~15 min on 2 cores)
    python benchmarks/diagnosis.py --cases funnel_logit_4g,healthy_logistic --no-write
    python benchmarks/diagnosis.py --quick              # 300 + 300 draws, no results.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagnosis_cases import BY_NAME, CASES, ENTRIES, Outcome, run_case
from scale import write_section

BEGIN, END = "<!-- bench-diagnosis: begin -->", "<!-- bench-diagnosis: end -->"
GOALS = {"named_right": 0.9, "false_alarms": 0, "repaired": 0.9}


def pct(k: int, n: int) -> str:
    return f"{k}/{n} ({k / n:.0%})" if n else "0/0"


def render(outcomes: list[Outcome], seconds: float, quick: bool) -> str:
    """The results.md section: the confusion table, the goals, and one row per case."""
    sick = [o for o in outcomes if o.case.expected is not None]
    healthy = [o for o in outcomes if o.case.expected is None]
    repairable = [o for o in outcomes if o.repaired is not None]
    right = sum(o.score == "right" for o in sick)
    alarms = sum(o.score == "false_alarm" for o in healthy)
    repaired = sum(bool(o.repaired) for o in repairable)
    draws = "300 + 300 (--quick)" if quick else "1000 + 1000"
    lines = [
        BEGIN,
        "## Diagnosis on unseen simulated cases (`make bench-diagnosis`)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s on {os.cpu_count()} "
        f"cores ({platform.machine()}): {len(outcomes)} cases from "
        "benchmarks/diagnosis_cases/ (data simulated with numpy from fixed seeds; no gallery "
        f"spec), nutpie, 4 chains x {draws} draws, one fit at a time. A case is named right "
        "when its entry is among those named (first: it is named first).",
        "",
        "| expected entry | cases | named right (first) | named wrong | missed | doctor repaired |",
        "|---|---|---|---|---|---|",
    ]
    for entry in (*ENTRIES, None):
        rows = [o for o in outcomes if o.case.expected == entry]
        if not rows:
            continue
        fixable = [o for o in rows if o.repaired is not None]
        fixed = f"{sum(bool(o.repaired) for o in fixable)}/{len(fixable)}" if fixable else "-"
        if entry is None:
            ok = sum(o.score == "ok" for o in rows)
            lines.append(
                f"| (healthy) | {len(rows)} | {ok} ok | {len(rows) - ok} false alarms | - | - |"
            )
            continue
        lines.append(
            f"| `{entry}` | {len(rows)} | {sum(o.score == 'right' for o in rows)} "
            f"({sum(o.first for o in rows)}) | {sum(o.score == 'wrong' for o in rows)} | "
            f"{sum(o.score == 'missed' for o in rows)} | {fixed} |"
        )
    lines += [
        "",
        "| goal | result | met |",
        "|---|---|---|",
        f"| named right >= 90% of pathology cases | {pct(right, len(sick))} | "
        f"{'yes' if sick and right / len(sick) >= GOALS['named_right'] else 'no'} |",
        f"| false alarms = 0 on healthy models | {alarms} of {len(healthy)} | "
        f"{'yes' if alarms == 0 else 'no'} |",
        f"| doctor repairs >= 90% of repairable cases | {pct(repaired, len(repairable))} | "
        f"{'yes' if repairable and repaired / len(repairable) >= GOALS['repaired'] else 'no'} |",
        "",
        "A repair counts when the doctor's first attempt named the expected entry and its "
        "passing attempt names it no longer (nor anything else but prior_dominated).",
        "",
        "<details><summary>Per case</summary>",
        "",
        "| case | expected | generator | named | score | failed checks | seconds | doctor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        doctor = "-"
        if o.repaired is not None:
            doctor = (
                f"{'repaired' if o.repaired else 'not repaired'} in {o.attempts}: {o.doctor_note}"
            )
        lines.append(
            f"| {o.case.name} | {o.case.expected or '(none)'} | {o.case.generator} | "
            f"{', '.join(o.named) or '-'} | {o.score}{' (first)' if o.first else ''} | "
            f"{', '.join(o.failed_checks) or '-'} | {o.seconds:.1f} | {doctor.replace('|', '/')} |"
        )
    lines += ["", "</details>", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--quick", action="store_true", help="300 + 300 draws; no results.md")
    parser.add_argument("--no-doctor", action="store_true", help="fit only, no doctor runs")
    parser.add_argument("--no-write", action="store_true", help="do not write results.md")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    cases = CASES
    if args.cases:
        unknown = [n for n in args.cases.split(",") if n not in BY_NAME]
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}; see --list")
        cases = [BY_NAME[n] for n in args.cases.split(",")]
    if args.list:
        for c in cases:
            print(f"{c.name:32} {c.expected or '(healthy)':26} {c.repairable!s:6} {c.generator}")
        return 0
    started = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="hmdiag-diagnosis-") as tmp:
        for c in cases:
            o = run_case(c, Path(tmp), quick=args.quick, doctor=not args.no_doctor)
            outcomes.append(o)
            extra = (
                f"; doctor {'repaired' if o.repaired else 'no'}: {o.doctor_note}"
                if o.repaired is not None
                else ""
            )
            print(
                f"{c.name:32} expected {c.expected or '-':24} named {','.join(o.named) or '-':30} "
                f"{o.score:11} {o.seconds:6.1f} s{extra}",
                flush=True,
            )
    section = render(outcomes, time.perf_counter() - started, args.quick)
    print(section)
    if not (args.quick or args.no_write or args.cases):
        write_section(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
