"""The model spec: a validated, typed view of the user's YAML (parse and validate only)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from hmdiag.errors import SpecError
from hmdiag.spec.messages import describe_error, validation_problems
from hmdiag.spec.priors import Prior, parse_prior
from hmdiag.spec.yamlio import read_yaml_mapping


def _to_prior(value: Any) -> Prior:
    prior = value if isinstance(value, Prior) else parse_prior(value)
    if prior.support == "correlation":
        raise ValueError(
            f"{prior} is a prior for correlation matrices; use it as groups[].correlation_prior"
        )
    return prior


def _to_correlation_prior(value: Any) -> Prior:
    prior = value if isinstance(value, Prior) else parse_prior(value)
    if prior.support != "correlation":
        raise ValueError(f"a correlation prior must be lkj(eta), got {prior}")
    return prior


PriorField = Annotated[Prior, BeforeValidator(_to_prior), PlainSerializer(str, return_type=str)]
CorrelationPriorField = Annotated[
    Prior, BeforeValidator(_to_correlation_prior), PlainSerializer(str, return_type=str)
]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(value: str | None) -> str | None:
    if value is not None and not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid parameter name: use letters, digits and _, not starting with a digit"
        )
    return value


ParamName = Annotated[
    str, BeforeValidator(lambda v: v if not isinstance(v, str) else _check_name(v))
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FilterValue = int | float | str | bool


class DataSpec(_Strict):
    """Where the data live and which rows to keep."""

    path: Path
    where: dict[str, list[FilterValue] | FilterValue] = Field(default_factory=dict)
    drop_missing: bool = False


class InterceptSpec(_Strict):
    """The population-level intercept."""

    name: ParamName = "intercept"
    prior: PriorField = Field(default_factory=lambda: parse_prior("normal(0, 2.5)"))


class PredictorSpec(_Strict):
    """A population-level predictor: numeric (optionally standardized) or categorical.

    A categorical predictor gets treatment coding: one coefficient per level other than
    ``reference`` (default: the first level in sorted order).
    """

    column: str
    name: ParamName | None = None
    prior: PriorField = Field(default_factory=lambda: parse_prior("normal(0, 1)"))
    standardize: bool = False
    categorical: bool = False
    reference: str | int | float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PredictorSpec:
        if self.categorical and self.standardize:
            raise ValueError("a categorical predictor cannot be standardized; drop one of the two")
        if self.reference is not None and not self.categorical:
            raise ValueError("'reference' applies to categorical predictors; add categorical: true")
        return self

    @property
    def param_name(self) -> str:
        """The coefficient's parameter name (``b_<column>`` unless named)."""
        return self.name or f"b_{self.column}"


class InteractionSpec(_Strict):
    """A product of columns with its own coefficient (``b_<col1>_<col2>`` unless named).

    A column that is also a standardized predictor enters in its standardized form. One of the
    columns may be a categorical predictor: the product of the others then gets one coefficient
    per non-reference level of it (its slope differs by level, treatment coding).
    """

    columns: list[str] = Field(min_length=2, max_length=4)
    name: ParamName | None = None
    prior: PriorField = Field(default_factory=lambda: parse_prior("normal(0, 1)"))

    @property
    def param_name(self) -> str:
        """The coefficient's parameter name."""
        return self.name or "b_" + "_".join(self.columns)

    @property
    def label(self) -> str:
        """``x1:x2`` as in model formulas."""
        return ":".join(self.columns)


class ScaleSpec(_Strict):
    """The group-level scale (standard deviation of the group effects)."""

    name: ParamName | None = None
    prior: PriorField = Field(default_factory=lambda: parse_prior("exponential(1)"))

    @field_validator("prior")
    @classmethod
    def _positive_support(cls, prior: Prior) -> Prior:
        if prior.support != "positive":
            raise ValueError(
                f"a group scale needs a prior on positive values, got {prior}; "
                "use halfnormal, halfcauchy, halfstudent_t, exponential, gamma, inverse_gamma or lognormal"
            )
        return prior


class SlopeSpec(_Strict):
    """A varying slope: the effect of numeric ``column`` differs by group level.

    Slopes are deviations with mean 0, each with its own scale; list the column under
    ``predictors`` as well for a population-level mean slope.
    """

    column: str
    name: ParamName | None = None
    scale: ScaleSpec = Field(default_factory=ScaleSpec)
    offset_name: ParamName | None = None


class GroupSpec(_Strict):
    """A varying intercept per level of ``factor``, optionally with varying slopes.

    ``effects: zero_sum`` draws the per-level intercept effects from a zero-sum normal (they sum
    to zero, ``pm.ZeroSumNormal``) instead of Normal(mean, scale): the intercept then carries the
    overall level alone, which removes the ridge between the intercept and the effects' mean in
    crossed designs. It needs ``pooling: partial``, does not combine with ``correlated: true``,
    and the term never absorbs the intercept. Its varying slopes stay Normal(0, scale).
    """

    factor: str
    name: ParamName | None = None
    pooling: Literal["none", "partial"] = "partial"
    parameterization: Literal["centered", "non_centered"] = "centered"
    effects: Literal["normal", "zero_sum"] = "normal"
    prior: PriorField | None = None
    scale: ScaleSpec = Field(default_factory=ScaleSpec)
    offset_name: ParamName | None = None
    slopes: list[SlopeSpec] = Field(default_factory=list)
    correlated: bool = False
    correlation_prior: CorrelationPriorField = Field(default_factory=lambda: parse_prior("lkj(2)"))

    @model_validator(mode="after")
    def _consistent(self) -> GroupSpec:
        if self.pooling == "partial" and self.prior is not None:
            raise ValueError(
                "'prior' applies to pooling: none only; with pooling: partial the effects get "
                "Normal(mean, scale) and you set 'scale.prior' instead"
            )
        if self.slopes and self.pooling == "none":
            raise ValueError("varying slopes need pooling: partial")
        if self.effects == "zero_sum" and self.pooling != "partial":
            raise ValueError(
                "effects: zero_sum needs pooling: partial (it replaces the Normal(mean, scale) "
                "effects); with pooling: none use effects: normal"
            )
        if self.effects == "zero_sum" and self.correlated:
            raise ValueError(
                "effects: zero_sum does not combine with correlated: true (correlated intercepts "
                "and slopes are drawn jointly from an MvNormal); use effects: normal or correlated: false"
            )
        columns = [s.column for s in self.slopes]
        if len(set(columns)) != len(columns):
            raise ValueError("each slope column may appear once per group")
        if self.correlated:
            if not self.slopes:
                raise ValueError(
                    "correlated: true needs varying slopes to correlate with the intercept"
                )
            families = {self.scale.prior.family, *(s.scale.prior.family for s in self.slopes)}
            if len(families) > 1:
                raise ValueError(
                    "correlated effects need one scale prior family for the intercept and every slope "
                    f"(scales are one LKJ-Cholesky sd vector), got {', '.join(sorted(families))}"
                )
        return self

    @property
    def stem(self) -> str:
        """The factor in parameter names: ``a:b`` (combined levels of a and b) becomes ``a_b``."""
        return self.factor.replace(":", "_")

    @property
    def columns(self) -> list[str]:
        """The data columns of the factor (``a:b``: a and b)."""
        return self.factor.split(":")

    @property
    def coef_dim(self) -> str:
        """The dimension of a correlated term's coefficients: intercept, then each slope."""
        return f"{self.stem}_coef"

    def slope_names(self, slope: SlopeSpec) -> tuple[str, str, str]:
        """(effects, scale, offsets) names of a varying slope: ``r_<factor>_<column>`` etc."""
        stem = f"{self.stem}_{slope.column}"
        return (
            slope.name or f"r_{stem}",
            slope.scale.name or f"sigma_{stem}",
            slope.offset_name or f"z_{stem}",
        )

    @property
    def effect_name(self) -> str:
        """Name of the per-level effects (``r_<factor>`` unless named)."""
        return self.name or f"r_{self.stem}"

    @property
    def scale_name(self) -> str:
        """Name of the group scale (``sigma_<factor>`` unless named)."""
        return self.scale.name or f"sigma_{self.stem}"

    @property
    def offset_param_name(self) -> str:
        """Name of the standardized offsets of a non-centered term (``z_<factor>``)."""
        return self.offset_name or f"z_{self.stem}"

    @property
    def effect_prior(self) -> Prior:
        """The prior of each effect under ``pooling: none``."""
        return self.prior or parse_prior("normal(0, 1.5)")


MASS_MATRICES: tuple[str, ...] = ("diag", "dense", "low_rank")
# Which backends take each sampler.mass_matrix (hmdiag.sampling maps it to each backend's API).
MASS_MATRIX_BACKENDS: dict[str, tuple[str, ...]] = {
    "diag": BACKENDS,
    "dense": BACKENDS,
    "low_rank": ("nutpie",),
}


def mass_matrix_problem(backend: str, mass_matrix: str) -> tuple[str, str] | None:
    """(problem, hint) if ``backend`` cannot adapt ``mass_matrix``, else ``None``."""
    supported = MASS_MATRIX_BACKENDS.get(mass_matrix)
    if supported is None:
        return (
            f"mass_matrix {mass_matrix!r} is not supported; must be one of: {', '.join(MASS_MATRICES)}",
            "",
        )
    if backend in supported:
        return None
    others = [m for m, backends in MASS_MATRIX_BACKENDS.items() if backend in backends]
    return (
        f"mass_matrix {mass_matrix!r} is not available with backend {backend}; "
        f"it works with backend {' or '.join(supported)}",
        f"use backend: {supported[0]}, or mass_matrix: {' or '.join(others)}",
    )


class SamplerSpec(_Strict):
    """NUTS settings. ``cores`` defaults to the machine's cores (at most ``chains``).

    ``mass_matrix`` picks the adapted metric: ``diag`` (every backend's default), ``dense`` (a
    full covariance: PyMC, numpyro and blackjax; nutpie has none and uses its low-rank
    adaptation) or ``low_rank`` (nutpie only). ``hmdiag.sampling`` maps it to each backend.
    """

    # nutpie is the default because `make bench` measures it fastest end to end on the
    # reference models (benchmarks/results.md).
    backend: Literal["pymc", "nutpie", "numpyro", "blackjax"] = "nutpie"
    draws: int = Field(1000, ge=1, le=1_000_000)
    tune: int = Field(1000, ge=0, le=1_000_000)
    chains: int = Field(4, ge=1, le=64)
    cores: int | None = Field(None, ge=1, le=256)
    target_accept: float = Field(0.8, gt=0, lt=1)
    max_treedepth: int = Field(10, ge=1, le=20)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    mass_matrix: Literal["diag", "dense", "low_rank"] = "diag"

    @model_validator(mode="after")
    def _mass_matrix_fits_backend(self) -> SamplerSpec:
        problem = mass_matrix_problem(self.backend, self.mass_matrix)
        if problem is not None:
            raise ValueError(f"{problem[0]} ({problem[1]})")
        return self


class ChecksSpec(_Strict):
    """Pass/fail thresholds; defaults follow Vehtari et al. (2021) and CmdStan ``diagnose``."""

    max_rhat: float = Field(1.01, gt=1.0)
    min_ess_per_chain: float = Field(100, ge=0)
    max_divergences: int = Field(0, ge=0)
    max_treedepth_hits: int = Field(0, ge=0)
    min_bfmi: float = Field(0.3, ge=0)
    hdi_prob: float = Field(0.89, gt=0, lt=1)


def _intercept_shorthand(value: Any) -> Any:
    """``intercept: false`` drops the intercept; ``true`` keeps the default one."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    return value


class AuxSpec(_Strict):
    """An extra likelihood parameter (sigma, nu, alpha): a prior, or known per-row values."""

    name: ParamName | None = None
    prior: PriorField | None = None
    column: str | None = None

    @field_validator("prior")
    @classmethod
    def _positive_support(cls, prior: Prior | None) -> Prior | None:
        if prior is not None and prior.support != "positive":
            raise ValueError(
                f"this parameter is positive; use a prior on positive values, got {prior}"
            )
        return prior

    @model_validator(mode="after")
    def _one_source(self) -> AuxSpec:
        if self.column is not None and (self.prior is not None or self.name is not None):
            raise ValueError(
                "give either 'column' (known per-row values) or 'name'/'prior', not both"
            )
        return self


class PythonModelSpec(_Strict):
    """Escape hatch: ``python: "file.py:build"`` names a trusted function that returns a ``pm.Model``.

    The function receives the filtered data as a pandas DataFrame. The file path is
    resolved relative to the spec. The code runs with the user's own permissions.
    """

    python: str

    @field_validator("python")
    @classmethod
    def _file_and_function(cls, value: str) -> str:
        path, sep, function = value.rpartition(":")
        if not sep or not path.endswith(".py") or not function.isidentifier():
            raise ValueError(f"write the builder as 'file.py:function', got {value!r}")
        return value

    @property
    def file(self) -> str:
        """The Python file, as written in the spec."""
        return self.python.rpartition(":")[0]

    @property
    def function(self) -> str:
        """The builder function's name."""
        return self.python.rpartition(":")[2]


# Keys that describe the model in the spec language; a Python model replaces all of them.
TERM_KEYS = (
    "likelihood",
    "trials",
    "success",
    "sigma",
    "nu",
    "alpha",
    "offset",
    "intercept",
    "predictors",
    "interactions",
    "groups",
)


def _split_successes_trials(raw: Any) -> Any:
    """``response: successes/trials`` (binomial) is ``response: successes`` plus ``trials:
    trials``, as brms and lme4's ``cbind`` write it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("response"), str):
        return raw
    response = raw["response"]
    likelihood = raw.get("likelihood", "binomial")
    if "/" not in response or "model" in raw or likelihood != "binomial":
        return raw  # a column name with a slash, for any other likelihood
    successes, _, trials = (part.strip() for part in response.partition("/"))
    if not successes or not trials or "/" in trials:
        raise ValueError(
            f"response {response!r}: write a binomial response as successes/trials, two column names"
        )
    if raw.get("trials") is not None:
        raise ValueError(
            f"response {response!r} names the trials column already; remove 'trials' "
            f"({raw['trials']!r}) or write response: {successes}"
        )
    return {**raw, "response": successes, "trials": trials, "likelihood": "binomial"}


def _default_link(raw: Any) -> Any:
    """Fill in the likelihood's natural link when the spec gives none."""
    if isinstance(raw, dict) and "link" not in raw and raw.get("likelihood") in LINKS_FOR:
        return {**raw, "link": LINKS_FOR[raw["likelihood"]][0]}
    return raw


# `offset: log(t)`: the log of column t (what a formula's offset(log(t)) expands to).
OFFSET_LOG = re.compile(r"log\(\s*([^()]+?)\s*\)")


class ModelSpec(_Strict):
    """A whole model: data, likelihood, link, terms, priors, sampler and checks."""

    name: ParamName
    description: Annotated[
        str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
    ] = ""
    data: DataSpec
    response: str
    likelihood: Likelihood | None = None
    model: PythonModelSpec | None = None
    trials: str | int | None = None
    # bernoulli: the response value that counts as a success (1); see data._binary_response
    success: str | int | float | bool | None = None
    link: Link = "logit"
    sigma: AuxSpec | None = None
    nu: AuxSpec | None = None
    alpha: AuxSpec | None = None
    offset: str | None = None
    intercept: Annotated[InterceptSpec | None, BeforeValidator(_intercept_shorthand)] = Field(
        default_factory=InterceptSpec
    )
    predictors: list[PredictorSpec] = Field(default_factory=list)
    interactions: list[InteractionSpec] = Field(default_factory=list)
    groups: list[GroupSpec] = Field(default_factory=list)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)

    @model_validator(mode="before")
    @classmethod
    def _fill_link(cls, raw: Any) -> Any:
        return _default_link(_split_successes_trials(raw))

    @field_validator("trials", mode="before")
    @classmethod
    def _trials_kind(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"trials must be a column name or a whole number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.model is not None:
            clashing = [k for k in TERM_KEYS if k in self.model_fields_set]
            if clashing:
                raise ValueError(
                    f"with model.python the model comes from Python; remove {', '.join(clashing)}"
                )
            return self
        if self.likelihood is None:
            raise ValueError(
                "likelihood: required key is missing (or give model: {python: 'file.py:build'})"
            )
        if self.likelihood == "binomial" and self.trials is None:
            raise ValueError("likelihood binomial needs 'trials': a column name or a whole number")
        if self.likelihood == "bernoulli" and self.trials is not None:
            raise ValueError(
                "'trials' applies to likelihood binomial only; remove it or use binomial"
            )
        if isinstance(self.trials, int) and self.trials < 1:
            raise ValueError(f"trials must be at least 1, got {self.trials}")
        if self.likelihood not in ("bernoulli", "binomial") and self.trials is not None:
            raise ValueError("'trials' applies to likelihood binomial only")
        if self.success is not None and self.likelihood != "bernoulli":
            raise ValueError(
                "'success' (the response value that counts as 1) applies to likelihood bernoulli only"
            )
        fitting = LINKS_FOR[self.likelihood]
        if self.link not in fitting:
            raise ValueError(
                f"link {self.link!r} does not fit likelihood {self.likelihood}; use one of: {', '.join(fitting)}"
            )
        for key, (likelihoods, _) in AUX_PARAMS.items():
            given = getattr(self, key)
            if given is not None and self.likelihood not in likelihoods:
                raise ValueError(f"'{key}' applies to likelihood {' or '.join(likelihoods)} only")
            if given is not None and given.column is not None and key != "sigma":
                raise ValueError(
                    f"'{key}.column' is not supported; only sigma can be known per row"
                )
        if self.likelihood in ("normal", "student_t") and (
            self.sigma is None or (self.sigma.column is None and self.sigma.prior is None)
        ):
            raise ValueError(
                f"likelihood {self.likelihood} needs 'sigma': a prior (sigma: {{prior: halfnormal(S)}}, "
                "S on the response's scale) or known values (sigma: {column: se})"
            )
        names = self.parameter_names()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; used twice: {', '.join(duplicates)}")
        if self.response in names:
            raise ValueError(
                f"response {self.response!r} clashes with a parameter name; rename the parameter"
            )
        categorical = {p.column for p in self.predictors if p.categorical}
        for interaction in self.interactions:
            bad = [c for c in interaction.columns if c in categorical]
            if len(bad) > 1:
                raise ValueError(
                    f"interaction {interaction.label}: {', '.join(bad)} are categorical; an "
                    "interaction takes at most one categorical column"
                )
        factors = [g.factor for g in self.groups]
        if len(set(factors)) != len(factors):
            raise ValueError("each grouping factor may appear once in 'groups'")
        return self

    def absorbing_group(self) -> int | None:
        """Index of the group term whose effects are centered on the intercept, if any.

        The first partially pooled term with normal effects; a zero-sum term never absorbs it
        (its effects have mean 0 by construction), so the intercept then enters eta directly.
        """
        if self.intercept is None:
            return None
        for i, group in enumerate(self.groups):
            if group.pooling == "partial" and group.effects != "zero_sum":
                return i
        return None

    def parameter_names(self) -> list[str]:
        """All model parameter names, free and derived, in model order (none for Python models)."""
        names: list[str] = []
        if self.model is not None:
            return names
        if self.intercept:
            names.append(self.intercept.name)
        names += [p.param_name for p in self.predictors]
        names += [i.param_name for i in self.interactions]
        for key in AUX_PARAMS:
            aux = getattr(self, key)
            if self.likelihood in AUX_PARAMS[key][0] and (aux is None or aux.column is None):
                names.append(self.aux_name(key))
        for group in self.groups:
            names.append(group.effect_name)
            if group.pooling == "partial":
                names.append(group.scale_name)
                if group.parameterization == "non_centered":
                    names.append(group.offset_param_name)
            if group.correlated:
                # One coefficient matrix (or its offsets) and one Cholesky factor for the group.
                if group.parameterization == "centered":
                    names.append(f"coefs_{group.stem}")
                names += [f"chol_{group.stem}", f"corr_{group.stem}"]
                names += [n for s in group.slopes for n in group.slope_names(s)[:2]]
                continue
            for slope in group.slopes:
                effect, scale, offset = group.slope_names(slope)
                names += [effect, scale] + (
                    [offset] if group.parameterization == "non_centered" else []
                )
        return names

    def aux_name(self, key: str) -> str:
        """The parameter name of sigma, nu or alpha (the key itself unless named)."""
        aux = getattr(self, key)
        return (aux.name if aux is not None and aux.name else None) or key

    def aux_prior(self, key: str) -> Prior:
        """The prior of sigma, nu or alpha (spec value, else the documented default)."""
        aux = getattr(self, key)
        if aux is not None and aux.prior is not None:
            return aux.prior
        default = AUX_PARAMS[key][1]
        if default is None:
            raise ValueError(f"{key} has no default prior")
        return parse_prior(default)

    @property
    def offset_column(self) -> str | None:
        """The offset's column: ``offset: t`` or ``offset: log(t)`` (the log taken in data)."""
        if self.offset is None:
            return None
        match = OFFSET_LOG.fullmatch(self.offset)
        return match.group(1) if match else self.offset

    def used_columns(self) -> list[str]:
        """Data columns the model reads (response, trials, predictors, factors)."""
        cols = [self.response]
        if isinstance(self.trials, str):
            cols.append(self.trials)
        cols += [p.column for p in self.predictors]
        cols += [c for g in self.groups for c in g.columns]
        cols += [s.column for g in self.groups for s in g.slopes]
        cols += [c for i in self.interactions for c in i.columns]
        if self.offset:
            cols.append(self.offset_column)
        if self.sigma is not None and self.sigma.column:
            cols.append(self.sigma.column)
        return list(dict.fromkeys(cols))


class LoadedSpec(BaseModel):
    """A validated spec with where it came from (for provenance and relative paths)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    spec: ModelSpec
    path: Path
    text: str
    # the spec's formula, when it had one (the spec above is its long form)
    formula: str | None = None

    @property
    def stored_text(self) -> str:
        """The spec as a run stores it: the file's text, or for a formula spec its long form
        (which validates without reading the data again)."""
        if self.formula is None:
            return self.text
        return f"# the long form of formula: {self.formula}\n" + spec_to_yaml(self.spec)

    @property
    def data_path(self) -> Path:
        """The data file, resolved relative to the spec's folder."""
        p = self.spec.data.path
        return p if p.is_absolute() else Path(os.path.normpath(self.path.parent / p))


_FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "likelihood": LIKELIHOODS,
    "link": LINKS,
    "backend": BACKENDS,
    "pooling": ("none", "partial"),
    "parameterization": ("centered", "non_centered"),
    "effects": ("normal", "zero_sum"),
    "mass_matrix": MASS_MATRICES,
}


def validate_spec(raw: dict[str, Any], source: str) -> ModelSpec:
    """Validate a raw mapping; raise ``SpecError`` with one line per problem."""
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, raw, ModelSpec, _FIELD_CHOICES)
        # The model-level check for a missing likelihood only runs once the fields are valid;
        # name it now so one run lists every missing key.
        missing = "likelihood: required key is missing"
        absent = isinstance(raw, dict) and "likelihood" not in raw and "model" not in raw
        if absent and not any(p.startswith(missing) for p in problems):
            problems.append(missing)
        raise SpecError(source, problems) from None


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, parse and validate a YAML spec file (a ``formula:`` expanded first)."""
    path = Path(path)
    raw, text = read_yaml_mapping(path)
    formula = raw.get("formula") if isinstance(raw.get("formula"), str) else None
    if "formula" in raw:
        from hmdiag.spec.formula import expand_spec_file

        raw = expand_spec_file(raw, path)
    return LoadedSpec(spec=validate_spec(raw, str(path)), path=path, text=text, formula=formula)


def spec_to_raw(spec: ModelSpec) -> dict[str, Any]:
    """The spec as a plain mapping that validates back to the same spec (unset keys omitted)."""
    data = spec.model_dump(mode="json", exclude_none=True)
    if spec.model is not None:
        for key in (*TERM_KEYS, "link"):
            data.pop(key, None)
        return data
    if spec.intercept is None:
        data["intercept"] = False
    if not data.get("description"):
        data.pop("description", None)
    return data


def spec_to_yaml(spec: ModelSpec) -> str:
    """Serialize a spec back to YAML, every setting explicit, for provenance and fixed specs."""
    import yaml

    return yaml.safe_dump(spec_to_raw(spec), sort_keys=False, width=100)


def with_sampler_overrides(loaded: LoadedSpec, **overrides: Any) -> LoadedSpec:
    """Apply command-line sampler overrides (``None`` = keep) and re-validate the spec."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return loaded
    raw = spec_to_raw(loaded.spec)
    raw["sampler"] = {**raw["sampler"], **changes}
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Keys become flags (sampler.target_accept -> --target-accept); messages stay as is.
            line = describe_error(error, None, ModelSpec, _FIELD_CHOICES)
            where, sep, message = line.partition(": ")
            problems.append(where.replace("sampler.", "--", 1).replace("_", "-") + sep + message)
        raise SpecError("command line", problems) from None
    return LoadedSpec(spec=spec, path=loaded.path, text=spec_to_yaml(spec), formula=loaded.formula)
