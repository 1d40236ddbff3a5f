"""The model's structure described from spec and data alone (no PyMC import), for ``validate``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hmdiag.model.data import PreparedData
from hmdiag.model.factor_slopes import with_factor_slopes
from hmdiag.spec import ModelSpec
from hmdiag.spec.fields import AUX_PARAMS


@dataclass(frozen=True)
class ParameterLine:
    """One parameter: name, shape, what it is and its prior (or defining formula)."""

    name: str
    shape: str
    role: str
    prior: str


@dataclass(frozen=True)
class GroupLine:
    """One grouping factor with the number of rows per level."""

    factor: str
    levels: list[object]
    counts: list[int]


@dataclass(frozen=True)
class ModelStructure:
    """What ``hmdiag validate`` prints."""

    name: str
    likelihood: str
    link: str
    response: str
    n_rows: int
    n_rows_read: int
    dropped_missing: int
    parameters: list[ParameterLine]
    groups: list[GroupLine]
    linear_predictor: str


def describe(spec: ModelSpec, data: PreparedData) -> ModelStructure:
    """Parameters, shapes, priors and group level counts of the model the spec defines."""
    spec = with_factor_slopes(spec, data)
    params: list[ParameterLine] = []
    terms: list[str] = []
    ic = spec.intercept
    absorbing = spec.absorbing_group()
    if ic is not None:
        params.append(ParameterLine(ic.name, "scalar", "population intercept", str(ic.prior)))
        if absorbing is None:
            terms.append(ic.name)
    for p in spec.predictors:
        if p.categorical:
            cat = data.categorical[p.column]
            shape = f"({len(cat.levels)},) over {p.column}_level"
            role = f"{p.column} vs reference {cat.reference!r} (treatment coding)"
            params.append(ParameterLine(p.param_name, shape, role, str(p.prior)))
            terms.append(f"{p.param_name}[{p.column}]")
            continue
        scaled = ""
        if p.column in data.transforms:
            mean, sd = data.transforms[p.column]
            scaled = f" (standardized: (x - {mean:.4g}) / {sd:.4g})"
        params.append(
            ParameterLine(
                p.param_name, "scalar", f"coefficient of {p.column}{scaled}", str(p.prior)
            )
        )
        terms.append(f"{p.param_name} * {p.column}")
    for interaction in spec.interactions:
        by = [c for c in interaction.columns if c in data.categorical]
        shape = f"({len(data.categorical[by[0]].levels)},) over {by[0]}_level" if by else "scalar"
        params.append(
            ParameterLine(
                interaction.param_name,
                shape,
                f"coefficient of {interaction.label}"
                + (
                    f", per level of {by[0]} against {data.categorical[by[0]].reference!r}"
                    if by
                    else ""
                ),
                str(interaction.prior),
            )
        )
        terms.append(f"{interaction.param_name} * {interaction.label}")
    for i, g in enumerate(spec.groups):
        n = len(data.groups[g.factor].levels)
        shape = f"({n},) over {g.factor}"
        index = f"{g.effect_name}[{g.factor}]"
        terms.append(index)
        if g.pooling == "none":
            params.append(
                ParameterLine(
                    g.effect_name, shape, f"{g.factor} effects, no pooling", str(g.effect_prior)
                )
            )
            continue
        mean = ic.name if (ic is not None and i == absorbing) else "0"
        if g.correlated:
            k = 1 + len(g.slopes)
            params.append(
                ParameterLine(
                    f"corr_{g.stem}",
                    f"({k}, {k})",
                    f"{g.factor} correlation of intercept and slopes (LKJ-Cholesky)",
                    str(g.correlation_prior),
                )
            )
        for slope in g.slopes:
            effect, scale, offset = g.slope_names(slope)
            terms.append(f"{effect}[{g.factor}] * {slope.column}")
            params.append(
                ParameterLine(
                    scale,
                    "scalar",
                    f"{g.factor} scale of {slope.column} slopes",
                    str(slope.scale.prior),
                )
            )
            if g.correlated:
                params.append(
                    ParameterLine(
                        effect,
                        shape,
                        f"{g.factor} slopes of {slope.column} (derived)",
                        f"column {slope.column} of the joint effects",
                    )
                )
            elif g.parameterization == "centered":
                params.append(
                    ParameterLine(
                        effect, shape, f"{g.factor} slopes of {slope.column}", f"normal(0, {scale})"
                    )
                )
            else:
                params.append(
                    ParameterLine(offset, shape, f"{g.factor} slope offsets", "normal(0, 1)")
                )
                params.append(
                    ParameterLine(
                        effect,
                        shape,
                        f"{g.factor} slopes of {slope.column} (derived)",
                        f"= {offset} * {scale}",
                    )
                )
        params.append(
            ParameterLine(g.scale_name, "scalar", f"{g.factor} scale", str(g.scale.prior))
        )
        if g.correlated:
            k = 1 + len(g.slopes)
            joint = f"coefs_{g.stem}" if g.parameterization == "centered" else g.offset_param_name
            rule = (
                f"mvnormal([{mean}, 0..], chol_{g.stem})"
                if g.parameterization == "centered"
                else f"normal(0, 1); effects = [{mean}, 0..] + {joint} · chol_{g.stem}'"
            )
            params.append(
                ParameterLine(
                    joint,
                    f"({n}, {k}) over {g.factor} x {g.coef_dim}",
                    f"{g.factor} joint effects",
                    rule,
                )
            )
            params.append(
                ParameterLine(
                    g.effect_name,
                    shape,
                    f"{g.factor} intercepts (derived)",
                    "column intercept of the joint effects",
                )
            )
            continue
        zero_sum = g.effects == "zero_sum"
        family = "zerosum_normal" if zero_sum else "normal"
        if g.parameterization == "centered":
            params.append(
                ParameterLine(
                    g.effect_name,
                    shape,
                    f"{g.factor} effects, centered" + (", sum to zero" if zero_sum else ""),
                    f"zerosum_normal({g.scale_name})"
                    if zero_sum
                    else f"normal({mean}, {g.scale_name})",
                )
            )
        else:
            params.append(
                ParameterLine(
                    g.offset_param_name,
                    shape,
                    f"{g.factor} offsets" + (", sum to zero" if zero_sum else ""),
                    f"{family}(0, 1)" if not zero_sum else "zerosum_normal(1)",
                )
            )
            params.append(
                ParameterLine(
                    g.effect_name,
                    shape,
                    f"{g.factor} effects, non-centered (derived)",
                    f"= {g.offset_param_name} * {g.scale_name}"
                    if zero_sum
                    else f"= {mean} + {g.offset_param_name} * {g.scale_name}",
                )
            )
    for key, (likelihoods, _) in AUX_PARAMS.items():
        aux = getattr(spec, key)
        if spec.likelihood not in likelihoods:
            continue
        if aux is not None and aux.column:
            continue
        params.append(
            ParameterLine(
                spec.aux_name(key), "scalar", f"{spec.likelihood} {key}", str(spec.aux_prior(key))
            )
        )
    if spec.offset:
        terms.append(spec.offset)
    trials = f", trials={spec.trials}" if spec.trials is not None else ""
    if spec.sigma is not None and spec.sigma.column:
        trials += f", sigma={spec.sigma.column} (known)"
    predictor = " + ".join(terms) if terms else "0"
    return ModelStructure(
        name=spec.name,
        likelihood=f"{spec.likelihood}{trials}",
        link=spec.link,
        response=spec.response,
        n_rows=data.n_rows,
        n_rows_read=data.n_rows_read,
        dropped_missing=data.dropped_missing,
        parameters=params,
        groups=[GroupLine(f, g.levels, g.counts) for f, g in data.groups.items()],
        linear_predictor=_predictor_line(spec.likelihood, spec.link, predictor),
    )


def _predictor_line(likelihood: str, link: str, predictor: str) -> str:
    """``logit(p) = ...`` for binary outcomes, ``log(mu) = ...`` / ``mu = ...`` otherwise."""
    target = "p" if likelihood in ("bernoulli", "binomial") else "mu"
    return f"{target} = {predictor}" if link == "identity" else f"{link}({target}) = {predictor}"


def describe_python(spec: ModelSpec, data: PreparedData, built: Any) -> ModelStructure:
    """What ``validate`` shows for a model built in Python: its variables as PyMC made them."""
    model = built.model
    params = []
    for role, variables in (("free", model.free_RVs), ("derived", model.deterministics)):
        for var in variables:
            dims = model.named_vars_to_dims.get(var.name)
            shape = f"over {', '.join(dims)}" if dims else "-"
            params.append(ParameterLine(var.name, shape, role, "from Python"))
    return ModelStructure(
        name=spec.name,
        likelihood=f"defined in {spec.model.python}",
        link="-",
        response=spec.response,
        n_rows=data.n_rows,
        n_rows_read=data.n_rows_read,
        dropped_missing=0,
        parameters=params,
        groups=[],
        linear_predictor=f"built by {spec.model.python} (trusted code)",
    )
