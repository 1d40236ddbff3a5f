"""The prior grammar: accepted forms, rejected forms and their messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmdiag.spec.priors import FAMILIES, parse_prior


@pytest.mark.parametrize(
    ("text", "family", "args"),
    [
        ("normal(0, 1.5)", "normal", {"mu": 0.0, "sigma": 1.5}),
        ("exponential(1)", "exponential", {"lam": 1.0}),
        ("halfnormal(0.25)", "halfnormal", {"sigma": 0.25}),
        ("student_t(3, 0, 2.5)", "student_t", {"nu": 3.0, "mu": 0.0, "sigma": 2.5}),
        ("halfcauchy(1)", "halfcauchy", {"beta": 1.0}),
        ("  Normal( -1e-1 ,2 ) ", "normal", {"mu": -0.1, "sigma": 2.0}),
        ("uniform(-1, 1)", "uniform", {"lower": -1.0, "upper": 1.0}),
    ],
)
def test_valid_priors_parse(text: str, family: str, args: dict[str, float]) -> None:
    prior = parse_prior(text)
    assert prior.family == family
    assert prior.args == args


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal(0, -1)", "sigma of normal must be > 0"),
        ("halfnormal(0)", "must be > 0"),
        ("normal(0)", "normal takes 2 argument(s), normal(mu, sigma)"),
        ("normal(0, abc)", "must be a number, got 'abc'"),
        ("normal(0, __import__('os'))", "must be a number"),
        ("gaussian(0, 1)", "unknown prior family 'gaussian'; must be one of: normal"),
        ("normal 0 1", "write it as family(arg, ...)"),
        ("uniform(1, 0)", "lower < upper"),
        ("normal(0, inf)", "must be a number"),
    ],
)
def test_invalid_priors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_prior(text)
    assert message in str(info.value)


@given(
    family=st.sampled_from(sorted(FAMILIES)),
    values=st.lists(
        st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=3, max_size=3
    ),
)
def test_str_round_trips(family: str, values: list[float]) -> None:
    params = FAMILIES[family].params
    args = sorted(values[: len(params)])  # sorted so uniform's lower < upper
    if family == "uniform" and args[0] == args[1]:
        args[1] += 1
    prior = parse_prior(f"{family}({', '.join(repr(v) for v in args)})")
    assert parse_prior(str(prior)) == prior
