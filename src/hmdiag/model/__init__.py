"""Spec + prepared data -> ``pm.Model``: one short builder per term, then the likelihood."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hmdiag import _lazy
from hmdiag.model.data import PreparedData
from hmdiag.model.factor_slopes import with_factor_slopes
from hmdiag.spec import ModelSpec
from hmdiag.spec.fields import AUX_PARAMS
from hmdiag.spec.priors import FAMILIES, Prior
from hmdiag.spec.terms import GroupSpec

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
    # "zero_sum": the effects come from a ZeroSumNormal (spec ``effects``); slopes stay "normal"
    effects: str = "normal"
    # The predictor column of a varying slope; None for the group's intercept effects.
    slope: str | None = None
    # Intercept and slopes drawn jointly (spec ``correlated: true``).
    correlated: bool = False


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


# The data container of the response in a model built with ``shared_response``.
SHARED_RESPONSE = "observed_response"


def _likelihood(spec: ModelSpec, data: PreparedData, mean: Any, shared: bool = False) -> None:
    """The observed variable, named after the response column; ``shared``: the response is a
    data container (``SHARED_RESPONSE``), so one compiled model serves new responses."""
    pm = _lazy.pymc()
    name, y = spec.response, data.response
    if shared:
        y = pm.Data(SHARED_RESPONSE, y, dims=OBS_DIM)
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
    names: tuple[str, str, str],
    scale: Prior,
    parameterization: str,
    dim: str,
    mean: Any,
    zero_sum: bool = False,
) -> Any:
    """Normal(mean, sigma) effects per level, centered or non-centered (names: effect, scale, offset).

    ``zero_sum``: ZeroSumNormal(sigma) effects instead, which sum to zero over the levels (the
    term then has no mean of its own; ``mean`` must be 0).
    """
    pm = _lazy.pymc()
    effect, scale_name, offset = names
    sigma = prior_rv(scale_name, scale)
    if zero_sum:
        if parameterization == "centered":
            return pm.ZeroSumNormal(effect, sigma=sigma, dims=dim)
        z = pm.ZeroSumNormal(offset, sigma=1.0, dims=dim)
        return pm.Deterministic(effect, z * sigma, dims=dim)
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
    zero_sum = group.effects == "zero_sum"
    if zero_sum and center is not None:
        raise ValueError(f"a zero-sum term ({group.factor}) cannot absorb the intercept")
    return _partial_effects(
        names,
        group.scale.prior,
        group.parameterization,
        dim,
        0.0 if center is None else center,
        zero_sum=zero_sum,
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
        f"chol_{group.stem}",
        n=len(scales),
        eta=group.correlation_prior.args["eta"],
        sd_dist=sd_dist,
        compute_corr=True,
        store_in_trace=False,
    )
    pm.Deterministic(f"corr_{group.stem}", corr, dims=(coef, f"{coef}_b"))
    scale_names = [group.scale_name, *(group.slope_names(s)[1] for s in group.slopes)]
    for i, name in enumerate(scale_names):
        pm.Deterministic(name, stds[i])
    mean = pm.math.stack([0.0 if center is None else center, *([0.0] * len(group.slopes))])
    if group.parameterization == "centered":
        coefs = pm.MvNormal(f"coefs_{group.stem}", mu=mean, chol=chol, dims=(factor, coef))
    else:
        z = pm.Normal(group.offset_param_name, 0.0, 1.0, dims=(factor, coef))
        coefs = mean + pm.math.dot(z, chol.T)
    intercepts = pm.Deterministic(group.effect_name, coefs[:, 0], dims=factor)
    slopes = [
        pm.Deterministic(group.slope_names(s)[0], coefs[:, j + 1], dims=factor)
        for j, s in enumerate(group.slopes)
    ]
    return intercepts, slopes


# PyMC transform names (``Transform.name``) whose recorded name differs.
_TRANSFORM_NAMES = {"logodds": "logit", "cholesky-cov-packed": "cholesky"}
# Prior family -> how PyMC transforms it by default, by the family's support.
_SUPPORT_TRANSFORMS = {"real": "identity", "positive": "log", "unit": "logit"}


def transform_name(transform: Any) -> str:
    """The name hmdiag records for a PyMC value transform (``None`` -> ``identity``).

    ``LogTransform`` -> ``log``, ``LogOddsTransform`` -> ``logit``, ``Interval`` ->
    ``interval``, ``ZeroSumTransform`` -> ``zerosum``, ``CholeskyCovPacked`` -> ``cholesky``;
    any other transform by its PyMC name.
    """
    if transform is None:
        return "identity"
    name = str(getattr(transform, "name", None) or type(transform).__name__)
    return _TRANSFORM_NAMES.get(name, name)


def model_transforms(model: Any) -> dict[str, str]:
    """Each free variable's transform as PyMC applies it, and ``deterministic`` for derived ones.

    In model order; observed variables are left out.
    """
    free = {rv.name: rv for rv in model.free_RVs}
    derived = {d.name for d in model.deterministics}
    out: dict[str, str] = {}
    for name in model.named_vars:
        if name in free:
            out[name] = transform_name(model.rvs_to_transforms.get(free[name]))
        elif name in derived:
            out[name] = "deterministic"
    return out


def family_transform(family: str) -> str:
    """The transform PyMC gives a prior family: ``log`` on positive values, ``logit`` on (0, 1),
    ``interval`` for uniform, ``identity`` on the real line."""
    if family == "uniform":
        return "interval"
    return _SUPPORT_TRANSFORMS[FAMILIES[family].support]


def transforms_from_spec(spec: ModelSpec) -> dict[str, str]:
    """What :func:`model_transforms` records for the model of ``spec``, without building it.

    Derived from the prior families and the group terms' structure: free variables get their
    family's transform (zero-sum effects ``zerosum``, an LKJ-Cholesky factor ``cholesky``),
    non-centered effects and the pieces of a correlated term ``deterministic``. A Python model
    (``model.python``) is only known once built: ``{}``.
    """
    if spec.model is not None:
        return {}
    out: dict[str, str] = {}
    if spec.intercept is not None:
        out[spec.intercept.name] = family_transform(spec.intercept.prior.family)
    for predictor in spec.predictors:
        out[predictor.param_name] = family_transform(predictor.prior.family)
    for interaction in spec.interactions:
        out[interaction.param_name] = family_transform(interaction.prior.family)
    for group in spec.groups:
        if group.pooling == "none":
            out[group.effect_name] = family_transform(group.effect_prior.family)
            continue
        if group.correlated:
            out[f"chol_{group.stem}"] = "cholesky"
            out[f"corr_{group.stem}"] = "deterministic"
            for name in [group.scale_name, *(group.slope_names(s)[1] for s in group.slopes)]:
                out[name] = "deterministic"
            joint = (
                f"coefs_{group.stem}"
                if group.parameterization == "centered"
                else group.offset_param_name
            )
            out[joint] = "identity"
            for name in [group.effect_name, *(group.slope_names(s)[0] for s in group.slopes)]:
                out[name] = "deterministic"
            continue
        terms = [(group.slope_names(s), s.scale.prior, "normal") for s in group.slopes]
        terms.insert(
            0,
            (
                (group.effect_name, group.scale_name, group.offset_param_name),
                group.scale.prior,
                group.effects,
            ),
        )
        for (effect, scale, offset), scale_prior, effects in terms:
            drawn = "zerosum" if effects == "zero_sum" else "identity"
            out[scale] = family_transform(scale_prior.family)
            if group.parameterization == "centered":
                out[effect] = drawn
            else:
                out[offset] = drawn
                out[effect] = "deterministic"
    for key, (likelihoods, _) in AUX_PARAMS.items():
        aux = getattr(spec, key)
        if spec.likelihood in likelihoods and (aux is None or aux.column is None):
            out[spec.aux_name(key)] = family_transform(spec.aux_prior(key).family)
    return out


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


def build_model(
    spec: ModelSpec, data: PreparedData, *, shared_response: bool = False
) -> BuiltModel:
    """Build the PyMC model for ``spec`` on ``data`` with named coords for every vector;
    ``shared_response`` makes the response a data container (SBC refits one compiled model)."""
    pm = _lazy.pymc()
    spec = with_factor_slopes(spec, data)
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
    absorbing = spec.absorbing_group()
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
            by = [c for c in interaction.columns if c in data.categorical]
            numeric = [c for c in interaction.columns if c not in data.categorical]
            product = np.prod([data.predictors[c] for c in numeric], axis=0)
            if by:  # a slope per non-reference level of the categorical column
                cat = data.categorical[by[0]]
                coef = prior_rv(interaction.param_name, interaction.prior, dims=f"{by[0]}_level")
                eta = eta + pm.math.dot(cat.matrix * product[:, None], coef)
            else:
                coef = prior_rv(interaction.param_name, interaction.prior)
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
                            slope=slope.column,
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
                    effects=group.effects,
                    correlated=group.correlated,
                )
            )
        _likelihood(spec, data, _inverse_link(spec.link, eta), shared_response)
    free = [rv.name for rv in model.free_RVs]
    return BuiltModel(model=model, free_variables=free, group_terms=terms, observed=spec.response)
