"""Cases whose likelihood does not fit the data: outliers, overdispersion, other misfit."""

from __future__ import annotations

import numpy as np

from diagnosis_cases._registry import Built, case, group, labels, sampler

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
