"""The model builder against hand-written PyMC models of the reference post."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hmdiag import _lazy
from hmdiag.model import build_model
from hmdiag.model.data import prepare_data
from hmdiag.spec import load_spec

from .conftest import CONFIGS, DATA

pm = _lazy.pymc()


def built(name: str):
    loaded = load_spec(CONFIGS / f"{name}.yaml")
    return build_model(loaded.spec, prepare_data(loaded))


def first3() -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(DATA)
    frame = frame[frame["district"] <= 3]
    return frame["district"].to_numpy() - 1, frame["use_contraception"].to_numpy()


def reference_model(name: str):
    """The reference post's models, written directly in PyMC."""
    district, y = first3()
    with pm.Model(coords={"district": [1, 2, 3]}) as model:
        if name == "mfe":
            a = pm.Normal("a", 0, 1.5, dims="district")
        else:
            a_bar = pm.Normal("a_bar", 0.0, 1.5)
            if name == "mme0":
                sigma = pm.Exponential("sigma", 1.0)
                a = pm.Normal("a", a_bar, sigma, dims="district")
            else:
                sigma = pm.HalfNormal("sigma", 0.5)
                z = pm.Normal("z", 0.0, 1.0, dims="district")
                a = a_bar + z * sigma
        pm.Bernoulli("use_contraception", p=pm.math.invlogit(a[district]), observed=y)
    return model


@pytest.mark.parametrize("name", ["mfe", "mme0", "mme4"])
def test_log_density_equals_hand_written_model(name: str) -> None:
    ours = built(name).model
    ref = reference_model(name)
    assert sorted(rv.name for rv in ours.free_RVs) == sorted(rv.name for rv in ref.free_RVs)
    ours_logp, ref_logp = ours.compile_logp(), ref.compile_logp()
    rng = np.random.default_rng(1)
    for _ in range(3):
        point = {k: rng.normal(size=np.shape(v)) for k, v in ours.initial_point().items()}
        assert ours_logp(point) == pytest.approx(ref_logp(point), rel=1e-10)


def test_non_centered_records_centered_effects() -> None:
    model = built("mme4")
    assert model.free_variables == ["a_bar", "sigma", "z"]
    assert "a" in model.model.named_vars and "a" in [d.name for d in model.model.deterministics]
    assert model.model.coords["district"] == (1, 2, 3)
    term = model.group_terms[0]
    assert (term.effect, term.scale, term.offset, term.parameterization) == (
        "a",
        "sigma",
        "z",
        "non_centered",
    )
    assert (term.levels, term.smallest_level) == (3, 2)


def test_probit_binomial_with_predictor(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    pd.DataFrame(
        {"k": [1, 2, 0, 3], "n": [3, 3, 3, 3], "x": [0.1, 0.2, 0.3, 0.4], "g": [1, 1, 2, 2]}
    ).to_csv(csv, index=False)
    spec = {
        "name": "m",
        "data": {"path": str(csv)},
        "response": "k",
        "likelihood": "binomial",
        "trials": "n",
        "link": "probit",
        "predictors": [{"column": "x", "prior": "normal(0, 2)"}],
        "groups": [{"factor": "g", "parameterization": "non_centered"}],
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load_spec(path)
    model = build_model(loaded.spec, prepare_data(loaded)).model
    point = {
        "intercept": 0.3,
        "b_x": -0.5,
        "sigma_g_log__": np.log(0.7),
        "z_g": np.array([0.2, -0.4]),
    }
    # The first partially pooled term is centered on the intercept: a_g = intercept + z_g * sigma.
    group_effect = 0.3 + 0.7 * np.array([0.2, 0.2, -0.4, -0.4])
    eta = -0.5 * np.array([0.1, 0.2, 0.3, 0.4]) + group_effect
    from scipy import stats

    expected = stats.binom.logpmf([1, 2, 0, 3], 3, stats.norm.cdf(eta)).sum()
    loglik = model.compile_logp(vars=[model["k"]], sum=True)
    assert loglik(point) == pytest.approx(expected, rel=1e-7)


def test_varying_slopes_match_a_hand_written_model(tmp_path: Path) -> None:
    """Intercept and urban slope varying by district, non-centered, over all 60 districts."""
    import shutil

    spec_path = tmp_path / "full60.yaml"
    shutil.copy(
        Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / "full60.yaml", spec_path
    )
    spec_path.write_text(spec_path.read_text().replace("../../data/bangladesh.csv", str(DATA)))
    loaded = load_spec(spec_path)
    data = prepare_data(loaded)
    ours = build_model(loaded.spec, data)
    assert ours.free_variables == ["a_bar", "b_urban", "sigma", "z", "sigma_b", "z_b"]
    assert [t.effect for t in ours.group_terms] == ["b", "a"]
    frame = pd.read_csv(DATA)
    levels = sorted(frame["district"].unique())
    idx = frame["district"].map({d: i for i, d in enumerate(levels)}).to_numpy()
    urban = frame["urban"].to_numpy()
    with pm.Model(coords={"district": levels}) as ref:
        a_bar = pm.Normal("a_bar", 0, 1.5)
        b_urban = pm.Normal("b_urban", 0, 1)
        sigma = pm.HalfNormal("sigma", 1)
        z = pm.Normal("z", 0, 1, dims="district")
        sigma_b = pm.HalfNormal("sigma_b", 1)
        z_b = pm.Normal("z_b", 0, 1, dims="district")
        eta = b_urban * urban + (a_bar + z * sigma)[idx] + (z_b * sigma_b)[idx] * urban
        pm.Bernoulli(
            "use_contraception",
            p=pm.math.invlogit(eta),
            observed=frame["use_contraception"].to_numpy(),
        )
    rng = np.random.default_rng(3)
    point = {k: rng.normal(size=np.shape(v)) * 0.5 for k, v in ours.model.initial_point().items()}
    assert ours.model.compile_logp()(point) == pytest.approx(ref.compile_logp()(point), rel=1e-10)
