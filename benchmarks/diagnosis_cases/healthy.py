"""The healthy cases: right models, parameterized as their data call for, seeded."""

from __future__ import annotations

import numpy as np

from diagnosis_cases._registry import Built, case, group, labels, sampler

# ---------------------------------------------------------------- healthy models


@case("healthy_normal_groups", None, "normal, 8 groups x 20, centered (data-rich)", False)
def _() -> Built:
    rng = np.random.default_rng(1201)
    g = np.repeat(np.arange(8), 20)
    y = 10 + 2 * rng.standard_normal(8)[g] + rng.standard_normal(g.size)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(3)"},
        "intercept": {"prior": "normal(0, 20)"},
        "groups": [group("g", "centered", "halfnormal(5)")],
        "sampler": sampler(121),
    }
    return spec, {"y": y, "g": labels("g", g)}


@case("healthy_logistic", None, "bernoulli n=300, 2 standardized predictors", False)
def _() -> Built:
    rng = np.random.default_rng(1202)
    x1, x2 = rng.standard_normal(300), rng.standard_normal(300)
    y = rng.random(300) < 1 / (1 + np.exp(-(-0.5 + 0.8 * x1 - 0.4 * x2)))
    spec = {
        "response": "y",
        "likelihood": "bernoulli",
        "intercept": {"prior": "normal(0, 2.5)"},
        "predictors": [
            {"column": "x1", "prior": "normal(0, 2.5)"},
            {"column": "x2", "prior": "normal(0, 2.5)"},
        ],
        "sampler": sampler(122),
    }
    return spec, {"y": y.astype(int), "x1": x1, "x2": x2}


@case("healthy_binomial_groups", None, "binomial 25 trials, 15 herds x 4, non-centered", False)
def _() -> Built:
    rng = np.random.default_rng(1203)
    g = np.repeat(np.arange(15), 4)
    y = rng.binomial(25, 1 / (1 + np.exp(-(-1 + 0.6 * rng.standard_normal(15)[g]))))
    spec = {
        "response": "y",
        "likelihood": "binomial",
        "trials": "n",
        "intercept": {"prior": "normal(0, 2.5)"},
        "groups": [group("herd")],
        "sampler": sampler(123),
    }
    return spec, {"y": y, "n": np.full(g.size, 25), "herd": labels("h", g)}


@case(
    "healthy_poisson_groups",
    None,
    "poisson n=150, predictor + 10 groups of 15, centered (data-rich)",
    False,
)
def _() -> Built:
    return poisson_groups("centered")


def poisson_groups(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(1204)
    g = np.repeat(np.arange(10), 15)
    x = rng.standard_normal(g.size)
    y = rng.poisson(np.exp(1.2 + 0.3 * x + 0.5 * rng.standard_normal(10)[g]))
    spec = {
        "response": "y",
        "likelihood": "poisson",
        "intercept": {"prior": "normal(0, 2)"},
        "predictors": [{"column": "x", "prior": "normal(0, 1)"}],
        "groups": [group("g", parameterization)],
        "sampler": sampler(124),
    }
    return spec, {"y": y, "x": x, "g": labels("g", g)}


@case("healthy_negbin", None, "negative binomial (alpha 3) n=200 with a predictor", False)
def _() -> Built:
    rng = np.random.default_rng(1205)
    x = rng.standard_normal(200)
    mu = np.exp(2.0 + 0.5 * x)
    y = rng.poisson(rng.gamma(3.0, mu / 3.0))
    spec = {
        "response": "y",
        "likelihood": "negative_binomial",
        "intercept": {"prior": "normal(0, 3)"},
        "predictors": [{"column": "x", "prior": "normal(0, 1)"}],
        "sampler": sampler(125),
    }
    return spec, {"y": y, "x": x}


@case(
    "healthy_correlated_slopes",
    None,
    "normal, formula (1 + x | g), correlated, centered, 20 groups x 12 (data-rich)",
    False,
)
def _() -> Built:
    return correlated_slopes("centered")


def correlated_slopes(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(1206)
    g = np.repeat(np.arange(20), 12)
    x = np.tile(np.linspace(-1, 1, 12), 20)
    a = 1.0 * rng.standard_normal(20)
    b = 0.5 * a + 0.6 * rng.standard_normal(20)
    y = 3 + a[g] + (1 + b[g]) * x + 0.5 * rng.standard_normal(g.size)
    spec = {
        "formula": "y ~ 1 + x + (1 + x | g)",
        "family": "normal",
        "sigma": {"prior": "halfnormal(2)"},
        "intercept": {"prior": "normal(0, 5)"},
        "groups": {"g": {"parameterization": parameterization, "correlation_prior": "lkj(2)"}},
        "priors": {"1|g": "halfnormal(2)", "x|g": "halfnormal(2)"},
        "sampler": sampler(126),
    }
    return spec, {"y": y, "x": x, "g": labels("g", g)}


@case(
    "healthy_crossed_zero_sum",
    None,
    "normal, 16 x 5 crossed, second term zero_sum, both centered (16 rows per level)",
    False,
)
def _() -> Built:
    return crossed_zero_sum("centered")


def crossed_zero_sum(parameterization: str) -> Built:
    """The data and spec, with the group term parameterized as given."""
    rng = np.random.default_rng(1207)
    a, b = (m.ravel() for m in np.meshgrid(np.arange(16), np.arange(5), indexing="ij"))
    y = 5 + rng.standard_normal(16)[a] + 1.5 * rng.standard_normal(5)[b]
    y = y + 0.5 * rng.standard_normal(a.size)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(2)"},
        "intercept": {"prior": "normal(0, 10)"},
        "groups": [
            group("row", "centered", "halfnormal(3)"),
            group("col", parameterization, "halfnormal(3)", effects="zero_sum"),
        ],
        "sampler": sampler(127),
    }
    return spec, {"y": y, "row": labels("r", a), "col": labels("c", b)}


@case("healthy_student_t", None, "student_t(4) errors, student_t fit, n=800 (nu identified)", False)
def _() -> Built:
    return student_t_regression(800, data_seed=1212, seed=132)


def student_t_regression(n: int, *, data_seed: int, seed: int) -> Built:
    """A student_t(4) regression of ``n`` rows, fitted with its own likelihood (nu's prior is
    the spec default, gamma(2, 0.1))."""
    rng = np.random.default_rng(data_seed)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.standard_t(4, n)
    spec = {
        "response": "y",
        "likelihood": "student_t",
        "sigma": {"prior": "halfnormal(3)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [{"column": "x", "prior": "normal(0, 2)"}],
        "sampler": sampler(seed),
    }
    return spec, {"y": y, "x": x}


@case("healthy_bernoulli_groups", None, "bernoulli, 20 villages x 30, non-centered", False)
def _() -> Built:
    rng = np.random.default_rng(1209)
    g = np.repeat(np.arange(20), 30)
    y = rng.random(g.size) < 1 / (1 + np.exp(-(0.3 + 0.7 * rng.standard_normal(20)[g])))
    spec = {
        "response": "y",
        "likelihood": "bernoulli",
        "intercept": {"prior": "normal(0, 1.5)"},
        "groups": [group("village", prior="halfnormal(1)")],
        "sampler": sampler(129),
    }
    return spec, {"y": y.astype(int), "village": labels("v", g)}


@case(
    "healthy_formula_poisson_offset", None, "poisson formula with offset(log(t)), 12 groups", False
)
def _() -> Built:
    rng = np.random.default_rng(1210)
    g = np.repeat(np.arange(12), 10)
    t = rng.uniform(1, 5, g.size)
    x = rng.standard_normal(g.size)
    y = rng.poisson(t * np.exp(0.5 - 0.3 * x + 0.4 * rng.standard_normal(12)[g]))
    spec = {
        "formula": "y ~ 1 + x + offset(log(t)) + (1 | g)",
        "family": "poisson",
        "intercept": {"prior": "normal(0, 2)"},
        "groups": {"g": {"parameterization": "non_centered"}},
        "priors": {"x": "normal(0, 1)", "1|g": "halfnormal(1)"},
        "sampler": sampler(130),
    }
    return spec, {"y": y, "x": x, "t": t, "g": labels("g", g)}


@case("healthy_normal_regression", None, "normal n=100, 3 predictors (one standardized)", False)
def _() -> Built:
    rng = np.random.default_rng(1211)
    x1, x2 = rng.standard_normal(100), rng.standard_normal(100)
    age = rng.uniform(20, 70, 100)
    y = 2 + 0.5 * x1 - 1 * x2 + 0.03 * (age - 45) + 0.8 * rng.standard_normal(100)
    spec = {
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(2)"},
        "intercept": {"prior": "normal(0, 5)"},
        "predictors": [
            {"column": "x1", "prior": "normal(0, 2)"},
            {"column": "x2", "prior": "normal(0, 2)"},
            {"column": "age", "standardize": True, "prior": "normal(0, 2)"},
        ],
        "sampler": sampler(131),
    }
    return spec, {"y": y, "x1": x1, "x2": x2, "age": age}
