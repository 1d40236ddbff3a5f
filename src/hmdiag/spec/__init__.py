"""The model spec: a validated, typed view of the user's YAML (parse and validate only)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hmdiag.errors import SpecError
from hmdiag.spec.fields import (
    AUX_PARAMS,
    BACKENDS,
    LIKELIHOODS,
    LINKS,
    LINKS_FOR,
    Likelihood,
    Link,
    ParamName,
    StrictModel,
)
from hmdiag.spec.messages import describe_error, validation_problems
from hmdiag.spec.priors import Prior, parse_prior
from hmdiag.spec.settings import MASS_MATRICES, ChecksSpec, SamplerSpec
from hmdiag.spec.terms import (
    AuxSpec,
    DataSpec,
    GroupSpec,
    InteractionSpec,
    InterceptSpec,
    PredictorSpec,
    PythonModelSpec,
    _intercept_shorthand,
)
from hmdiag.spec.yamlio import read_yaml_mapping

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


class ModelSpec(StrictModel):
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
