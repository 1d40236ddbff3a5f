"""The sick cases: one section per catalog entry, each with its known truth."""

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


# ---------------------------------------------------------------- prior_dominated


@case("prior_dom_tight_mean", "prior_dominated", "normal n=8, sd 4, intercept prior sd 0.1", False)
def _() -> Built:
    rng = np.random.default_rng(401)
    y = 0.05 + 4 * rng.standard_normal(8)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(0, 0.1)"},
        "sampler": sampler(41),
    }
    return spec, {"y": y}


@case("prior_dom_logit_slope", "prior_dominated", "bernoulli n=40, slope prior sd 0.1", False)
def _() -> Built:
    rng = np.random.default_rng(402)
    x = rng.standard_normal(40)
    y = rng.random(40) < 1 / (1 + np.exp(-(0.3 + 0.05 * x)))
    spec = {
        "response": "y",
        "likelihood": "bernoulli",
        "intercept": {"prior": "normal(0, 1.5)"},
        "predictors": [{"column": "x", "prior": "normal(0, 0.1)"}],
        "sampler": sampler(42),
    }
    return spec, {"y": y.astype(int), "x": x}


@case("prior_dom_poisson_coef", "prior_dominated", "poisson n=12, slope prior sd 0.05", False)
def _() -> Built:
    rng = np.random.default_rng(403)
    x = rng.standard_normal(12)
    y = rng.poisson(np.exp(1.0 + 0.5 * x))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 2)"},
        "predictors": [{"column": "x", "prior": "normal(0.5, 0.05)"}],
        "sampler": sampler(43),
    }
    return spec, {"y": y, "x": x}


@case(
    "prior_dom_student_t_nu",
    "prior_dominated",
    "student_t(4) errors, n=120: nu weakly identified (Juarez & Steel 2010)",
    False,
)
def _() -> Built:
    rng = np.random.default_rng(1208)
    x = rng.standard_normal(120)
    y = 1 + 0.5 * x + rng.standard_t(4, 120)
    spec = {
        "response": "y",
        "likelihood": "student_t",
        "sigma": {"prior": "halfnormal(3)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [{"column": "x", "prior": "normal(0, 2)"}],
        "sampler": sampler(128),
    }
    return spec, {"y": y, "x": x}


# ---------------------------------------------------------------- prior_data_conflict


@case(
    "conflict_normal_mean", "prior_data_conflict", "normal n=40 mean 8, prior normal(0, 1)", False
)
def _() -> Built:
    rng = np.random.default_rng(501)
    y = 8 + 2 * rng.standard_normal(40)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(0, 1)"},
        "sampler": sampler(51),
    }
    return spec, {"y": y}


@case(
    "conflict_separation_binary",
    "prior_data_conflict",
    "bernoulli, binary treatment separates outcomes (all 1 when treated), normal(0, 5)",
    False,
)
def _() -> Built:
    rng = np.random.default_rng(502)
    treated = np.repeat([0, 1], 25)
    y = np.where(treated == 1, 1, rng.random(50) < 0.3)
    spec = {
        "response": "y",
        "likelihood": "bernoulli",
        "intercept": {"prior": "normal(0, 2.5)"},
        "predictors": [{"column": "treated", "prior": "normal(0, 5)"}],
        "sampler": sampler(52),
    }
    return spec, {"y": y.astype(int), "treated": treated}


@case(
    "conflict_poisson_rate",
    "prior_data_conflict",
    "poisson mean 60, log-rate prior normal(0, 1)",
    False,
)
def _() -> Built:
    rng = np.random.default_rng(503)
    y = rng.poisson(60, 30)
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 1)"},
        "sampler": sampler(53),
    }
    return spec, {"y": y}


# ---------------------------------------------------------------- stuck_chain
# No spec key sets a chain's start, so a stuck chain is made from the posterior: a Cauchy
# likelihood (student_t with nu held at 1) over clusters of readings, the lowest cluster read
# with a known se 100 times smaller than the others. A chain that settles there barely moves.


def cauchy_clusters(seed: int, centers: list[float], se: list[float], per: int) -> Built:
    rng = np.random.default_rng(seed)
    c = np.repeat(np.asarray(centers), per)
    s = np.repeat(np.asarray(se), per)
    y = c + 0.3 * s * rng.standard_normal(c.size)
    spec = {
        "response": "y",
        "likelihood": "student_t",
        "sigma": {"column": "se"},
        "nu": {"prior": "gamma(1000, 1000)"},
        "intercept": {"prior": "normal(0, 5)"},
    }
    return spec, {"y": y, "se": s}


@case("stuck_narrow_mode_a", "stuck_chain", "Cauchy, 3 clusters, lowest read 100x sharper", False)
def _() -> Built:
    spec, cols = cauchy_clusters(601, [-1.0, 0.0, 1.0], [0.0005, 0.05, 0.05], 3)
    return {**spec, "sampler": sampler(61)}, cols


@case("stuck_narrow_mode_b", "stuck_chain", "Cauchy, 4 clusters, lowest read 200x sharper", False)
def _() -> Built:
    spec, cols = cauchy_clusters(602, [-2.0, -0.5, 0.5, 2.0], [0.0002, 0.04, 0.04, 0.04], 3)
    return {**spec, "sampler": sampler(62)}, cols


@case("stuck_narrow_mode_c", "stuck_chain", "Cauchy, 3 clusters of 4, lowest 100x sharper", False)
def _() -> Built:
    spec, cols = cauchy_clusters(603, [-1.5, 0.0, 1.5], [0.001, 0.1, 0.1], 4)
    return {**spec, "sampler": sampler(63)}, cols


# ---------------------------------------------------------------- multimodal


@case("multimodal_5_levels", "multimodal", "Cauchy, 5 clusters 1 apart, se 0.02", False)
def _() -> Built:
    spec, cols = cauchy_clusters(701, [-2.0, -1.0, 0.0, 1.0, 2.0], [0.02] * 5, 3)
    return {**spec, "sampler": sampler(71)}, cols


@case("multimodal_6_uneven", "multimodal", "Cauchy, 6 clusters of 2-4 readings, se 0.03", False)
def _() -> Built:
    rng = np.random.default_rng(702)
    sizes = [2, 4, 3, 2, 4, 3]
    c = np.repeat(np.linspace(-3, 3, 6), sizes)
    y = c + 0.01 * rng.standard_normal(c.size)
    spec = {
        "response": "y",
        "likelihood": "student_t",
        "sigma": {"column": "se"},
        "nu": {"prior": "gamma(1000, 1000)"},
        "intercept": {"prior": "normal(0, 5)"},
        "sampler": sampler(72),
    }
    return spec, {"y": y, "se": np.full(c.size, 0.03)}


@case("multimodal_t2_regression", "multimodal", "student_t nu~2, slope 0 vs 2 in 2 halves", False)
def _() -> Built:
    rng = np.random.default_rng(703)
    x = np.tile(np.linspace(-1, 1, 10), 2)
    slope = np.repeat([-2.0, 2.0], 10)
    y = slope * x + 0.01 * rng.standard_normal(20)
    spec = {
        "response": "y",
        "likelihood": "student_t",
        "sigma": {"column": "se"},
        "nu": {"prior": "gamma(1000, 1000)"},
        "intercept": {"prior": "normal(0, 1)"},
        "predictors": [{"column": "x", "prior": "normal(0, 5)"}],
        "sampler": sampler(73),
    }
    return spec, {"y": y, "x": x, "se": np.full(20, 0.02)}


# ---------------------------------------------------------------- treedepth_saturation


def collinear(seed: int, n: int, jitter: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal(n)
    return rng, x1, x1 + jitter * rng.standard_normal(n)


@case(
    "treedepth_collinear_normal", "treedepth_saturation", "normal n=80, x2 = x1 + N(0, 0.002)", True
)
def _() -> Built:
    rng, x1, x2 = collinear(801, 80, 0.002)
    y = 0.5 + 0.7 * x1 + 0.3 * x2 + 0.2 * rng.standard_normal(80)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(1)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [
            {"column": "x1", "prior": "normal(0, 5)"},
            {"column": "x2", "prior": "normal(0, 5)"},
        ],
        "sampler": sampler(81, max_treedepth=8),
    }
    return spec, {"y": y, "x1": x1, "x2": x2}


@case(
    "treedepth_collinear_poisson",
    "treedepth_saturation",
    "poisson n=120, x2 = x1 + N(0, 0.003)",
    True,
)
def _() -> Built:
    rng, x1, x2 = collinear(802, 120, 0.003)
    y = rng.poisson(np.exp(1.5 + 0.2 * x1 + 0.2 * x2))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 2)"},
        "predictors": [
            {"column": "x1", "prior": "normal(0, 3)"},
            {"column": "x2", "prior": "normal(0, 3)"},
        ],
        "sampler": sampler(82, max_treedepth=8),
    }
    return spec, {"y": y, "x1": x1, "x2": x2}


@case(
    "treedepth_sum_of_two", "treedepth_saturation", "normal n=60, x3 = x1 + x2 + N(0, 0.002)", True
)
def _() -> Built:
    rng = np.random.default_rng(803)
    x1, x2 = rng.standard_normal(60), rng.standard_normal(60)
    x3 = x1 + x2 + 0.002 * rng.standard_normal(60)
    y = 1 + x1 - x2 + 0.5 * x3 + 0.3 * rng.standard_normal(60)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(1)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [{"column": c, "prior": "normal(0, 5)"} for c in ("x1", "x2", "x3")],
        "sampler": sampler(83, max_treedepth=8),
    }
    return spec, {"y": y, "x1": x1, "x2": x2, "x3": x3}


# ---------------------------------------------------------------- influential_observations


@case(
    "influential_rt_x10",
    "influential_observations",
    "issue #25: reaction times, 10 subjects x 12 trials, 4 trials logged x10, normal",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(901)
    s = np.repeat(np.arange(10), 12)
    rt = 450 + 40 * rng.standard_normal(10)[s] + 60 * rng.standard_normal(s.size)
    rt[rng.choice(s.size, 4, replace=False)] *= 10
    spec = {
        "response": "rt",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(500)"},
        "intercept": {"prior": "normal(500, 300)"},
        "groups": [group("subject", prior="halfnormal(100)")],
        "sampler": sampler(91),
    }
    return spec, {"rt": rt, "subject": labels("s", s)}


@case(
    "influential_regression_x10",
    "influential_observations",
    "normal regression n=60, 3 y x10",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(902)
    x = rng.uniform(0, 1, 60)
    y = 5 + 2 * x + 0.5 * rng.standard_normal(60)
    y[[7, 23, 51]] *= 10
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(10)"},
        "intercept": {"prior": "normal(0, 20)"},
        "predictors": [{"column": "x", "prior": "normal(0, 10)"}],
        "sampler": sampler(92),
    }
    return spec, {"y": y, "x": x}


@case(
    "influential_groups_spikes",
    "influential_observations",
    "normal, 5 groups x 10, 2 spikes +20 sd",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(903)
    g = np.repeat(np.arange(5), 10)
    y = 3 * rng.standard_normal(5)[g] + rng.standard_normal(g.size)
    y[[4, 33]] += 20
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(0, 5)"},
        "groups": [group("g", prior="halfnormal(3)")],
        "sampler": sampler(93),
    }
    return spec, {"y": y, "g": labels("g", g)}


# ---------------------------------------------------------------- overdispersion


@case(
    "overdispersion_sites_visits",
    "overdispersion",
    "issue #25: 12 sites x 6 visits, negative binomial (alpha 1.5) counts fitted as poisson",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(1001)
    site = np.repeat(np.arange(12), 6)
    mu = np.exp(2.0 + 0.5 * rng.standard_normal(12))[site]
    y = rng.poisson(rng.gamma(1.5, mu / 1.5))
    spec = {
        "response": "count",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 3)"},
        "groups": [group("site")],
        "sampler": sampler(101),
    }
    return spec, {"count": y, "site": labels("s", site)}


@case(
    "overdispersion_regression",
    "overdispersion",
    "NB (alpha 2) with a predictor, poisson fit",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(1002)
    x = rng.standard_normal(100)
    mu = np.exp(1.5 + 0.4 * x)
    y = rng.poisson(rng.gamma(2.0, mu / 2.0))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 3)"},
        "predictors": [{"column": "x", "prior": "normal(0, 1)"}],
        "sampler": sampler(102),
    }
    return spec, {"y": y, "x": x}


@case(
    "overdispersion_mixed_rates",
    "overdispersion",
    "poisson counts from 2 hidden rates (3, 25)",
    True,
)
def _() -> Built:
    rng = np.random.default_rng(1003)
    rate = np.where(rng.random(80) < 0.5, 3.0, 25.0)
    y = rng.poisson(rate)
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 3)"},
        "sampler": sampler(103),
    }
    return spec, {"y": y}


# ---------------------------------------------------------------- misfit (posterior predictive)


@case("misfit_zero_inflated", "misfit", "poisson(6) with 45% structural zeros, poisson fit", True)
def _() -> Built:
    rng = np.random.default_rng(1101)
    y = np.where(rng.random(90) < 0.45, 0, rng.poisson(6.0, 90))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 3)"},
        "sampler": sampler(111),
    }
    return spec, {"y": y}


@case("misfit_lognormal_as_normal", "misfit", "lognormal(0, 1) response, normal fit", True)
def _() -> Built:
    rng = np.random.default_rng(1102)
    x = rng.standard_normal(80)
    y = np.exp(0.2 * x + rng.standard_normal(80))
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [{"column": "x", "prior": "normal(0, 2)"}],
        "sampler": sampler(112),
    }
    return spec, {"y": y, "x": x}


@case(
    "misfit_exponential_groups", "misfit", "exponential waiting times, 6 groups, normal fit", True
)
def _() -> Built:
    rng = np.random.default_rng(1103)
    g = np.repeat(np.arange(6), 15)
    y = rng.exponential(np.exp(0.3 * rng.standard_normal(6))[g] * 2.0)
    spec = {
        "response": "wait",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(5)"},
        "intercept": {"prior": "normal(0, 5)"},
        "groups": [group("clinic")],
        "sampler": sampler(113),
    }
    return spec, {"wait": y, "clinic": labels("c", g)}
