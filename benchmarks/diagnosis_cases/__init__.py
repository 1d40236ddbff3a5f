"""Simulated cases with known truth for `make bench-diagnosis` (benchmarks/diagnosis.py).

Each case simulates its data with numpy from its own fixed seed, writes a spec and a CSV to a
folder, and declares the catalog entry hmdiag should name (None: a healthy model, nothing
should be named) and whether the doctor should repair it. None reuses a gallery spec
(configs/pathologies/) or its data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagnosis_cases import estimates, geometry, healthy, misfit  # noqa: F401  (they register)
from diagnosis_cases._registry import GENERATORS

ENTRIES = (
    "funnel",
    "ridge",
    "boundary",
    "prior_dominated",
    "prior_data_conflict",
    "stuck_chain",
    "multimodal",
    "treedepth_saturation",
    "influential_observations",
    "overdispersion",
    "misfit",
)


@dataclass(frozen=True)
class Case:
    """One simulated case: its generator, the entry it should get named, and the doctor's job."""

    name: str
    expected: str | None
    generator: str
    repairable: bool
    build: Callable[[], tuple[dict[str, Any], dict[str, Any]]] = field(repr=False)

    def write(self, folder: Path) -> Path:
        """The spec (YAML) and its data (CSV) in ``folder``; returns the spec's path."""
        import pandas as pd
        import yaml

        spec, columns = self.build()
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(columns).to_csv(folder / f"{self.name}.csv", index=False)
        spec = {"name": self.name, "data": {"path": f"{self.name}.csv"}, **spec}
        path = folder / f"{self.name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path


# In catalog order, the healthy models last (each module registers its cases in file order).
CASES: list[Case] = sorted(
    (
        Case(name, expected, description, repairable, build)
        for name, (expected, description, repairable, build) in GENERATORS.items()
    ),
    key=lambda c: ENTRIES.index(c.expected) if c.expected else len(ENTRIES),
)
BY_NAME = {c.name: c for c in CASES}


@dataclass
class Outcome:
    """What hmdiag said on one case, scored against the case's truth."""

    case: Case
    named: list[str]
    passed: bool
    seconds: float
    attempts: int = 1
    repaired: bool | None = None
    doctor_note: str = ""
    failed_checks: list[str] = field(default_factory=list)

    @property
    def score(self) -> str:
        """right | wrong | missed (a pathology case); ok | false_alarm (a healthy one)."""
        expected = self.case.expected
        if expected is None:
            return "false_alarm" if self.named or not self.passed else "ok"
        if expected in self.named:
            return "right"
        return "wrong" if self.named else "missed"

    @property
    def first(self) -> bool:
        """Whether the expected entry is the first named."""
        return bool(self.named) and self.named[0] == self.case.expected


DRAWS = {"quick": (300, 300), "default": (1000, 1000)}


def sampler_settings(quick: bool) -> dict[str, int]:
    """The sampler settings every case runs with (fixed seeds come from the spec). The full
    run uses hmdiag's defaults (1000 + 1000), as a user's fit would: at 500 + 500 a healthy
    model's rank-normalized r_hat crosses 1.01 by chance (ESS ~100 per chain gives r_hat noise
    of that size; Vehtari et al. 2021 ask for ESS > 400 before trusting 1.01)."""
    draws, tune = DRAWS["quick" if quick else "default"]
    return {"draws": draws, "tune": tune}


def run_case(case: Case, folder: Path, *, quick: bool = False, doctor: bool = True) -> Outcome:
    """Fit one case with the Python API and score it. A repairable case goes through
    ``hmdiag.doctor``, whose first attempt is exactly ``hmdiag.fit`` of the spec as written
    (same fit, same checks), so it is scored from that attempt and not fitted twice."""
    import yaml

    import hmdiag

    path = case.write(folder)
    raw = yaml.safe_load(path.read_text())
    raw["sampler"] = {"chains": 4, **raw.get("sampler", {}), **sampler_settings(quick)}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    start = time.perf_counter()
    if case.repairable and doctor:
        result = hmdiag.doctor(path, max_attempts=4)
        report = result.attempts[0].report
        final = result.fixed or result.attempts[-1]
        final_named = [p.kind for p in final.report.verdict.pathologies]
        named = [p.kind for p in report.verdict.pathologies]
        repaired = (
            case.expected in named
            and result.fixed is not None
            and case.expected not in final_named
            and not [p for p in final.report.verdict.pathologies if p.kind != "prior_dominated"]
        )
        note = " → ".join(a.change for a in result.attempts[1:]) or "as written"
        if result.stopped_because:
            note += f"; stopped: {result.stopped_because}"
        attempts = len(result.attempts)
    else:
        report = hmdiag.fit(path)
        named = [p.kind for p in report.verdict.pathologies]
        repaired, note, attempts = None, "", 1
    return Outcome(
        case=case,
        named=named,
        passed=report.verdict.passed,
        seconds=time.perf_counter() - start,
        attempts=attempts,
        repaired=repaired,
        doctor_note=note,
        failed_checks=[c.name for c in report.verdict.checks if c.passed is False],
    )
