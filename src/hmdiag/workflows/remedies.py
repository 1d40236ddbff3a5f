"""The doctor's spec edits: one ``Remedy`` per change a diagnosis can propose (a group's
parameterization or prior, a sampler setting, the likelihood), each a pure function of the
spec and the advice."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmdiag.diagnose.checks import TARGET_ACCEPT_LADDER, Advice
from hmdiag.spec import ModelSpec
from hmdiag.spec.priors import Prior

MAX_TUNE = 8000


@dataclass(frozen=True)
class Remedy:
    """One change to the spec and the evidence for it."""

    kind: str
    change: str
    reason: str
    apply: Callable[[dict[str, Any]], None] = field(repr=False, compare=False)
    # proposed by a named pathology (the early stop waits while such a remedy is untried)
    named: bool = False


def set_group(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        raw["groups"][index][key] = value

    return apply


def set_sampler(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        raw.setdefault("sampler", {})[key] = value

    return apply


def group_index(spec: ModelSpec, factor: str) -> int | None:
    return next((i for i, g in enumerate(spec.groups) if g.factor == factor), None)


def predictor_index(spec: ModelSpec, column: str) -> int | None:
    return next((i for i, p in enumerate(spec.predictors) if p.column == column), None)


def set_predictor(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
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


def group_remedy(spec: ModelSpec, advice: Advice) -> Remedy | None:
    """A spec edit for a pathology remedy that changes a group term (``factor`` or, for a
    varying slope's scale, ``factor:column``)."""
    factor, _, column = (advice.target or "").partition(":")
    index = group_index(spec, factor)
    if index is None:
        return None
    group = spec.groups[index]
    if column:
        slope = next((j for j, sl in enumerate(group.slopes) if sl.column == column), None)
        if advice.remedy != "tighten_scale_prior" or slope is None:
            return None
        old = group.slopes[slope].scale.prior
        new = tighter_scale_prior(old)
        if group.correlated and new.family != group.scale.prior.family:
            return None  # one LKJ sd_dist: every scale of a correlated block shares a family
        change = f"groups[{index}] ({group.factor}) slope {column}: scale prior {old} -> {new}"
        return Remedy("tighten_scale_prior", change, "", _set_scale_prior(index, str(new), slope))
    if advice.remedy == "center" and group.parameterization == "non_centered":
        change = f"groups[{index}] ({group.factor}): parameterization non_centered -> centered"
        return Remedy("center", change, "", set_group(index, "parameterization", "centered"))
    if advice.remedy == "non_center" and group.parameterization == "centered":
        change = f"groups[{index}] ({group.factor}): parameterization centered -> non_centered"
        return Remedy(
            "non_center", change, "", set_group(index, "parameterization", "non_centered")
        )
    if (
        advice.remedy == "zero_sum"
        and group.effects != "zero_sum"
        and group.pooling == "partial"
        and not group.correlated
    ):
        change = f"groups[{index}] ({group.factor}): effects normal -> zero_sum"
        return Remedy("zero_sum", change, "", set_group(index, "effects", "zero_sum"))
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


def sampler_remedy(spec: ModelSpec, advice: Advice) -> Remedy | None:
    """A spec edit for a pathology remedy that changes the sampler."""
    sampler = spec.sampler
    if advice.remedy == "raise_target_accept" and sampler.target_accept < TARGET_ACCEPT_LADDER[-1]:
        rung = TARGET_ACCEPT_LADDER[-1]
        change = f"sampler.target_accept: {sampler.target_accept:g} -> {rung:g}"
        return Remedy("raise_target_accept", change, "", set_sampler("target_accept", rung))
    if advice.remedy == "dense_mass_matrix" and sampler.mass_matrix not in ("dense", "low_rank"):
        change = f"sampler.mass_matrix: {sampler.mass_matrix} -> dense"
        return Remedy("dense_mass_matrix", change, "", set_sampler("mass_matrix", "dense"))
    if advice.remedy == "more_tune":
        tune = more_tune(sampler.tune)
        if tune > sampler.tune:
            change = f"sampler.tune: {sampler.tune} -> {tune}"
            return Remedy("more_tune", change, "", set_sampler("tune", tune))
    return None


def more_tune(tune: int) -> int:
    """Twice the warm-up (at least 1000, at most ``MAX_TUNE``)."""
    return min(MAX_TUNE, max(1000, tune * 2))


def likelihood_remedy(spec: ModelSpec, target: str | None) -> Remedy | None:
    """Switch the likelihood (normal -> student_t, poisson -> negative_binomial); the new
    auxiliary parameter (nu, alpha) takes its documented default prior."""
    if target is None or target == spec.likelihood:
        return None

    def apply(raw: dict[str, Any]) -> None:
        raw["likelihood"] = target

    return Remedy("likelihood", f"likelihood: {spec.likelihood} -> {target}", "", apply)


# Within(column, factor): whether a predictor's values vary inside the factor's levels.
Within = Callable[[str, str], bool]


def varying_slope_remedy(spec: ModelSpec, factor: str | None, within: Within) -> Remedy | None:
    """Give the first numeric predictor that varies inside ``factor``'s levels, and is not yet
    a varying slope of it, a varying slope by ``factor``. Its scale prior is a half-normal as
    wide as the predictor's own prior (its population slope), else the default."""
    index = group_index(spec, factor or "")
    if index is None:
        return None
    group = spec.groups[index]
    if group.pooling != "partial" or group.correlated:
        # A correlated block's scales share one LKJ sd_dist family: widen it by hand.
        return None
    have = {s.column for s in group.slopes}
    for predictor in spec.predictors:
        if predictor.categorical or predictor.column in have:
            continue
        if not within(predictor.column, group.factor):
            continue  # constant inside every level: a slope there is the intercept again
        prior = predictor.prior
        scale = (
            f"halfnormal({prior.args['sigma']:g})"
            if prior.family in ("normal", "student_t")
            else None
        )
        slope: dict[str, Any] = {"column": predictor.column}
        if scale is not None:
            slope["scale"] = {"prior": scale}

        def apply(raw: dict[str, Any], slope: dict[str, Any] = slope) -> None:
            raw["groups"][index].setdefault("slopes", []).append(dict(slope))

        change = f"groups[{index}] ({group.factor}): add a varying slope for {predictor.column}" + (
            f" (scale prior {scale})" if scale else ""
        )
        return Remedy("varying_slope", change, "", apply)
    return None


def varies_within(loaded: Any) -> Within:
    """A ``Within`` over the spec's data, read once on first use (``loaded``: a LoadedSpec)."""
    cache: dict[str, Any] = {}

    def within(column: str, factor: str) -> bool:
        if "data" not in cache:
            from hmdiag.model.data import prepare_data

            try:
                cache["data"] = prepare_data(loaded)
            except Exception:
                cache["data"] = None
        data = cache["data"]
        if data is None or column not in data.predictors or factor not in data.groups:
            return False
        x = np.asarray(data.predictors[column], dtype=float)
        codes = np.asarray(data.groups[factor].codes)
        levels = codes.max() + 1 if codes.size else 0
        low = np.full(levels, np.inf)
        high = np.full(levels, -np.inf)
        np.minimum.at(low, codes, x)
        np.maximum.at(high, codes, x)
        return bool(np.any(high > low))

    return within
