"""Spec + prepared data -> ``pm.Model``: one short builder per term, then the likelihood."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag.data import PreparedData
from hmdiag.priors import FAMILIES, Prior
from hmdiag.spec import GroupSpec, ModelSpec

OBS_DIM = "obs_id"


@dataclass(frozen=True)
class GroupTerm:
    """What the diagnostics need to know about a group term of a built model."""

    factor: str
    effect: str
    scale: str | None
    offset: str | None
    parameterization: str
    pooling: str
    levels: int
    smallest_level: int


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model with the facts about its structure that diagnostics and advice use."""

    model: Any
    free_variables: list[str]
    group_terms: list[GroupTerm]
    observed: str


def prior_rv(name: str, prior: Prior, dims: str | None = None) -> Any:
    """Create a PyMC random variable for ``prior`` (inside a model context)."""
    pm = _lazy.pymc()
    cls = getattr(pm, FAMILIES[prior.family].pymc_name)
    return cls(name, **prior.args, dims=dims)


def _inverse_link(link: str, eta: Any) -> Any:
    pm = _lazy.pymc()
    inverse = {
        "logit": pm.math.invlogit,
        "probit": pm.math.invprobit,
        "cloglog": lambda x: 1.0 - pm.math.exp(-pm.math.exp(x)),
        "log": pm.math.exp,
        "identity": lambda x: x,
    }
    return inverse[link](eta)


def _likelihood(spec: ModelSpec, data: PreparedData, mean: Any) -> None:
    """The observed variable, named after the response column."""
    pm = _lazy.pymc()
    name, y = spec.response, data.response
    kind = spec.likelihood
    if kind == "bernoulli":
        pm.Bernoulli(name, p=mean, observed=y, dims=OBS_DIM)
    elif kind == "binomial":
        pm.Binomial(name, n=data.trials, p=mean, observed=y, dims=OBS_DIM)
    elif kind == "poisson":
        pm.Poisson(name, mu=mean, observed=y, dims=OBS_DIM)
    elif kind == "negative_binomial":
        alpha = prior_rv(spec.aux_name("alpha"), spec.aux_prior("alpha"))
        pm.NegativeBinomial(name, mu=mean, alpha=alpha, observed=y, dims=OBS_DIM)
    else:
        sigma = (
            data.known_sigma
            if data.known_sigma is not None
            else prior_rv(spec.aux_name("sigma"), spec.aux_prior("sigma"))
        )
        if kind == "normal":
            pm.Normal(name, mu=mean, sigma=sigma, observed=y, dims=OBS_DIM)
        else:
            nu = prior_rv(spec.aux_name("nu"), spec.aux_prior("nu"))
            pm.StudentT(name, nu=nu, mu=mean, sigma=sigma, observed=y, dims=OBS_DIM)


def _partial_effects(
    names: tuple[str, str, str], scale: Prior, parameterization: str, dim: str, mean: Any
) -> Any:
    """Normal(mean, sigma) effects per level, centered or non-centered (names: effect, scale, offset)."""
    pm = _lazy.pymc()
    effect, scale_name, offset = names
    sigma = prior_rv(scale_name, scale)
    if parameterization == "centered":
        return pm.Normal(effect, mu=mean, sigma=sigma, dims=dim)
    z = pm.Normal(offset, mu=0.0, sigma=1.0, dims=dim)
    # Recorded as a Deterministic so centered and non-centered runs share the name `a`.
    return pm.Deterministic(effect, mean + z * sigma, dims=dim)


def _group_effects(group: GroupSpec, center: Any) -> Any:
    """Per-level effects; ``center`` is the intercept when this term absorbs it, else 0."""
    dim = group.factor
    if group.pooling == "none":
        effects = prior_rv(group.effect_name, group.effect_prior, dims=dim)
        return effects if center is None else effects + center
    names = (group.effect_name, group.scale_name, group.offset_param_name)
    return _partial_effects(
        names, group.scale.prior, group.parameterization, dim, 0.0 if center is None else center
    )


def _correlated_effects(group: GroupSpec, center: Any) -> tuple[Any, list[Any]]:
    """Intercept and slope effects drawn jointly: MvNormal with an LKJ-Cholesky covariance.

    Returns (intercept effects, [slope effects]); every piece is also recorded under the
    names an uncorrelated term would use, so diagnostics and compare see the same names.
    """
    pm = _lazy.pymc()
    factor, coef = group.factor, group.coef_dim
    scales = [group.scale.prior, *(s.scale.prior for s in group.slopes)]
    family = FAMILIES[scales[0].family]
    sd_args = {name: np.array([p.args[name] for p in scales]) for name in family.params}
    sd_dist = getattr(pm, family.pymc_name).dist(**sd_args, shape=len(scales))
    chol, corr, stds = pm.LKJCholeskyCov(
        f"chol_{factor}",
        n=len(scales),
        eta=group.correlation_prior.args["eta"],
        sd_dist=sd_dist,
        compute_corr=True,
        store_in_trace=False,
    )
    pm.Deterministic(f"corr_{factor}", corr, dims=(coef, f"{coef}_b"))
    scale_names = [group.scale_name, *(group.slope_names(s)[1] for s in group.slopes)]
    for i, name in enumerate(scale_names):
        pm.Deterministic(name, stds[i])
    mean = pm.math.stack([0.0 if center is None else center, *([0.0] * len(group.slopes))])
    if group.parameterization == "centered":
        coefs = pm.MvNormal(f"coefs_{factor}", mu=mean, chol=chol, dims=(factor, coef))
    else:
        z = pm.Normal(group.offset_param_name, 0.0, 1.0, dims=(factor, coef))
        coefs = mean + pm.math.dot(z, chol.T)
    intercepts = pm.Deterministic(group.effect_name, coefs[:, 0], dims=factor)
    slopes = [
        pm.Deterministic(group.slope_names(s)[0], coefs[:, j + 1], dims=factor)
        for j, s in enumerate(group.slopes)
    ]
    return intercepts, slopes


def build_python_model(loaded: Any, data: PreparedData) -> BuiltModel:
    """The escape hatch: import ``file.py``, call ``build(frame)`` and check it returns a model.

    This runs the user's own (trusted) code.
    """
    import importlib.util
    from pathlib import Path

    from hmdiag.errors import HmdiagError

    pm = _lazy.pymc()
    spec = loaded.spec
    file = Path(spec.model.file)
    file = file if file.is_absolute() else loaded.path.parent / file
    where = f"{loaded.path}: model.python {spec.model.python!r}"
    if not file.exists():
        raise HmdiagError(
            f"{where}: file {file} not found", "the path is resolved relative to the spec"
        )
    module_spec = importlib.util.spec_from_file_location(f"hmdiag_user_model_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    try:
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:
        raise HmdiagError(f"{where}: importing {file} failed: {type(exc).__name__}: {exc}") from exc
    builder = getattr(module, spec.model.function, None)
    if not callable(builder):
        raise HmdiagError(f"{where}: {file} defines no function {spec.model.function!r}")
    try:
        model = builder(data.frame)
    except Exception as exc:
        raise HmdiagError(
            f"{where}: {spec.model.function}(data) raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, pm.Model):
        raise HmdiagError(
            f"{where}: {spec.model.function}(data) returned {type(model).__name__}, not a pm.Model"
        )
    observed = [rv.name for rv in model.observed_RVs]
    if spec.response not in observed:
        raise HmdiagError(
            f"{where}: the model has no observed variable named {spec.response!r} (the spec's response)",
            f"observed variables are: {', '.join(observed) or 'none'}",
        )
    return BuiltModel(
        model=model,
        free_variables=[rv.name for rv in model.free_RVs],
        group_terms=[],
        observed=spec.response,
    )


def _absorbing_group(spec: ModelSpec) -> int | None:
    """Index of the group term whose effects are centered on the intercept, if any."""
    for i, group in enumerate(spec.groups):
        if group.pooling == "partial":
            return i
    return None


def build_model(spec: ModelSpec, data: PreparedData) -> BuiltModel:
    """Build the PyMC model for ``spec`` on ``data`` with named coords for every vector."""
    pm = _lazy.pymc()
    coords: dict[str, Any] = {OBS_DIM: np.arange(data.n_rows)}
    for factor, group_data in data.groups.items():
        coords[factor] = group_data.levels
    for column, cat in data.categorical.items():
        coords[f"{column}_level"] = cat.levels
    for group in spec.groups:
        if group.correlated:
            names = ["intercept", *(s.column for s in group.slopes)]
            coords[group.coef_dim] = names
            coords[f"{group.coef_dim}_b"] = names
    absorbing = _absorbing_group(spec) if spec.intercept is not None else None
    terms: list[GroupTerm] = []
    with pm.Model(coords=coords) as model:
        eta: Any = 0.0
        intercept = None
        if spec.intercept is not None:
            intercept = prior_rv(spec.intercept.name, spec.intercept.prior)
            if absorbing is None:
                eta = eta + intercept
        for predictor in spec.predictors:
            if predictor.categorical:
                cat = data.categorical[predictor.column]
                coef = prior_rv(
                    predictor.param_name, predictor.prior, dims=f"{predictor.column}_level"
                )
                eta = eta + pm.math.dot(cat.matrix, coef)
            else:
                coef = prior_rv(predictor.param_name, predictor.prior)
                eta = eta + coef * data.predictors[predictor.column]
        for interaction in spec.interactions:
            coef = prior_rv(interaction.param_name, interaction.prior)
            product = np.prod([data.predictors[c] for c in interaction.columns], axis=0)
            eta = eta + coef * product
        if data.offset is not None:
            eta = eta + data.offset
        for i, group in enumerate(spec.groups):
            group_data = data.groups[group.factor]
            center = intercept if i == absorbing else None
            if group.correlated:
                effects, slope_effects = _correlated_effects(group, center)
                eta = eta + effects[group_data.codes]
                for slope, values in zip(group.slopes, slope_effects, strict=True):
                    eta = eta + values[group_data.codes] * data.predictors[slope.column]
            else:
                effects = _group_effects(group, center)
                eta = eta + effects[group_data.codes]
                for slope in group.slopes:
                    names = group.slope_names(slope)
                    slopes = _partial_effects(
                        names, slope.scale.prior, group.parameterization, group.factor, 0.0
                    )
                    eta = eta + slopes[group_data.codes] * data.predictors[slope.column]
                    terms.append(
                        GroupTerm(
                            factor=group.factor,
                            effect=names[0],
                            scale=names[1],
                            offset=names[2] if group.parameterization == "non_centered" else None,
                            parameterization=group.parameterization,
                            pooling="partial",
                            levels=len(group_data.levels),
                            smallest_level=min(group_data.counts),
                        )
                    )
            partial = group.pooling == "partial"
            terms.append(
                GroupTerm(
                    factor=group.factor,
                    effect=group.effect_name,
                    scale=group.scale_name if partial else None,
                    offset=group.offset_param_name
                    if partial and group.parameterization == "non_centered"
                    else None,
                    parameterization=group.parameterization,
                    pooling=group.pooling,
                    levels=len(group_data.levels),
                    smallest_level=min(group_data.counts),
                )
            )
        _likelihood(spec, data, _inverse_link(spec.link, eta))
    free = [rv.name for rv in model.free_RVs]
    return BuiltModel(model=model, free_variables=free, group_terms=terms, observed=spec.response)
