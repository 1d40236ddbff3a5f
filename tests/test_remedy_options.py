"""Remedy options: zero-sum group effects, the sampler's mass matrix, the log_prior group and
the parameter transforms recorded with a run."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hmdiag import _lazy
from hmdiag.errors import HmdiagError, SpecError
from hmdiag.model import build_model, model_transforms, transforms_from_spec
from hmdiag.model.data import prepare_data
from hmdiag.runs import RunInfo, attach_info, load_run, read_info, save_run
from hmdiag.sampling import sample
from hmdiag.sampling.pymc_backend import _pymc_nuts
from hmdiag.sampling.settings import SamplerSettings, resolve_settings
from hmdiag.spec import (
    LoadedSpec,
    load_spec,
    spec_to_raw,
    spec_to_yaml,
    validate_spec,
    with_sampler_overrides,
)
from hmdiag.workflows.fit import cached_model, fit

from .conftest import CONFIGS, DATA, ROOT

pm = _lazy.pymc()

BASE = {"name": "m", "data": {"path": "d.csv"}, "response": "y", "likelihood": "bernoulli"}
TINY = {"draws": 100, "tune": 100, "chains": 2, "cores": 1, "seed": 3}


def errors_of(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(raw, "spec.yaml")
    return info.value.problems


def mme4_spec(tmp_path: Path, name: str = "zs", sampler: dict | None = None, **group: Any) -> Path:
    """The mme4 config (3 districts, non-centered) with group and sampler changes."""
    raw = yaml.safe_load((CONFIGS / "mme4.yaml").read_text())
    raw["name"] = name
    raw["data"]["path"] = str(DATA)
    raw["groups"][0].update(group)
    raw["sampler"] = {**TINY, **(sampler or {})}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def quiet_fit(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(load_spec(path))


# ------------------------------------------------------------------ spec: effects


@pytest.mark.parametrize("parameterization", ["centered", "non_centered"])
def test_zero_sum_effects_are_accepted(parameterization: str) -> None:
    group = {"factor": "g", "effects": "zero_sum", "parameterization": parameterization}
    spec = validate_spec({**BASE, "groups": [group]}, "s")
    assert spec.groups[0].effects == "zero_sum"
    assert validate_spec({**BASE, "groups": [{"factor": "g"}]}, "s").groups[0].effects == "normal"


def test_zero_sum_with_slopes_is_accepted() -> None:
    group = {"factor": "g", "effects": "zero_sum", "slopes": [{"column": "x"}]}
    assert validate_spec({**BASE, "groups": [group]}, "s").groups[0].slopes[0].column == "x"


@pytest.mark.parametrize(
    ("group", "says"),
    [
        (
            {"factor": "g", "effects": "zero_sum", "pooling": "none"},
            ["groups[0]: effects: zero_sum needs pooling: partial", "use effects: normal"],
        ),
        (
            {
                "factor": "g",
                "effects": "zero_sum",
                "correlated": True,
                "slopes": [{"column": "x"}],
            },
            [
                "groups[0]: effects: zero_sum does not combine with correlated: true",
                "use effects: normal or correlated: false",
            ],
        ),
        (
            {"factor": "g", "effects": "zerosum"},
            [
                "groups[0].effects: 'zerosum' is not supported (did you mean 'zero_sum'?); "
                "must be one of: normal, zero_sum"
            ],
        ),
    ],
)
def test_zero_sum_rejections_name_the_key_and_what_is_valid(group: dict, says: list[str]) -> None:
    problems = errors_of({**BASE, "groups": [group]})
    assert len(problems) == 1
    for text in says:
        assert text in problems[0]


# ------------------------------------------------------------------ spec: mass_matrix


@pytest.mark.parametrize(
    ("backend", "mass_matrix"),
    [
        (b, m)
        for b in ("pymc", "nutpie", "numpyro", "blackjax")
        for m in ("diag", "dense", "low_rank")
        if m != "low_rank" or b == "nutpie"
    ],
)
def test_mass_matrix_accepted(backend: str, mass_matrix: str) -> None:
    spec = validate_spec({**BASE, "sampler": {"backend": backend, "mass_matrix": mass_matrix}}, "s")
    assert spec.sampler.mass_matrix == mass_matrix
    assert resolve_settings(spec.sampler).mass_matrix == mass_matrix


def test_mass_matrix_defaults_to_diag() -> None:
    assert validate_spec(BASE, "s").sampler.mass_matrix == "diag"


@pytest.mark.parametrize("backend", ["pymc", "numpyro", "blackjax"])
def test_low_rank_needs_nutpie(backend: str) -> None:
    problems = errors_of({**BASE, "sampler": {"backend": backend, "mass_matrix": "low_rank"}})
    assert problems == [
        f"sampler: mass_matrix 'low_rank' is not available with backend {backend}; it works "
        "with backend nutpie (use backend: nutpie, or mass_matrix: diag or dense)"
    ]


def test_unknown_mass_matrix_lists_the_choices() -> None:
    (problem,) = errors_of({**BASE, "sampler": {"mass_matrix": "full"}})
    assert problem.startswith("sampler.mass_matrix: 'full' is not supported")
    assert problem.endswith("must be one of: diag, dense, low_rank")


def test_backend_override_that_rules_out_low_rank(tmp_path: Path) -> None:
    loaded = load_spec(
        mme4_spec(tmp_path, sampler={"backend": "nutpie", "mass_matrix": "low_rank"})
    )
    with pytest.raises(SpecError) as info:
        with_sampler_overrides(loaded, backend="pymc")
    assert info.value.path == "command line"
    assert "mass_matrix 'low_rank' is not available with backend pymc" in info.value.problems[0]
    # keys become flags, values keep their spelling
    with pytest.raises(SpecError) as info:
        with_sampler_overrides(loaded, target_accept=1.5)
    assert info.value.problems[0].startswith("--target-accept: ")


@pytest.mark.parametrize("backend", ["pymc", "numpyro", "blackjax"])
def test_hand_made_settings_are_checked_before_sampling(backend: str) -> None:
    settings = SamplerSettings(backend, 10, 10, 1, 1, 0.8, 10, 1, mass_matrix="low_rank")
    with pytest.raises(HmdiagError, match=f"low_rank' is not available with backend {backend}"):
        sample(None, settings)  # type: ignore[arg-type]  # refused before the model is used


# ------------------------------------------------------------------ spec: round trip + validate


def test_new_options_round_trip(tmp_path: Path) -> None:
    path = mme4_spec(
        tmp_path, effects="zero_sum", sampler={"backend": "nutpie", "mass_matrix": "low_rank"}
    )
    spec = load_spec(path).spec
    raw = spec_to_raw(spec)
    assert raw["groups"][0]["effects"] == "zero_sum"
    assert raw["sampler"]["mass_matrix"] == "low_rank"
    assert validate_spec(raw, "again") == spec
    assert validate_spec(yaml.safe_load(spec_to_yaml(spec)), "again") == spec
    # and the defaults are written out explicitly
    plain = spec_to_raw(load_spec(CONFIGS / "mme4.yaml").spec)
    assert (plain["groups"][0]["effects"], plain["sampler"]["mass_matrix"]) == ("normal", "diag")


def test_validate_command_accepts_the_options(tmp_path: Path) -> None:
    from hmdiag.cli import app

    path = mme4_spec(tmp_path, effects="zero_sum", sampler={"mass_matrix": "dense"})
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "spec and data are valid" in result.output


# ------------------------------------------------------------------ model structure


def _ancestor_names(var: Any) -> set[str]:
    from pytensor.graph.traversal import ancestors

    return {v.name for v in ancestors([var]) if v.name}


@pytest.mark.parametrize("parameterization", ["centered", "non_centered"])
def test_zero_sum_model_structure(tmp_path: Path, parameterization: str) -> None:
    from pymc.distributions.multivariate import ZeroSumNormalRV

    loaded = load_spec(mme4_spec(tmp_path, effects="zero_sum", parameterization=parameterization))
    built = build_model(loaded.spec, prepare_data(loaded))
    model = built.model
    drawn = "a" if parameterization == "centered" else "z"
    assert isinstance(model[drawn].owner.op, ZeroSumNormalRV)
    assert type(model.rvs_to_transforms[model[drawn]]).__name__ == "ZeroSumTransform"
    # the term does not absorb the intercept: a_bar enters eta directly
    assert "a_bar" not in _ancestor_names(model["a"])
    assert "a_bar" in _ancestor_names(model["use_contraception"])
    (term,) = built.group_terms
    assert (term.effects, term.parameterization) == ("zero_sum", parameterization)


def test_zero_sum_log_density_equals_hand_written_model(tmp_path: Path) -> None:
    loaded = load_spec(mme4_spec(tmp_path, effects="zero_sum"))
    data = prepare_data(loaded)
    ours = build_model(loaded.spec, data).model
    codes = data.groups["district"].codes
    with pm.Model(coords={"district": [1, 2, 3]}) as ref:
        a_bar = pm.Normal("a_bar", 0.0, 1.5)
        sigma = pm.HalfNormal("sigma", 0.5)
        z = pm.ZeroSumNormal("z", sigma=1.0, dims="district")
        a = z * sigma
        pm.Bernoulli("y", logit_p=a_bar + a[codes], observed=data.response)
    ours_logp, ref_logp = ours.compile_logp(), ref.compile_logp()
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = {k: rng.normal(size=np.shape(v)) for k, v in ours.initial_point().items()}
        assert ours_logp(point) == pytest.approx(ref_logp(point), rel=1e-10)


def test_a_zero_sum_term_passes_the_intercept_to_the_next_term() -> None:
    raw = yaml.safe_load((ROOT / "configs/examples/grouseticks_poisson.yaml").read_text())
    raw["data"]["path"] = str(ROOT / "data" / "grouseticks.csv")
    raw["groups"][0]["effects"] = "zero_sum"  # location
    spec = validate_spec(raw, "s")
    loaded = LoadedSpec(spec=spec, path=ROOT / "configs/examples/x.yaml", text="")
    model = build_model(spec, prepare_data(loaded)).model
    assert "intercept" not in _ancestor_names(model["r_location"])
    assert "intercept" in _ancestor_names(model["r_brood"])  # brood absorbs it now
    # a zero-sum term alone: the intercept enters eta directly
    raw["groups"][1]["effects"] = "zero_sum"
    spec = validate_spec(raw, "s")
    model = build_model(spec, prepare_data(LoadedSpec(spec=spec, path=loaded.path, text=""))).model
    assert not {"intercept"} & (
        _ancestor_names(model["r_location"]) | _ancestor_names(model["r_brood"])
    )
    assert "intercept" in _ancestor_names(model["ticks"])


# ------------------------------------------------------------------ parameter transforms


def all_configs() -> list[Path]:
    return sorted((ROOT / "configs").glob("*/*.yaml"))


@pytest.mark.parametrize("path", all_configs(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transforms_from_spec_match_the_built_model(path: Path) -> None:
    loaded = load_spec(path)
    built = cached_model(loaded, prepare_data(loaded))
    recorded = model_transforms(built.model)
    assert recorded == transforms_from_spec(loaded.spec)
    assert set(recorded) == set(built.free_variables) | {d.name for d in built.model.deterministics}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"effects": "zero_sum", "parameterization": "centered"}, {"a": "zerosum"}),
        ({"effects": "zero_sum"}, {"z": "zerosum", "a": "deterministic"}),
        ({"parameterization": "centered", "scale": {"prior": "gamma(2, 2)"}}, {"a": "identity"}),
        ({"pooling": "none", "prior": "beta(2, 2)", "scale": {}}, {"a": "logit"}),
        ({"pooling": "none", "prior": "uniform(-3, 3)", "scale": {}}, {"a": "interval"}),
    ],
)
def test_transforms_of_variants(tmp_path: Path, changes: dict, expected: dict) -> None:
    loaded = load_spec(mme4_spec(tmp_path, **changes))
    recorded = model_transforms(build_model(loaded.spec, prepare_data(loaded)).model)
    assert recorded == transforms_from_spec(loaded.spec)
    assert expected.items() <= recorded.items()


def test_transforms_of_a_centered_correlated_term() -> None:
    raw = yaml.safe_load((ROOT / "configs/examples/sleepstudy_correlated.yaml").read_text())
    raw["data"]["path"] = str(ROOT / "data" / "sleepstudy.csv")
    raw["groups"][0]["parameterization"] = "centered"
    raw["sigma"]["prior"] = "lognormal(3, 1)"
    spec = validate_spec(raw, "s")
    loaded = LoadedSpec(spec=spec, path=ROOT / "configs/examples/x.yaml", text="")
    recorded = model_transforms(build_model(spec, prepare_data(loaded)).model)
    assert recorded == transforms_from_spec(spec)
    assert recorded["coefs_subject"] == "identity"
    assert recorded["chol_subject"] == "cholesky"
    assert recorded["sigma"] == "log"
    assert recorded["r_subject_days"] == "deterministic"


def test_run_info_round_trips_the_new_fields(az: Any) -> None:
    idata = az.from_dict({"posterior": {"x": np.zeros((1, 5))}})
    info = RunInfo(label="t", mass_matrix="dense", param_transforms={"x": "log", "y": "zerosum"})
    attach_info(idata, info)
    back = read_info(idata, "t")
    assert back.mass_matrix == "dense"
    assert back.param_transforms == {"x": "log", "y": "zerosum"}
    old = read_info(az.from_dict({"posterior": {"x": np.zeros((1, 5))}}), "old")
    assert (old.mass_matrix, old.param_transforms) == (None, {})


# ------------------------------------------------------------------ tiny fits


@pytest.fixture
def nutpie_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record the keyword arguments of every nutpie.sample call (and sample for real)."""
    import nutpie

    calls: list[dict] = []
    real = nutpie.sample

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", spy)
    return calls


@pytest.mark.parametrize(
    ("mass_matrix", "adaptation"), [("low_rank", "low_rank"), ("dense", "low_rank")]
)
def test_nutpie_zero_sum_fit(
    tmp_path: Path, nutpie_calls: list[dict], mass_matrix: str, adaptation: str
) -> None:
    path = mme4_spec(
        tmp_path,
        effects="zero_sum",
        sampler={"backend": "nutpie", "mass_matrix": mass_matrix},
    )
    result = quiet_fit(path)
    assert nutpie_calls[-1]["adaptation"] == adaptation
    effects = result.idata["posterior"]["a"].values
    assert effects.shape == (2, 100, 3)
    assert np.abs(effects.sum(axis=-1)).max() < 1e-10
    assert np.abs(effects).max() > 1e-3  # not all zero
    assert result.info.mass_matrix == mass_matrix
    assert result.info.param_transforms == {
        "a_bar": "identity",
        "sigma": "log",
        "z": "zerosum",
        "a": "deterministic",
    }
    assert result.info.group_terms[0]["effects"] == "zero_sum"
    # saved and loaded back: log_prior for every free variable, provenance intact
    out = tmp_path / "run.nc"
    save_run(result.idata, out, force=False)
    run = load_run(out)
    assert set(run["log_prior"].data_vars) == {"a_bar", "sigma", "z"}
    # ZeroSumNormal's density is joint over the levels: one value per draw
    assert run["log_prior"]["z"].shape == (2, 100)
    assert np.isfinite(run["log_prior"]["sigma"].values).all()
    info = read_info(run, "x")
    assert info.mass_matrix == mass_matrix
    assert info.param_transforms == result.info.param_transforms
    assert info.group_terms[0]["effects"] == "zero_sum"


def test_pymc_dense_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pymc.step_methods.hmc.quadpotential import QuadPotentialFullAdapt

    potentials: list[Any] = []
    real = pm.NUTS

    def spy(*args: Any, **kwargs: Any) -> Any:
        potentials.append(kwargs.get("potential"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pm, "NUTS", spy)
    path = mme4_spec(tmp_path, sampler={"backend": "pymc", "mass_matrix": "dense"})
    result = quiet_fit(path)
    assert isinstance(potentials[-1], QuadPotentialFullAdapt)
    assert potentials[-1]._n == 5  # a_bar, sigma, z[3]
    assert result.info.mass_matrix == "dense"
    assert int(result.idata["posterior"].sizes["draw"]) == 100
    assert set(result.idata["log_prior"].data_vars) == {"a_bar", "sigma", "z"}
    # diag keeps PyMC's own default (a diagonal adaptation the step makes itself)
    with result.built.model:
        _pymc_nuts(pm, replace(result.settings, mass_matrix="diag"), result.built.model)
    assert potentials[-1] is None


class _Captured(Exception):
    pass


@pytest.mark.parametrize(
    ("backend", "mass_matrix", "expected"),
    [
        ("numpyro", "dense", {"dense_mass": True}),
        ("numpyro", "diag", {"dense_mass": False}),
        ("blackjax", "dense", {"is_mass_matrix_diagonal": False}),
        ("blackjax", "diag", {"is_mass_matrix_diagonal": True}),
    ],
)
def test_jax_backends_get_the_mass_matrix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    mass_matrix: str,
    expected: dict,
) -> None:
    """What reaches pm.sample's ``nuts=`` (PyMC hands it to numpyro's NUTS and to
    blackjax.window_adaptation); the sampling itself is not run here."""
    seen: dict[str, Any] = {}

    def capture(**kwargs: Any) -> Any:
        seen.update(kwargs)
        raise _Captured

    monkeypatch.setattr(pm, "sample", capture)
    loaded = load_spec(
        mme4_spec(tmp_path, sampler={"backend": backend, "mass_matrix": mass_matrix})
    )
    built = build_model(loaded.spec, prepare_data(loaded))
    with pytest.raises(_Captured):
        sample(built, resolve_settings(loaded.spec.sampler))
    assert seen["nuts_sampler"] == backend
    assert expected.items() <= seen["nuts"].items()
