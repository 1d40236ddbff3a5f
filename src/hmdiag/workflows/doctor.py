"""``hmdiag doctor``: read the diagnosis, pick the remedy the evidence supports, refit.

The remedy choice and the spec edits are pure functions; the loop takes the fitting step
as a parameter so it can be tested without sampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmdiag import _views
from hmdiag.diagnose.checks import TARGET_ACCEPT_LADDER, Advice, next_target_accept
from hmdiag.diagnose.pathologies import PINNED_RATIO, Pathology, pinned_ratio
from hmdiag.diagnose.report import RunReport
from hmdiag.spec import LoadedSpec, ModelSpec, spec_to_raw, spec_to_yaml
from hmdiag.spec.priors import Prior

# A group with this many rows in its smallest level is "data-rich": centered usually mixes better.
DATA_RICH_ROWS = 30
MAX_TUNE = 8000
# Divergences in at least this share of draws skip straight to the top target_accept rung.
MANY_DIVERGENCES = 0.01
MAX_DRAWS = 20000
# The default budget of fits, the input spec included.
DEFAULT_MAX_ATTEMPTS = 5
# Stop after this many attempts in a row that do not improve on the best one.
PATIENCE = 2


@dataclass(frozen=True)
class Remedy:
    """One change to the spec and the evidence for it."""

    kind: str
    change: str
    reason: str
    apply: Callable[[dict[str, Any]], None] = field(repr=False, compare=False)


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


def _set_group(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        raw["groups"][index][key] = value

    return apply


def _set_sampler(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        raw.setdefault("sampler", {})[key] = value

    return apply


def _group_index(spec: ModelSpec, factor: str) -> int | None:
    return next((i for i, g in enumerate(spec.groups) if g.factor == factor), None)


def _predictor_index(spec: ModelSpec, column: str) -> int | None:
    return next((i for i, p in enumerate(spec.predictors) if p.column == column), None)


def _set_predictor(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        raw["predictors"][index][key] = value

    return apply


def _set_scale_prior(
    index: int, prior: str, slope: int | None = None
) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        owner = raw["groups"][index] if slope is None else raw["groups"][index]["slopes"][slope]
        owner.setdefault("scale", {})["prior"] = prior

    return apply


def tighter_scale_prior(prior: Prior) -> Prior:
    """The same prior with half the scale (halfcauchy becomes a halfnormal: lighter tail)."""
    args = dict(prior.args)
    if prior.family == "halfcauchy":
        return Prior("halfnormal", {"sigma": args["beta"]})
    if prior.family in ("halfnormal", "halfstudent_t"):
        args["sigma"] /= 2
    elif prior.family == "exponential":
        args["lam"] *= 2
    elif prior.family == "gamma":
        args["beta"] *= 2
    elif prior.family == "inverse_gamma":
        args["beta"] /= 2
    elif prior.family == "lognormal":
        args["mu"] -= math.log(2)
    return Prior(prior.family, args)


def _group_remedy(spec: ModelSpec, advice: Advice) -> Remedy | None:
    """A spec edit for a pathology remedy that changes a group term (``factor`` or, for a
    varying slope's scale, ``factor:column``)."""
    factor, _, column = (advice.target or "").partition(":")
    index = _group_index(spec, factor)
    if index is None:
        return None
    group = spec.groups[index]
    if column:
        slope = next((j for j, sl in enumerate(group.slopes) if sl.column == column), None)
        if advice.remedy != "tighten_scale_prior" or slope is None or group.correlated:
            return None
        old = group.slopes[slope].scale.prior
        new = tighter_scale_prior(old)
        change = f"groups[{index}] ({group.factor}) slope {column}: scale prior {old} -> {new}"
        return Remedy("tighten_scale_prior", change, "", _set_scale_prior(index, str(new), slope))
    if advice.remedy == "center" and group.parameterization == "non_centered":
        change = f"groups[{index}] ({group.factor}): parameterization non_centered -> centered"
        return Remedy("center", change, "", _set_group(index, "parameterization", "centered"))
    if advice.remedy == "non_center" and group.parameterization == "centered":
        change = f"groups[{index}] ({group.factor}): parameterization centered -> non_centered"
        return Remedy(
            "non_center", change, "", _set_group(index, "parameterization", "non_centered")
        )
    if (
        advice.remedy == "zero_sum"
        and group.effects != "zero_sum"
        and group.pooling == "partial"
        and not group.correlated
    ):
        change = f"groups[{index}] ({group.factor}): effects normal -> zero_sum"
        return Remedy("zero_sum", change, "", _set_group(index, "effects", "zero_sum"))
    if (
        advice.remedy == "tighten_scale_prior"
        and group.pooling == "partial"
        and not group.correlated
    ):
        old = group.scale.prior
        new = tighter_scale_prior(old)
        change = f"groups[{index}] ({group.factor}): scale prior {old} -> {new}"
        return Remedy("tighten_scale_prior", change, "", _set_scale_prior(index, str(new)))
    return None


def _sampler_remedy(spec: ModelSpec, advice: Advice) -> Remedy | None:
    """A spec edit for a pathology remedy that changes the sampler."""
    sampler = spec.sampler
    if advice.remedy == "raise_target_accept" and sampler.target_accept < TARGET_ACCEPT_LADDER[-1]:
        rung = TARGET_ACCEPT_LADDER[-1]
        change = f"sampler.target_accept: {sampler.target_accept:g} -> {rung:g}"
        return Remedy("raise_target_accept", change, "", _set_sampler("target_accept", rung))
    if advice.remedy == "dense_mass_matrix" and sampler.mass_matrix not in ("dense", "low_rank"):
        change = f"sampler.mass_matrix: {sampler.mass_matrix} -> dense"
        return Remedy("dense_mass_matrix", change, "", _set_sampler("mass_matrix", "dense"))
    if advice.remedy == "more_tune":
        tune = more_tune(sampler.tune)
        if tune > sampler.tune:
            change = f"sampler.tune: {sampler.tune} -> {tune}"
            return Remedy("more_tune", change, "", _set_sampler("tune", tune))
    return None


def more_tune(tune: int) -> int:
    """Twice the warm-up (at least 1000, at most ``MAX_TUNE``)."""
    return min(MAX_TUNE, max(1000, tune * 2))


def _pathology_remedies(spec: ModelSpec, report: RunReport) -> list[tuple[Pathology, Remedy]]:
    """Spec edits for the named pathologies' remedies, in the catalog's order of evidence."""
    remedies = []
    for pathology in report.verdict.pathologies:
        for advice in pathology.remedies:
            if advice.remedy == "standardize":
                index = _predictor_index(spec, advice.target or "")
                if index is None or spec.predictors[index].standardize:
                    continue
                change = f"predictors[{index}] ({advice.target}): standardize false -> true"
                remedy = Remedy(
                    "standardize", change, "", _set_predictor(index, "standardize", True)
                )
            else:
                remedy = _group_remedy(spec, advice) or _sampler_remedy(spec, advice)
            if remedy is not None:
                reason = f"{pathology.title} at {pathology.where}: {pathology.evidence}"
                remedies.append(
                    (pathology, Remedy(remedy.kind, remedy.change, reason, remedy.apply))
                )
    return remedies


def _recenter_remedy(spec: ModelSpec, report: RunReport) -> Remedy | None:
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
        index = _group_index(spec, term.factor)
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
            apply=_set_group(index, "parameterization", "centered"),
        )
    return None


def _target_accept_remedy(spec: ModelSpec, report: RunReport) -> Remedy | None:
    if "divergences" not in {c.name for c in report.verdict.failed()}:
        return None
    if any("divergences" in p.explains for p in report.verdict.pathologies):
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
        apply=_set_sampler("target_accept", rung),
    )


def _tune_remedy(spec: ModelSpec, report: RunReport) -> Remedy | None:
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
        apply=_set_sampler("tune", tune),
    )


def _draws_remedy(spec: ModelSpec, report: RunReport) -> Remedy | None:
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
        apply=_set_sampler("draws", draws),
    )


GENERIC_REMEDIES = (_recenter_remedy, _target_accept_remedy, _tune_remedy, _draws_remedy)


def choose_remedy(spec: ModelSpec, report: RunReport, tried: set[str]) -> Remedy | None:
    """The first remedy not yet tried: the named pathologies' remedies in order of evidence,
    then the generic ones for failed checks that no pathology with a remedy left (or none
    possible) explains."""

    def untried(remedy: Remedy) -> bool:
        return not {remedy.change, _once_key(remedy), _undo(remedy.change)} & tried

    fresh = [(p, r) for p, r in _pathology_remedies(spec, report) if untried(r)]
    # A pathology explains its checks while it still offers a remedy, or when none is possible.
    accounted = [p for p, _ in fresh]
    accounted += [p for p in report.verdict.pathologies if not p.sampler_fixable]
    explained = {name for p in accounted for name in p.explains}
    candidates = [r for _, r in fresh]
    if {c.name for c in report.verdict.failed()} - explained:
        candidates += [r for r in (rule(spec, report) for rule in GENERIC_REMEDIES) if r]
    return next((r for r in candidates if untried(r)), None)


def _undo(change: str) -> str:
    """The change that would undo ``change`` (``a -> b`` becomes ``b -> a``)."""
    head, _, move = change.rpartition(": ")
    before, _, after = move.partition(" -> ")
    return f"{head}: {after} -> {before}"


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
    """How far a run is from passing: failed checks, divergences, worst r_hat (lower is better)."""
    d = report.diagnosis
    rhats = [p.r_hat for p in d.parameters if math.isfinite(p.r_hat)]
    return (len(report.verdict.failed()), d.divergences_total or 0, max(rhats, default=1.0))


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
    """Fit, and while checks fail, apply the best-supported remedy and refit.

    Stops at a passing spec, after ``max_attempts`` fits, when ``patience`` attempts in a row
    did not improve on the best so far, when no remedy is left, or when a named pathology
    says no sampler change can fix the run and nothing else is left to try.
    """
    attempts: list[Attempt] = []
    current = loaded
    change, reason = "as written", "the input spec"
    tried: set[str] = set()
    best: tuple[int, int, float] | None = None
    stale = 0
    for number in range(1, max_attempts + 1):
        report, run_path = fit_step(current, number)
        attempt = Attempt(number, change, reason, current.spec, report, run_path)
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        if attempt.passed:
            return DoctorResult(attempts, attempt)
        score = badness(report)
        if best is None or score < best:
            best, stale = score, 0
        else:
            stale += 1
            if stale >= patience:
                return DoctorResult(
                    attempts,
                    None,
                    f"{stale} attempts in a row did not improve on the best so far",
                )
        if number == max_attempts:
            break
        remedy = choose_remedy(current.spec, report, tried)
        if remedy is None:
            why = unfixable(report) or "no remedy left that the diagnosis supports"
            return DoctorResult(attempts, None, why)
        tried |= {remedy.change, _once_key(remedy)}
        spec = apply_remedy(current.spec, remedy)
        current = LoadedSpec(spec=spec, path=loaded.path, text=spec_to_yaml(spec))
        change, reason = remedy.change, remedy.reason
    return DoctorResult(attempts, None, f"no passing spec within {max_attempts} attempts")
