"""A regression gate between two runs of one model: did a code or data change move the
posterior, or make sampling slower?

For each parameter both runs have (matched by its ArviZ label, ``a[1]``):

- *shift*: the change of the posterior mean in baseline posterior sds,
  (mean - mean_base) / sd_base. Monte Carlo error is not a shift: the difference of two means
  has MCSE sqrt(mcse_base^2 + mcse^2) (Vehtari et al. 2021), and a shift counts only beyond
  ``MCSE_Z`` of them: the parameter fails ``fail_on_shift`` when
  |mean - mean_base| > fail_on_shift * sd_base + MCSE_Z * mcse_diff.
- *sd ratio*: sd / sd_base.
- *ESS/s change*: bulk ESS per second of sampling, new over baseline, minus 1. The parameter
  fails ``fail_on_ess_drop`` when its ESS/s fell by at least that fraction.

A gate asked for but not computable (a run without its sampling time, for ESS/s) is an input
error, never a pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hmdiag.errors import HmdiagError

# Beyond this many MCSEs of the difference a shift is not Monte Carlo noise (two-sided 5%).
MCSE_Z = 1.96


@dataclass(frozen=True)
class ParameterShift:
    """One parameter, baseline against run."""

    name: str
    base_mean: float
    mean: float
    base_sd: float
    sd: float
    # (mean - base_mean) / base_sd, and the MCSE of that difference on the same scale
    shift_sds: float
    mcse_sds: float
    sd_ratio: float
    base_ess_per_second: float | None
    ess_per_second: float | None
    # ess_per_second / base_ess_per_second - 1 (negative: slower)
    ess_change: float | None
    shifted: bool
    ess_dropped: bool

    @property
    def failed(self) -> bool:
        """Whether this parameter fails the gate."""
        return self.shifted or self.ess_dropped


@dataclass(frozen=True)
class RegressionGate:
    """One run judged against the baseline."""

    baseline: str
    run: str
    fail_on_shift: float | None
    fail_on_ess_drop: float | None
    parameters: list[ParameterShift]
    # labels in only one of the two runs
    only_baseline: list[str] = field(default_factory=list)
    only_run: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[ParameterShift]:
        """The parameters that fail the gate."""
        return [p for p in self.parameters if p.failed]

    @property
    def passed(self) -> bool:
        """Whether no parameter fails the gate."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``compare --json``: ``baseline[]``)."""
        out = asdict(self)
        out["passed"] = self.passed
        for p, row in zip(self.parameters, out["parameters"], strict=True):
            row["failed"] = p.failed
        return out


def _per_second(ess: float, seconds: float | None) -> float | None:
    if seconds is None or seconds <= 0 or not math.isfinite(ess):
        return None
    return ess / seconds


def gate_thresholds(
    report: Any, fail_on_shift: float | None, fail_on_ess_drop: float | None
) -> tuple[float | None, float | None]:
    """Flags first, then the run's spec (``checks: baseline_shift`` / ``ess_drop``)."""
    from hmdiag.runs import stored_spec

    spec = stored_spec(report.info)
    checks = spec.checks if spec is not None else None
    if fail_on_shift is None and checks is not None:
        fail_on_shift = checks.baseline_shift
    if fail_on_ess_drop is None and checks is not None:
        fail_on_ess_drop = checks.ess_drop
    return fail_on_shift, fail_on_ess_drop


def regression_gate(
    baseline: Any,
    run: Any,
    *,
    fail_on_shift: float | None = None,
    fail_on_ess_drop: float | None = None,
) -> RegressionGate:
    """Judge ``run`` against ``baseline`` (two ``RunReport``s, see the module)."""
    base_d, d = baseline.diagnosis, run.diagnosis
    if fail_on_ess_drop is not None:
        for report in (baseline, run):
            if not report.diagnosis.sampling_seconds:
                raise HmdiagError(
                    f"{report.source or report.diagnosis.label}: the run stores no sampling time, "
                    "so its ESS per second cannot be compared",
                    "drop --fail-on-ess-drop (and checks: ess_drop), or gate on runs that "
                    "hmdiag fit, nutpie or PyMC saved with their timing",
                )
    base = {p.name: p for p in base_d.parameters}
    new = {p.name: p for p in d.parameters}
    shared = [name for name in base if name in new]
    rows = []
    for name in shared:
        b, p = base[name], new[name]
        if not (math.isfinite(b.sd) and b.sd > 0 and math.isfinite(p.mean)):
            continue  # a constant (or undefined) baseline has no scale to measure a shift on
        diff = p.mean - b.mean
        mcse = math.sqrt(
            (b.mcse_mean if math.isfinite(b.mcse_mean) else 0.0) ** 2
            + (p.mcse_mean if math.isfinite(p.mcse_mean) else 0.0) ** 2
        )
        base_rate = _per_second(b.ess_bulk, base_d.sampling_seconds)
        rate = _per_second(p.ess_bulk, d.sampling_seconds)
        change = rate / base_rate - 1.0 if rate is not None and base_rate else None
        shifted = fail_on_shift is not None and abs(diff) > fail_on_shift * b.sd + MCSE_Z * mcse
        dropped = (
            fail_on_ess_drop is not None and change is not None and -change >= fail_on_ess_drop
        )
        rows.append(
            ParameterShift(
                name=name,
                base_mean=b.mean,
                mean=p.mean,
                base_sd=b.sd,
                sd=p.sd,
                shift_sds=diff / b.sd,
                mcse_sds=mcse / b.sd,
                sd_ratio=p.sd / b.sd,
                base_ess_per_second=base_rate,
                ess_per_second=rate,
                ess_change=change,
                shifted=shifted,
                ess_dropped=dropped,
            )
        )
    return RegressionGate(
        baseline=base_d.label,
        run=d.label,
        fail_on_shift=fail_on_shift,
        fail_on_ess_drop=fail_on_ess_drop,
        parameters=rows,
        only_baseline=[n for n in base if n not in new],
        only_run=[n for n in new if n not in base],
    )
