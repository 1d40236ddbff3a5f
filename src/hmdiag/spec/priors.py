"""Prior strings such as ``normal(0, 1.5)`` parsed by a small grammar (never ``eval``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Support = Literal["real", "positive", "unit", "correlation"]


@dataclass(frozen=True)
class Family:
    """One supported prior family: its PyMC class, parameter names and support."""

    pymc_name: str
    params: tuple[str, ...]
    support: Support
    positive_params: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    "normal": Family("Normal", ("mu", "sigma"), "real", ("sigma",)),
    "student_t": Family("StudentT", ("nu", "mu", "sigma"), "real", ("nu", "sigma")),
    "cauchy": Family("Cauchy", ("alpha", "beta"), "real", ("beta",)),
    "halfnormal": Family("HalfNormal", ("sigma",), "positive", ("sigma",)),
    "halfcauchy": Family("HalfCauchy", ("beta",), "positive", ("beta",)),
    "halfstudent_t": Family("HalfStudentT", ("nu", "sigma"), "positive", ("nu", "sigma")),
    "exponential": Family("Exponential", ("lam",), "positive", ("lam",)),
    "gamma": Family("Gamma", ("alpha", "beta"), "positive", ("alpha", "beta")),
    "inverse_gamma": Family("InverseGamma", ("alpha", "beta"), "positive", ("alpha", "beta")),
    "lognormal": Family("LogNormal", ("mu", "sigma"), "positive", ("sigma",)),
    "beta": Family("Beta", ("alpha", "beta"), "unit", ("alpha", "beta")),
    "uniform": Family("Uniform", ("lower", "upper"), "real", ()),
    "lkj": Family("LKJCorr", ("eta",), "correlation", ("eta",)),
}

# Smaller positive parameters underflow log-densities to -inf (and subnormals lose precision).
MIN_POSITIVE = 1e-100
_PRIOR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Prior:
    """A parsed prior: family name and numeric arguments by parameter name."""

    family: str
    args: dict[str, float]

    @property
    def support(self) -> Support:
        """Where the distribution puts its mass: ``real``, ``positive`` or ``unit``."""
        return FAMILIES[self.family].support

    def __str__(self) -> str:
        inner = ", ".join(_format_number(v) for v in self.args.values())
        return f"{self.family}({inner})"


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def parse_prior(text: str) -> Prior:
    """Parse ``family(arg, ...)``; raise ``ValueError`` naming what would be valid."""
    if not isinstance(text, str):
        raise ValueError(f"a prior must be a string like 'normal(0, 1.5)', got {text!r}")
    match = _PRIOR_RE.match(text)
    if not match:
        raise ValueError(
            f"cannot read prior {text!r}: write it as family(arg, ...), e.g. 'normal(0, 1.5)'"
        )
    name, raw_args = match.group(1).lower(), match.group(2)
    family = FAMILIES.get(name)
    if family is None:
        raise ValueError(f"unknown prior family {name!r}; must be one of: {', '.join(FAMILIES)}")
    pieces = [p.strip() for p in raw_args.split(",")] if raw_args.strip() else []
    if len(pieces) != len(family.params):
        signature = f"{name}({', '.join(family.params)})"
        raise ValueError(
            f"{name} takes {len(family.params)} argument(s), {signature}; got {len(pieces)} in {text!r}"
        )
    values: dict[str, float] = {}
    for param, piece in zip(family.params, pieces, strict=True):
        if not _NUMBER_RE.match(piece):
            raise ValueError(f"argument {param} of {name} must be a number, got {piece!r}")
        value = float(piece)
        if not math.isfinite(value):
            raise ValueError(f"argument {param} of {name} must be finite, got {piece!r}")
        if param in family.positive_params and value <= 0:
            raise ValueError(f"argument {param} of {name} must be > 0, got {piece}")
        if param in family.positive_params and value < MIN_POSITIVE:
            raise ValueError(
                f"argument {param} of {name} is too small to compute with ({piece}); use at least {MIN_POSITIVE:g}"
            )
        values[param] = value
    if name == "uniform" and values["lower"] >= values["upper"]:
        raise ValueError(f"uniform needs lower < upper, got {text!r}")
    return Prior(name, values)
