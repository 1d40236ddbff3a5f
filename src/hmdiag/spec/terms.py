"""The spec's model parts: data, intercept, predictors, interactions, group terms (scales and
slopes), auxiliary parameters and a Python model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hmdiag.spec.fields import (
    CorrelationPriorField,
    FilterValue,
    ParamName,
    PriorField,
    StrictModel,
)
from hmdiag.spec.priors import Prior, parse_prior


class DataSpec(StrictModel):
    """Where the data live and which rows to keep."""

    path: Path
    where: dict[str, list[FilterValue] | FilterValue] = Field(default_factory=dict)
    drop_missing: bool = False


class InterceptSpec(StrictModel):
    """The population-level intercept."""

    name: ParamName = "intercept"
    prior: PriorField = Field(default_factory=lambda: parse_prior("normal(0, 2.5)"))


class PredictorSpec(StrictModel):
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


class InteractionSpec(StrictModel):
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


class ScaleSpec(StrictModel):
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


class SlopeSpec(StrictModel):
    """A varying slope: the effect of ``column`` differs by group level.

    Slopes are deviations with mean 0, each with its own scale; list the column under
    ``predictors`` as well for a population-level mean slope. A ``categorical`` column gets a
    slope per level other than ``reference`` (default: the population predictor's reference,
    else the first level in sorted order), as lme4, brms and Bambi do: treatment-coded dummies,
    each with this scale prior, named ``<column>_<level>``.
    """

    column: str
    name: ParamName | None = None
    scale: ScaleSpec = Field(default_factory=ScaleSpec)
    offset_name: ParamName | None = None
    categorical: bool = False
    reference: str | int | float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SlopeSpec:
        if self.reference is not None and not self.categorical:
            raise ValueError("'reference' applies to categorical slopes; add categorical: true")
        return self


class GroupSpec(StrictModel):
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


def _intercept_shorthand(value: Any) -> Any:
    """``intercept: false`` drops the intercept; ``true`` keeps the default one."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    return value


class AuxSpec(StrictModel):
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


class PythonModelSpec(StrictModel):
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
