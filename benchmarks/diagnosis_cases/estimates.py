"""Cases whose estimates or chains fail: prior-driven estimates, stuck chains, several modes,
tree-depth saturation."""

from __future__ import annotations

import numpy as np

from diagnosis_cases._registry import Built, case, sampler
from diagnosis_cases.healthy import student_t_regression

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
    return student_t_regression(120, data_seed=1208, seed=128)


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
    "poisson n=120, x2 = x1 + N(0, 0.003), counts around 20",
    True,
)
def _() -> Built:
    rng, x1, x2 = collinear(802, 120, 0.003)
    y = rng.poisson(np.exp(3.0 + 0.2 * x1 + 0.2 * x2))
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
