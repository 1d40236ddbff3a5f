"""The building blocks every part of a spec shares: prior fields, parameter names, the
vocabularies of likelihoods, links and backends, and the strict base model."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
)

from hmdiag.spec.priors import Prior, parse_prior


def to_prior(value: Any) -> Prior:
    prior = value if isinstance(value, Prior) else parse_prior(value)
    if prior.support == "correlation":
        raise ValueError(
            f"{prior} is a prior for correlation matrices; use it as groups[].correlation_prior"
        )
    return prior


def to_correlation_prior(value: Any) -> Prior:
    prior = value if isinstance(value, Prior) else parse_prior(value)
    if prior.support != "correlation":
        raise ValueError(f"a correlation prior must be lkj(eta), got {prior}")
    return prior


PriorField = Annotated[Prior, BeforeValidator(to_prior), PlainSerializer(str, return_type=str)]


CorrelationPriorField = Annotated[
    Prior, BeforeValidator(to_correlation_prior), PlainSerializer(str, return_type=str)
]


NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(value: str | None) -> str | None:
    if value is not None and not NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid parameter name: use letters, digits and _, not starting with a digit"
        )
    return value


ParamName = Annotated[
    str, BeforeValidator(lambda v: v if not isinstance(v, str) else check_name(v))
]


Likelihood = Literal["bernoulli", "binomial", "poisson", "negative_binomial", "normal", "student_t"]


Link = Literal["logit", "probit", "cloglog", "log", "identity"]


LIKELIHOODS: tuple[str, ...] = (
    "bernoulli",
    "binomial",
    "poisson",
    "negative_binomial",
    "normal",
    "student_t",
)


LINKS: tuple[str, ...] = ("logit", "probit", "cloglog", "log", "identity")


# Which links fit which likelihood; the first is the default.
LINKS_FOR: dict[str, tuple[str, ...]] = {
    "bernoulli": ("logit", "probit", "cloglog"),
    "binomial": ("logit", "probit", "cloglog"),
    "poisson": ("log", "identity"),
    "negative_binomial": ("log", "identity"),
    "normal": ("identity", "log"),
    "student_t": ("identity", "log"),
}


# Extra likelihood parameters: which likelihoods take them, default name and prior.
AUX_PARAMS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "sigma": (("normal", "student_t"), None),
    "nu": (("student_t",), "gamma(2, 0.1)"),
    "alpha": (("negative_binomial",), "gamma(2, 0.1)"),
}


BACKENDS: tuple[str, ...] = ("pymc", "nutpie", "numpyro", "blackjax")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FilterValue = int | float | str | bool
