"""Checks + named pathologies -> the verdict on one run and its advice, most supported first."""

from __future__ import annotations

from dataclasses import dataclass, field

from hmdiag.diagnose.checks import Advice, CheckResult, Thresholds, make_advice, run_checks
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.pathologies import Pathology, detect_pathologies


@dataclass(frozen=True)
class Verdict:
    """The judgment on one run."""

    passed: bool
    checks: list[CheckResult]
    advice: list[Advice]
    pathologies: list[Pathology] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``pass`` or ``fail`` (the JSON ``verdict`` field)."""
        return "pass" if self.passed else "fail"

    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if c.status == "fail"]

    @property
    def not_assessed(self) -> list[str]:
        """The checks that could not be computed (``n/a``): a pass says it did not see them."""
        return [c.name for c in self.checks if c.status == "n/a"]

    @property
    def headline(self) -> str:
        """``PASS``, ``PASS (not assessed: r_hat)`` or ``FAIL (divergences, r_hat)``."""
        if not self.passed:
            return f"FAIL ({', '.join(c.name for c in self.failed())})"
        missing = self.not_assessed
        return f"PASS (not assessed: {', '.join(missing)})" if missing else "PASS"


def combined_advice(
    d: Diagnosis, checks: list[CheckResult], pathologies: list[Pathology]
) -> list[Advice]:
    """The pathologies' remedies in catalog order, then generic advice for failed checks that
    no pathology explains; a remedy proposed twice for one target is listed once."""
    explained = {name for p in pathologies for name in p.explains}
    advice: list[Advice] = []
    seen: set[tuple[str, str | None]] = set()
    for item in [a for p in pathologies for a in p.remedies] + make_advice(d, checks, explained):
        key = (item.remedy, item.target)
        if key not in seen or item.remedy == "inspect":
            seen.add(key)
            advice.append(item)
    return advice


def judge(d: Diagnosis, t: Thresholds) -> Verdict:
    """Checks, named pathologies, verdict and advice for one diagnosed run."""
    checks = run_checks(d, t)
    passed = not any(c.status == "fail" for c in checks)
    pathologies = detect_pathologies(d, checks)
    advice = combined_advice(d, checks, pathologies)
    return Verdict(passed=passed, checks=checks, advice=advice, pathologies=pathologies)
