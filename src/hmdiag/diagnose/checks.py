"""Thresholds -> checks, and generic advice for failed checks (pure functions over a ``Diagnosis``).

``hmdiag.diagnose.verdict`` adds the named pathologies and assembles the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from hmdiag.diagnose.diagnosis import ACCEPTANCE_TOLERANCE, Diagnosis
from hmdiag.diagnose.dialects import setting, target_accept_name
from hmdiag.diagnose.summary import ParameterSummary

Status = Literal["pass", "fail", "warn", "n/a"]
TARGET_ACCEPT_LADDER = (0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits. ESS limits are per chain (Vehtari et al. 2021: 100 per chain)."""

    max_rhat: float = 1.01
    min_ess_per_chain: float = 100.0
    max_divergences: int = 0
    max_treedepth_hits: int = 0
    min_bfmi: float = 0.3
    # model_fit fails (instead of warning) when the model does not fit the data
    fail_on_misfit: bool = False

    def with_overrides(self, **overrides: float | int | None) -> Thresholds:
        """A copy with the given non-``None`` values replaced (command-line flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class CheckResult:
    """One check: its status, the measured value against the threshold, and a message."""

    name: str
    status: Status
    value: float | None
    threshold: float | None
    message: str
    worst: str | None = None

    @property
    def passed(self) -> bool | None:
        """True/False for a decided check, ``None`` when it could not be computed."""
        return None if self.status == "n/a" else self.status != "fail"


@dataclass(frozen=True)
class Advice:
    """One concrete next step and the evidence behind it."""

    action: str
    reason: str
    remedy: str
    target: str | None = None


def _finite(params: list[ParameterSummary], attr: str) -> list[ParameterSummary]:
    return [p for p in params if math.isfinite(getattr(p, attr))]


FIXED_PARAM_REASON = "not assessed: the fixed_param sampler ran (no HMC transitions, no adaptation)"


def _not_hmc(name: str, threshold: float | None) -> CheckResult:
    return CheckResult(name, "n/a", None, threshold, FIXED_PARAM_REASON)


def _check_divergences(d: Diagnosis, t: Thresholds) -> CheckResult:
    if not d.hmc:
        return _not_hmc("divergences", t.max_divergences)
    if d.divergences_total is None:
        return CheckResult(
            "divergences", "n/a", None, t.max_divergences, "the run records no divergence stat"
        )
    per_chain = ", ".join(str(c.divergences) for c in d.chain_stats)
    pct = 100 * (d.divergence_fraction or 0.0)
    ok = d.divergences_total <= t.max_divergences
    message = (
        f"{d.divergences_total} divergent transitions ({pct:.1f}% of draws; per chain: {per_chain})"
    )
    top = d.hotspots[0].parameter if d.hotspots else None
    return CheckResult(
        "divergences",
        "pass" if ok else "fail",
        d.divergences_total,
        t.max_divergences,
        message,
        top,
    )


def _check_rhat(d: Diagnosis, t: Thresholds) -> CheckResult:
    params = _finite(d.parameters, "r_hat")
    if not params:
        return CheckResult("r_hat", "n/a", None, t.max_rhat, "no parameter has a finite r_hat")
    worst = max(params, key=lambda p: p.r_hat)
    bad = [p for p in params if p.r_hat > t.max_rhat]
    if bad:
        message = f"{len(bad)} of {len(params)} parameters have r_hat > {t.max_rhat:g}; worst {worst.name} = {worst.r_hat:.3f}"
    else:
        message = (
            f"all {len(params)} parameters have r_hat <= {t.max_rhat:g} (max {worst.r_hat:.3f})"
        )
    return CheckResult(
        "r_hat", "fail" if bad else "pass", worst.r_hat, t.max_rhat, message, worst.name
    )


def _check_ess(d: Diagnosis, t: Thresholds, kind: str) -> CheckResult:
    attr = f"ess_{kind}"
    need = t.min_ess_per_chain * d.chains
    params = _finite(d.parameters, attr)
    if not params:
        return CheckResult(attr, "n/a", None, need, f"no parameter has a finite {attr}")
    worst = min(params, key=lambda p: getattr(p, attr))
    bad = [p for p in params if getattr(p, attr) < need]
    value = getattr(worst, attr)
    rule = f"{t.min_ess_per_chain:g} per chain x {d.chains} chains = {need:g}"
    if bad:
        message = f"{len(bad)} of {len(params)} parameters have {attr} < {rule}; lowest {worst.name} = {value:.0f}"
    else:
        message = f"all {len(params)} parameters have {attr} >= {rule} (min {value:.0f})"
    return CheckResult(attr, "fail" if bad else "pass", value, need, message, worst.name)


def _check_treedepth(d: Diagnosis, t: Thresholds) -> CheckResult:
    if not d.hmc:
        return _not_hmc("tree_depth", t.max_treedepth_hits)
    if d.treedepth_hits_total is None:
        return CheckResult(
            "tree_depth", "n/a", None, t.max_treedepth_hits, "the run records no tree-depth stat"
        )
    assumed = (
        " (the run does not record the limit; the default, 10, is assumed)"
        if d.max_treedepth_assumed
        else ""
    )
    per_chain = ", ".join(str(c.treedepth_hits) for c in d.chain_stats)
    ok = d.treedepth_hits_total <= t.max_treedepth_hits
    message = f"{d.treedepth_hits_total} transitions hit max tree depth {d.max_treedepth}{assumed} (per chain: {per_chain})"
    return CheckResult(
        "tree_depth",
        "pass" if ok else "fail",
        d.treedepth_hits_total,
        t.max_treedepth_hits,
        message,
    )


def _check_bfmi(d: Diagnosis, t: Thresholds) -> CheckResult:
    if not d.hmc:
        return _not_hmc("e_bfmi", t.min_bfmi)
    recorded = [(c.chain, c.bfmi) for c in d.chain_stats if c.bfmi is not None]
    if not recorded:
        return CheckResult(
            "e_bfmi", "n/a", None, t.min_bfmi, "the run records no energy: E-BFMI not available"
        )
    values = [(c, v) for c, v in recorded if math.isfinite(v)]
    undefined = [c for c, v in recorded if not math.isfinite(v)]
    if undefined:
        # A NaN is not a pass: E-BFMI is 0/0 when the energy never changes within a chain.
        chains = ", ".join(map(str, undefined))
        return CheckResult(
            "e_bfmi",
            "n/a",
            None,
            t.min_bfmi,
            f"E-BFMI cannot be computed in chain {chains}: the energy does not vary "
            "(constant or non-finite energy__)",
        )
    low = [(c, v) for c, v in values if v < t.min_bfmi]
    lowest = min(v for _, v in values)
    if low:
        chains = ", ".join(f"chain {c}: {v:.2f}" for c, v in low)
        message = f"E-BFMI below {t.min_bfmi:g} in {len(low)} chain(s) ({chains})"
    else:
        message = f"E-BFMI >= {t.min_bfmi:g} in every chain (min {lowest:.2f})"
    return CheckResult("e_bfmi", "fail" if low else "pass", lowest, t.min_bfmi, message)


def _check_acceptance(d: Diagnosis) -> CheckResult:
    if not d.hmc:
        return _not_hmc("acceptance", d.target_accept)
    accepts = [
        (c.chain, c.mean_accept)
        for c in d.chain_stats
        if c.mean_accept is not None and math.isfinite(c.mean_accept)
    ]
    if not accepts:
        return CheckResult(
            "acceptance", "n/a", None, d.target_accept, "the run records no acceptance stat"
        )
    mean = sum(v for _, v in accepts) / len(accepts)
    if d.target_accept is None:
        return CheckResult(
            "acceptance", "pass", mean, None, f"mean acceptance {mean:.2f} (target not recorded)"
        )
    off = [(c, v) for c, v in accepts if abs(v - d.target_accept) > ACCEPTANCE_TOLERANCE]
    if off:
        chains = ", ".join(f"chain {c}: {v:.2f}" for c, v in off)
        message = f"acceptance does not match the target {d.target_accept:g} ({chains})"
        return CheckResult("acceptance", "warn", mean, d.target_accept, message)
    return CheckResult(
        "acceptance",
        "pass",
        mean,
        d.target_accept,
        f"mean acceptance {mean:.2f} matches target {d.target_accept:g}",
    )


def run_checks(d: Diagnosis, t: Thresholds) -> list[CheckResult]:
    """Apply every threshold; a check whose stat is missing is ``n/a``, never a crash."""
    return [
        _check_divergences(d, t),
        _check_treedepth(d, t),
        _check_bfmi(d, t),
        _check_rhat(d, t),
        _check_ess(d, t, "bulk"),
        _check_ess(d, t, "tail"),
        _check_acceptance(d),
        _check_model_fit(d, t),
    ]


def _check_model_fit(d: Diagnosis, t: Thresholds) -> CheckResult:
    """Influential observations (Pareto k) and extreme posterior predictive p-values: a
    warning, or a failure with ``fail_on_misfit`` (``hmdiag.diagnose.model_fit``)."""
    fit = d.model_fit
    if fit is None or not fit.assessed:
        reason = fit.reason if fit is not None else "not measured"
        return CheckResult("model_fit", "n/a", None, None, f"model fit not assessed: {reason}")
    problems = []
    if fit.n_influential:
        rows = ", ".join(r.label for r in fit.influential[:3])
        more = f" and {fit.n_influential - 3} more" if fit.n_influential > 3 else ""
        problems.append(
            f"{fit.n_influential} observation(s) with Pareto k > {fit.k_limit:.3g} ({rows}{more})"
        )
    problems += [
        f"{c.statistic} {c.observed:.4g} outside the replicated data (p = {c.p_value:.3f})"
        for c in fit.extreme()
    ]
    problems += [
        f"{c.statistic} by {c.factor}: {c.n_extreme} of {c.levels} levels outside their "
        f"replicated data ({c.expected:.2g} expected by chance, p = {c.p_value:.2g})"
        for c in fit.extreme_grouped()
    ]
    worst = fit.influential[0].label if fit.influential else None
    if problems:
        status: Status = "fail" if t.fail_on_misfit else "warn"
        return CheckResult(
            "model_fit", status, fit.max_k, fit.k_limit, "; ".join(problems), worst=worst
        )
    parts = []
    if fit.n_high_k:
        parts.append(
            f"{fit.n_high_k} observation(s) with Pareto k > {fit.k_limit:.3g} that the model "
            "reproduces (each with its own effect): PSIS-LOO is unreliable for them; use "
            "K-fold cross-validation to compare models"
        )
    elif fit.max_k is not None:
        parts.append(f"max Pareto k {fit.max_k:.3g} <= {fit.k_limit:.3g}")
    if fit.predictive:
        parts.append(f"{len(fit.predictive)} posterior predictive statistics within range")
    if fit.grouped:
        factors = sorted({c.factor for c in fit.grouped})
        parts.append(f"per level of {', '.join(factors)}: within chance")
    return CheckResult("model_fit", "pass", fit.max_k, fit.k_limit, "; ".join(parts))


def percentile(fraction: float) -> str:
    """``0.05`` -> ``"5th percentile"`` (1st, 2nd, 3rd, 11th, 22nd ...)."""
    n = round(100 * fraction)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} percentile"


def next_target_accept(current: float | None) -> float | None:
    """The next rung of 0.9 -> 0.95 -> 0.99 above ``current`` (None at the top)."""
    current = 0.8 if current is None else current
    for rung in TARGET_ACCEPT_LADDER:
        if rung > current + 1e-9:
            return rung
    return None


def _divergence_advice(d: Diagnosis) -> list[Advice]:
    """Advice for divergences no catalog pathology explains: smaller steps, then a look."""
    advice: list[Advice] = []
    rung = next_target_accept(d.target_accept)
    if rung is not None:
        current = f"{d.target_accept:g}" if d.target_accept is not None else "the default"
        advice.append(
            Advice(
                action=f"Raise {target_accept_name(d.dialect)} from {current} to {rung:g} "
                f"({setting(d.dialect, 'target_accept', rung)})",
                reason="smaller steps can follow sharper curvature",
                remedy="raise_target_accept",
            )
        )
    if d.hotspots:
        top = d.hotspots[0]
        advice.append(
            Advice(
                action=f"Look at the pair plot of `{top.parameter}` with divergences marked "
                f"(hmdiag plot RUN --kind pair --var {top.variable})",
                reason=f"divergent draws differ most in `{top.parameter}` (KS distance {top.score:.2f})",
                remedy="inspect",
                target=top.parameter,
            )
        )
    return advice


def _ess_advice(d: Diagnosis, check: CheckResult) -> Advice:
    draws = d.draws
    if check.value and check.value > 0 and check.threshold:
        factor = min(10.0, check.threshold / check.value * 1.2)
        draws = int(math.ceil(d.draws * factor / 100.0) * 100)
    return Advice(
        action=f"Run longer: draws {d.draws} -> {draws} ({setting(d.dialect, 'draws', draws)})",
        reason=f"{check.name} of `{check.worst}` is {check.value:.0f}, below {check.threshold:g}",
        remedy="more_draws",
        target=check.worst,
    )


def make_advice(
    d: Diagnosis, checks: list[CheckResult], explained: set[str] | None = None
) -> list[Advice]:
    """Generic next steps for the failed checks that no named pathology ``explained``."""
    explained = explained or set()
    diverged = any(c.name == "divergences" and c.status == "fail" for c in checks)
    failed = {c.name: c for c in checks if c.status == "fail" and c.name not in explained}
    advice: list[Advice] = []
    if "divergences" in failed:
        advice += _divergence_advice(d)
    if "r_hat" in failed:
        worst = failed["r_hat"].worst
        advice.append(
            Advice(
                action=f"Look at the rank plot of `{worst}` (hmdiag plot RUN --kind rank --var {worst.split('[')[0]})"
                + ("; fix the divergences first" if diverged else "; then run longer"),
                reason=f"{'chains disagree' if d.chains > 1 else 'the halves of the one chain disagree'}"
                f" about `{worst}` (r_hat {failed['r_hat'].value:.3f})",
                remedy="inspect",
                target=worst,
            )
        )
    for name in ("ess_bulk", "ess_tail"):
        if name in failed and not diverged:
            advice.append(_ess_advice(d, failed[name]))
            break
    if "tree_depth" in failed:
        advice.append(
            Advice(
                action="Reparameterize or rescale predictors; or raise the max tree depth "
                f"above {d.max_treedepth} ({setting(d.dialect, 'max_treedepth', (d.max_treedepth or 10) + 2)})",
                reason="trajectories are cut short, so exploration is slow (often strong posterior correlations)",
                remedy="raise_max_treedepth",
            )
        )
    if "e_bfmi" in failed:
        advice.append(
            Advice(
                action="Reparameterize (non-centered group terms) or use tighter priors on scale parameters",
                reason="low E-BFMI: momentum resampling cannot move the energy enough (heavy tails or a funnel)",
                remedy="non_center",
            )
        )
    acceptance = next((c for c in checks if c.name == "acceptance" and c.status == "warn"), None)
    if acceptance is not None and failed:
        advice.append(
            Advice(
                action=f"Give warmup more iterations (e.g. {setting(d.dialect, 'tune', 2000)}) "
                "so step-size adaptation can settle",
                reason=acceptance.message,
                remedy="more_tune",
            )
        )
    return advice
