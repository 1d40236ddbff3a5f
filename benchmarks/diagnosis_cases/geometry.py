"""Cases whose sampling geometry fails: funnels (inverted too), ridges, a scale at its boundary."""

from __future__ import annotations

import numpy as np

from diagnosis_cases._registry import Built, case, group, labels, sampler
from diagnosis_cases.healthy import correlated_slopes, crossed_zero_sum, poisson_groups

# ---------------------------------------------------------------- funnel (sampler geometry)


@case("funnel_logit_4g", "funnel", "bernoulli, 4 groups of 40/15/5/3, centered", True)
def _() -> Built:
    rng = np.random.default_rng(101)
    sizes = [40, 15, 5, 3]
    g = np.repeat(np.arange(4), sizes)
    a = -0.4 + 0.3 * rng.standard_normal(4)
    y = rng.random(g.size) < 1 / (1 + np.exp(-a[g]))
    spec = {
        "response": "y",
        "likelihood": "bernoulli",
        "intercept": {"prior": "normal(0, 1.5)"},
        "groups": [group("g", "centered", "exponential(1)")],
        "sampler": sampler(11),
    }
    return spec, {"y": y.astype(int), "g": labels("d", g)}


@case("funnel_known_se_10", "funnel", "normal, 10 units with known se 9-18, tau 2, centered", True)
def _() -> Built:
    rng = np.random.default_rng(102)
    se = rng.uniform(9, 18, 10)
    theta = 5 + 2 * rng.standard_normal(10)
    y = theta + se * rng.standard_normal(10)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"column": "se"},
        "intercept": {"prior": "normal(0, 10)"},
        "groups": [group("unit", "centered", "halfcauchy(5)")],
        "sampler": sampler(12),
    }
    return spec, {"y": y, "se": se, "unit": labels("u", np.arange(10))}


@case("funnel_poisson_6g", "funnel", "poisson, 6 sites x 3 counts, sd 0.15, centered", True)
def _() -> Built:
    rng = np.random.default_rng(103)
    g = np.repeat(np.arange(6), 3)
    a = 1.0 + 0.15 * rng.standard_normal(6)
    y = rng.poisson(np.exp(a[g]))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(1, 1)"},
        "groups": [group("site", "centered", "exponential(1)")],
        "sampler": sampler(13),
    }
    return spec, {"y": y, "site": labels("s", g)}


@case(
    "funnel_correlated_6g",
    "funnel",
    "issue #25: normal, formula (1 + x | g), correlated, centered, 6 groups x 8",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(104)
    g = np.repeat(np.arange(6), 8)
    x = rng.uniform(-1, 1, g.size)
    a = 0.3 * rng.standard_normal(6)
    b = 0.5 + 0.1 * rng.standard_normal(6)
    y = 2 + a[g] + b[g] * x + rng.standard_normal(g.size)
    spec = {
        "formula": "y ~ 1 + x + (1 + x | g)",
        "family": "normal",
        "sigma": {"prior": "halfnormal(2)"},
        "intercept": {"prior": "normal(0, 5)"},
        "groups": {"g": {"parameterization": "centered", "correlation_prior": "lkj(2)"}},
        "priors": {"1|g": "halfnormal(1)", "x|g": "halfnormal(1)"},
        "sampler": sampler(14),
    }
    return spec, {"y": y, "x": x, "g": labels("g", g)}


# ---------------------------------------------------------------- ridge (non-identification)


@case(
    "ridge_plates_samples",
    "ridge",
    "issue #25: Penicillin-like normal, 18 plates x 5 samples crossed, both non-centered",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(201)
    plate, sample = (a.ravel() for a in np.meshgrid(np.arange(18), np.arange(5), indexing="ij"))
    y = 20 + 0.8 * rng.standard_normal(18)[plate] + 2 * rng.standard_normal(5)[sample]
    y = y + 0.5 * rng.standard_normal(plate.size)
    spec = {
        "response": "diameter",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(1)"},
        "intercept": {"prior": "normal(20, 10)"},
        "groups": [
            group("plate", prior="halfnormal(2)"),
            group("sample", prior="halfnormal(5)"),
        ],
        "sampler": sampler(21),
    }
    return spec, {"diameter": y, "plate": labels("p", plate), "sample": labels("s", sample)}


@case("ridge_crossed_poisson", "ridge", "poisson, 15 x 4 crossed, both non-centered", True)
def _() -> Built:
    rng = np.random.default_rng(202)
    a, b = (m.ravel() for m in np.meshgrid(np.arange(15), np.arange(4), indexing="ij"))
    a, b = np.tile(a, 2), np.tile(b, 2)
    eta = 2.5 + 0.3 * rng.standard_normal(15)[a] + 0.8 * rng.standard_normal(4)[b]
    y = rng.poisson(np.exp(eta))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 3)"},
        "groups": [group("field"), group("variety", prior="halfnormal(2)")],
        "sampler": sampler(22),
    }
    return spec, {"y": y, "field": labels("f", a), "variety": labels("v", b)}


@case(
    "ridge_crossed_binomial",
    "ridge",
    "binomial 30 trials, 20 raters x 5 items crossed, both non-centered",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(203)
    a, b = (m.ravel() for m in np.meshgrid(np.arange(20), np.arange(5), indexing="ij"))
    eta = 0.2 + 0.4 * rng.standard_normal(20)[a] + 1.0 * rng.standard_normal(5)[b]
    y = rng.binomial(30, 1 / (1 + np.exp(-eta)))
    spec = {
        "response": "y",
        "likelihood": "binomial",
        "trials": 30,
        "intercept": {"prior": "normal(0, 2.5)"},
        "groups": [group("rater"), group("item", prior="halfnormal(2)")],
        "sampler": sampler(23),
    }
    return spec, {"y": y, "rater": labels("r", a), "item": labels("i", b)}


@case(
    "funnel_inverted_poisson",
    "funnel",
    "poisson n=150, predictor + 10 groups of 15, non-centered though the data pin each group",
    True,
)
def _() -> Built:
    return poisson_groups("non_centered")


@case(
    "funnel_inverted_zero_sum",
    "funnel",
    "normal, 16 x 5 crossed, zero_sum column term non-centered though 16 rows pin each level",
    True,
)
def _() -> Built:
    return crossed_zero_sum("non_centered")


@case(
    "funnel_inverted_correlated",
    "funnel",
    "normal, formula (1 + x | g), correlated, non-centered though 12 rows pin each group",
    True,
)
def _() -> Built:
    return correlated_slopes("non_centered")


# ---------------------------------------------------------------- boundary (scale at 0)
# No between-group variation. Non-centered, the scale's posterior piles up at 0 and what is
# left of the divergences sits there: the boundary. Centered, the sampler cannot reach 0 (the
# scale's draws have their mode away from it) and the same data make a funnel, so the
# centered copies below are funnel cases.


def between_free(rng: np.random.Generator, g: np.ndarray, y: np.ndarray, keep: float) -> np.ndarray:
    """``y`` with each group's mean pulled to the grand mean (between-group variation below
    what noise alone gives: a group scale estimated at 0)."""
    out = y.copy()
    for j in np.unique(g):
        m = g == j
        out[m] = y[m] - (1 - keep) * (y[m].mean() - y.mean())
    return out


@case(
    "boundary_normal_6g",
    "boundary",
    "normal, 6 groups x 5, no between-group sd, non-centered",
    True,
)
def _() -> Built:
    return zero_sd_normal_6g("non_centered")


def zero_sd_normal_6g(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(301)
    g = np.repeat(np.arange(6), 5)
    y = between_free(rng, g, 10 + 3 * rng.standard_normal(g.size), 0.2)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(10, 5)"},
        "groups": [group("batch", parameterization, "halfnormal(4)")],
        "sampler": sampler(31),
    }
    return spec, {"y": y, "batch": labels("b", g)}


@case(
    "boundary_normal_8g_cauchy",
    "boundary",
    "normal, 8 groups x 4, sd 0, halfcauchy, non-centered",
    True,
)
def _() -> Built:
    return zero_sd_normal_8g_cauchy("non_centered")


def zero_sd_normal_8g_cauchy(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(302)
    g = np.repeat(np.arange(8), 4)
    y = between_free(rng, g, 50 + 5 * rng.standard_normal(g.size), 0.3)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(10)"},
        "intercept": {"prior": "normal(50, 20)"},
        "groups": [group("lot", parameterization, "halfcauchy(5)")],
        "sampler": sampler(32),
    }
    return spec, {"y": y, "lot": labels("l", g)}


@case("boundary_poisson_7g", "boundary", "poisson, 7 groups x 6, equal rates, non-centered", True)
def _() -> Built:
    return zero_sd_poisson_7g("non_centered")


def zero_sd_poisson_7g(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(303)
    g = np.repeat(np.arange(7), 6)
    y = rng.poisson(4.0, g.size)
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(1, 1)"},
        "groups": [group("ward", parameterization, "halfnormal(1)")],
        "sampler": sampler(33),
    }
    return spec, {"y": y, "ward": labels("w", g)}


@case(
    "funnel_at_zero_normal_6g",
    "funnel",
    "normal, 6 groups x 5, no between-group sd, centered",
    True,
)
def _() -> Built:
    return zero_sd_normal_6g("centered")


@case(
    "funnel_at_zero_normal_8g_cauchy",
    "funnel",
    "normal, 8 groups x 4, sd 0, halfcauchy, centered",
    True,
)
def _() -> Built:
    return zero_sd_normal_8g_cauchy("centered")


@case("funnel_at_zero_poisson_7g", "funnel", "poisson, 7 groups x 6, equal rates, centered", True)
def _() -> Built:
    return zero_sd_poisson_7g("centered")
