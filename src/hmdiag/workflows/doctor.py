"""``hmdiag doctor``: read the diagnosis, pick the remedy the evidence supports, refit.

The remedy choice and the spec edits are pure functions; the loop takes the fitting step
as a parameter so it can be tested without sampling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmdiag import _views
from hmdiag.diagnose.checks import TARGET_ACCEPT_LADDER, next_target_accept
from hmdiag.diagnose.pathologies import PINNED_RATIO, Pathology, pinned_ratio
from hmdiag.diagnose.report import RunReport
from hmdiag.spec import LoadedSpec, ModelSpec, spec_to_raw, spec_to_yaml
from hmdiag.workflows.remedies import (
    Remedy,
    Within,
    group_index,
    group_remedy,
    likelihood_remedy,
    more_tune,
    predictor_index,
    sampler_remedy,
    set_group,
    set_predictor,
    set_sampler,
    varies_within,
    varying_slope_remedy,
)

# A group with this many rows in its smallest level is "data-rich": centered usually mixes better.
DATA_RICH_ROWS = 30
# Divergences in at least this share of draws skip straight to the top target_accept rung.
MANY_DIVERGENCES = 0.01
MAX_DRAWS = 20000
# The default budget of fits, the input spec included.
DEFAULT_MAX_ATTEMPTS = 5
# Stop after this many attempts in a row that do not improve on the best one (unless a remedy
# that a named pathology proposes is still untried).
PATIENCE = 2
# A likelihood switch is kept when elpd_loo improves by more than this many standard errors of
# the difference (Vehtari, Gelman and Gabry 2017; Sivula et al. 2022 on |diff| < 2-4 se being
# within noise) and no observation is left above the Pareto k limit.
LIKELIHOOD_ELPD_SE = 2.0
# Model changes judged by PSIS-LOO against the attempt before them, and undone unless better.
LOO_JUDGED = ("likelihood", "varying_slope")


@dataclass(frozen=True)
class Attempt:
    """One fit in the doctor's loop."""

    number: int
    change: str
    reason: str
    spec: ModelSpec
    report: RunReport
    run_path: Path | None

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return self.report.verdict.passed


@dataclass(frozen=True)
class DoctorResult:
    """The attempts, and the first passing spec if one was found."""

    attempts: list[Attempt]
    fixed: Attempt | None
    stopped_because: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``hmdiag doctor --json`` prints (no fixed spec written)."""
        return _views.view("doctor.dict", self, None, None)

    def _repr_html_(self) -> str:
        """Jupyter's view: the attempts table and the last attempt's report."""
        return _views.view("doctor.html", self)

    def caveats(self) -> list[Pathology]:
        """Pathologies of the last attempt that no sampler setting can fix (said even when
        passing)."""
        last = self.fixed or self.attempts[-1]
        return [p for p in last.report.verdict.pathologies if not p.sampler_fixable]


def _pathology_remedies(
    spec: ModelSpec, report: RunReport, within: Within | None = None
) -> list[tuple[Pathology, Remedy]]:
    """Spec edits for the named pathologies' remedies, in the catalog's order of evidence."""
    remedies = []
    for pathology in report.verdict.pathologies:
        for advice in pathology.remedies:
            if advice.remedy == "standardize":
                index = predictor_index(spec, advice.target or "")
                if index is None or spec.predictors[index].standardize:
                    continue
                change = f"predictors[{index}] ({advice.target}): standardize false -> true"
                remedy = Remedy(
                    "standardize", change, "", set_predictor(index, "standardize", True)
                )
            elif advice.remedy == "likelihood":
                remedy = likelihood_remedy(spec, advice.target)
            elif advice.remedy == "varying_slope":
                remedy = varying_slope_remedy(spec, advice.target, within) if within else None
            else:
                remedy = group_remedy(spec, advice) or sampler_remedy(spec, advice)
            if remedy is not None:
                reason = f"{pathology.title} at {pathology.where}: {pathology.evidence}"
                remedies.append(
                    (pathology, Remedy(remedy.kind, remedy.change, reason, remedy.apply, True))
                )
    return remedies


def loo_judgement(new: RunReport, old: RunReport, *, require_k: bool = True) -> tuple[bool, str]:
    """Whether a model change is kept: elpd_loo better by more than ``LIKELIHOOD_ELPD_SE``
    standard errors, and (``require_k``, for a likelihood switch, whose purpose is the
    outlying rows) every Pareto k under its limit; and why."""
    from hmdiag.diagnose.model_fit import elpd_difference

    a, b = new.diagnosis.model_fit, old.diagnosis.model_fit
    if a is None or b is None:
        return False, "PSIS-LOO could not be measured for both fits"
    diff = elpd_difference(a, b)
    if diff is None:
        return False, "PSIS-LOO could not be compared (no pointwise elpd for both fits)"
    delta, se = diff
    text = f"elpd_loo {b.elpd_loo:.1f} -> {a.elpd_loo:.1f} (difference {delta:+.1f}, se {se:.1f})"
    k_text = f"{a.n_influential} observation(s) with Pareto k > {a.k_limit:.3g}"
    if delta <= LIKELIHOOD_ELPD_SE * se:
        return False, f"{text}: not more than {LIKELIHOOD_ELPD_SE:g} se better"
    if a.n_influential and require_k:
        return False, f"{text}, but {k_text} remain"
    if a.n_influential:
        return True, f"{text} ({k_text} remain, for the next remedy)"
    return True, f"{text}, and no Pareto k above {a.k_limit:.3g}"


def _recenter_remedy(
    spec: ModelSpec, report: RunReport, explained: frozenset[str] = frozenset()
) -> Remedy | None:
    d = report.diagnosis
    failed = {c.name for c in report.verdict.failed()}
    if not failed & {"ess_bulk", "ess_tail", "r_hat"}:
        return None
    if "divergences" in failed and (d.divergence_fraction or 0.0) >= MANY_DIVERGENCES:
        return None
    weak = {
        p.variable
        for p in d.parameters
        if math.isfinite(p.ess_bulk) and p.ess_bulk < report.thresholds.min_ess_per_chain * d.chains
    }
    for term in d.group_terms:
        if term.parameterization != "non_centered" or not weak & {
            term.effect,
            term.scale,
            term.offset,
        }:
            continue
        index = group_index(spec, term.factor)
        if index is None:
            continue
        ratio = pinned_ratio(d, term)
        if term.smallest_level >= DATA_RICH_ROWS:
            why = f"every {term.factor} level has >= {term.smallest_level} rows"
        elif ratio is not None and ratio <= PINNED_RATIO:
            why = (
                f"the data pin every {term.factor} effect (posterior sd at most {ratio:.2f} of "
                f"`{term.scale}`)"
            )
        else:
            continue
        return Remedy(
            kind="center",
            change=f"groups[{index}] ({term.factor}): parameterization non_centered -> centered",
            reason=f"low ESS in the non-centered `{term.effect}` while {why}: the data identify "
            "the effects, so centered mixes better",
            apply=set_group(index, "parameterization", "centered"),
        )
    return None


def _target_accept_remedy(
    spec: ModelSpec, report: RunReport, explained: frozenset[str] = frozenset()
) -> Remedy | None:
    """Smaller steps for divergences that no named pathology with a remedy left explains
    (``explained``: the checks such pathologies account for)."""
    if "divergences" not in {c.name for c in report.verdict.failed()}:
        return None
    if "divergences" in explained:
        # The evidence names a cause; smaller steps are proposed only where that cause lists them.
        return None
    rung = next_target_accept(spec.sampler.target_accept)
    if rung is None:
        return None
    d = report.diagnosis
    fraction = d.divergence_fraction or 0.0
    # Many divergences: one rung rarely suffices, so go to the top of the ladder at once.
    if fraction >= MANY_DIVERGENCES:
        rung = TARGET_ACCEPT_LADDER[-1]
    where = f", most at `{d.hotspots[0].parameter}`" if d.hotspots else ""
    return Remedy(
        kind="raise_target_accept",
        change=f"sampler.target_accept: {spec.sampler.target_accept:g} -> {rung:g}",
        reason=f"{d.divergences_total} divergences ({100 * fraction:.1f}% of draws{where}) and no named "
        "pathology behind them: take smaller steps",
        apply=set_sampler("target_accept", rung),
    )


def _tune_remedy(
    spec: ModelSpec, report: RunReport, explained: frozenset[str] = frozenset()
) -> Remedy | None:
    failed = {c.name for c in report.verdict.failed()}
    warned = {c.name for c in report.verdict.checks if c.status == "warn"}
    if not (("divergences" in failed and "acceptance" in warned) or "r_hat" in failed):
        return None
    tune = more_tune(spec.sampler.tune)
    if tune <= spec.sampler.tune:
        return None
    why = (
        "step-size adaptation did not settle (acceptance off target)"
        if "acceptance" in warned
        else "chains disagree (r_hat)"
    )
    return Remedy(
        kind="more_tune",
        change=f"sampler.tune: {spec.sampler.tune} -> {tune}",
        reason=f"{why}: give warm-up more steps",
        apply=set_sampler("tune", tune),
    )


def _draws_remedy(
    spec: ModelSpec, report: RunReport, explained: frozenset[str] = frozenset()
) -> Remedy | None:
    failed = {c.name for c in report.verdict.failed()}
    if not failed or not failed <= {"ess_bulk", "ess_tail"}:
        return None
    worst = min(
        (c for c in report.verdict.checks if c.name in failed),
        key=lambda c: (c.value or 0) / (c.threshold or 1),
    )
    factor = 2.0 if not worst.value else min(10.0, 1.3 * (worst.threshold or 0) / worst.value)
    draws = min(MAX_DRAWS, int(math.ceil(spec.sampler.draws * max(factor, 1.5) / 100.0) * 100))
    if draws <= spec.sampler.draws:
        return None
    return Remedy(
        kind="more_draws",
        change=f"sampler.draws: {spec.sampler.draws} -> {draws}",
        reason=f"only ESS is short ({worst.name} of `{worst.worst}` = {worst.value:.0f} < {worst.threshold:g})",
        apply=set_sampler("draws", draws),
    )


GENERIC_REMEDIES = (_recenter_remedy, _target_accept_remedy, _tune_remedy, _draws_remedy)


def choose_remedy(
    spec: ModelSpec, report: RunReport, tried: set[str], within: Within | None = None
) -> Remedy | None:
    """The first remedy not yet tried: the named pathologies' remedies in order of evidence,
    then the generic ones for failed checks that no pathology with a remedy left (or none
    possible) explains. ``within`` reads the data for remedies that depend on it (a varying
    slope needs a predictor that varies inside the levels); without it they are skipped."""

    def untried(remedy: Remedy) -> bool:
        return not {remedy.change, _once_key(remedy), _undo(remedy.change)} & tried

    pairs = list(_pathology_remedies(spec, report, within))
    fresh = [(p, r) for p, r in pairs if untried(r)]
    # A pathology explains its checks while it still offers a remedy, or when none is possible.
    accounted = [p for p, _ in fresh]
    accounted += [p for p in report.verdict.pathologies if not p.sampler_fixable]
    explained = {name for p in accounted for name in p.explains}
    # One whose every remedy would reverse the doctor's own earlier change (a funnel on a term
    # the doctor centered because the data pin it) no longer speaks for its checks: smaller
    # steps may then be tried for its divergences. One whose remedies were tried still does.
    reversing = {id(p) for p, r in pairs if _undo(r.change) in tried}
    reversing -= {id(p) for p, r in pairs if _undo(r.change) not in tried}
    still = {n for p in report.verdict.pathologies if id(p) not in reversing for n in p.explains}
    candidates = [r for _, r in fresh]
    if {c.name for c in report.verdict.failed()} - explained:
        done = frozenset(still)
        candidates += [r for r in (rule(spec, report, done) for rule in GENERIC_REMEDIES) if r]
    return next((r for r in candidates if untried(r)), None)


def _undo(change: str) -> str:
    """The change that would undo ``change`` (``a -> b`` becomes ``b -> a``), keeping what
    precedes the old value: ``groups[1] (col): parameterization centered -> non_centered``
    becomes ``groups[1] (col): parameterization non_centered -> centered``. An old value may be
    a prior with spaces inside its parentheses (``halfstudent_t(3, 2)``)."""
    left, _, after = change.partition(" -> ")
    match = re.match(r"^(.*?)(\S+\([^()]*\)|\S+)$", left)
    if match is None:
        return change
    prefix, before = match.groups()
    return f"{prefix}{after} -> {before}"


def _once_key(remedy: Remedy) -> str:
    """Remedies tried at most once per target whatever their value (a prior is tightened once)."""
    if remedy.kind == "tighten_scale_prior":
        return f"{remedy.kind}:{remedy.change.split(':', 1)[0]}"
    return remedy.change


def unfixable(report: RunReport) -> str | None:
    """Why no sampler change can fix the run, when a named pathology says so."""
    failed = {c.name for c in report.verdict.failed()}
    hard = [
        p for p in report.verdict.pathologies if not p.sampler_fixable and failed & set(p.explains)
    ]
    if not hard:
        return None
    return "; ".join(f"{p.title} at {p.where}: {p.meaning}" for p in hard)


def badness(report: RunReport) -> tuple[int, int, float]:
    """How far a run is from passing, by what is still broken: failed checks, divergences,
    then how far the worst r_hat lies above its threshold (0 at or below it, so noise under
    the threshold never counts as progress); lower is better."""
    d = report.diagnosis
    rhats = [p.r_hat for p in d.parameters if math.isfinite(p.r_hat)]
    excess = max(0.0, max(rhats, default=1.0) - report.thresholds.max_rhat)
    return (len(report.verdict.failed()), d.divergences_total or 0, round(excess, 3))


def apply_remedy(spec: ModelSpec, remedy: Remedy) -> ModelSpec:
    """A new, validated spec with the remedy's change applied."""
    raw = spec_to_raw(spec)
    remedy.apply(raw)
    return ModelSpec.model_validate(raw)


FitStep = Callable[[LoadedSpec, int], tuple[RunReport, Path | None]]


def fit_attempt(paths: dict[int, Path | None], *, force: bool, keep_runs: bool) -> FitStep:
    """The doctor's step, for the CLI and the Python API alike: fit the attempt's spec, save
    its run at ``paths[number]`` (None: not saved), and judge it by the spec's own checks.
    ``keep_runs`` attaches each run to its report (``report.run``): the API's notebook wants
    it; the CLI would hold every attempt's draws in memory for nothing."""

    def step(current: LoadedSpec, number: int) -> tuple[RunReport, Path | None]:
        from dataclasses import replace

        from hmdiag.diagnose.report import assess, thresholds_from_checks
        from hmdiag.runs import save_run
        from hmdiag.workflows.fit import fit

        result = fit(current)
        path = paths.get(number)
        if path is not None:
            save_run(result.idata, path, force=force)
        report = assess(
            result.idata,
            result.info,
            thresholds_from_checks(current.spec.checks),
            source=str(path) if path is not None else None,
            hdi_prob=current.spec.checks.hdi_prob,
            model_fit=result.model_fit,
        )
        return (replace(report, run=result.idata) if keep_runs else report), path

    return step


def run_doctor(
    loaded: LoadedSpec,
    fit_step: FitStep,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    patience: int = PATIENCE,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> DoctorResult:
    """Fit, and while checks fail or a named pathology has an untried remedy, apply the
    best-supported remedy and refit.

    A likelihood switch is judged by PSIS-LOO (``loo_judgement``), not by the sampling checks:
    one that does not improve elpd_loo clearly, or leaves influential rows, is undone. Stops
    at a passing spec with nothing named left to try, after ``max_attempts`` fits, when
    ``patience`` attempts in a row did not improve on the best so far and no named remedy is
    untried, when no remedy is left, or when a named pathology says no sampler change can fix
    the run and nothing else is left to try.
    """
    attempts: list[Attempt] = []
    current = loaded
    change, reason = "as written", "the input spec"
    tried: set[str] = set()
    best: tuple[int, int, float] | None = None
    stale = 0
    # the attempt a likelihood switch is judged against, and the spec to return to
    before_switch: tuple[Attempt, LoadedSpec] | None = None
    within = varies_within(loaded)
    switch_kind = ""
    for number in range(1, max_attempts + 1):
        report, run_path = fit_step(current, number)
        kept = True
        if before_switch is not None:
            kept, verdict = loo_judgement(
                report, before_switch[0].report, require_k=switch_kind == "likelihood"
            )
            reason = f"{reason}; {'kept' if kept else 'undone'}: {verdict}"
        attempt = Attempt(number, change, reason, current.spec, report, run_path)
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        if not kept and before_switch is not None:
            # Back to the spec before the switch, and judge from its report.
            attempt, current = before_switch
            report = attempt.report
        before_switch = None
        remedy = (
            choose_remedy(current.spec, report, tried, within) if number < max_attempts else None
        )
        misfit_left = remedy is not None and remedy.kind in LOO_JUDGED
        if attempt.passed and not misfit_left:
            return DoctorResult(attempts, attempt)
        score = badness(report)
        if best is None or score < best:
            best, stale = score, 0
        elif kept:
            stale += 1
            if stale >= patience and not (remedy is not None and remedy.named):
                return DoctorResult(
                    attempts,
                    None,
                    f"{stale} attempts in a row did not improve on the best so far, and no "
                    "remedy a named pathology proposes is left untried",
                )
        if number == max_attempts:
            break
        if remedy is None:
            why = unfixable(report) or "no remedy left that the diagnosis supports"
            fixed = attempt if attempt.passed else None
            return DoctorResult(attempts, fixed, None if fixed else why)
        tried |= {remedy.change, _once_key(remedy)}
        if remedy.kind in LOO_JUDGED:
            before_switch, switch_kind = (attempt, current), remedy.kind
        spec = apply_remedy(current.spec, remedy)
        current = LoadedSpec(spec=spec, path=loaded.path, text=spec_to_yaml(spec))
        change, reason = remedy.change, remedy.reason
    last = attempts[-1]
    if last.passed:
        return DoctorResult(attempts, last)
    return DoctorResult(attempts, None, f"no passing spec within {max_attempts} attempts")
