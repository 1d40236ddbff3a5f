"""`formula:` specs: lme4/brms formulas expanded into the long form, and the formula twins."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.errors import SpecError
from hmdiag.spec import load_spec

from .conftest import ROOT

TWINS = sorted((ROOT / "configs" / "formula").glob("*/*.yaml"))


def original_of(twin: Path) -> Path:
    return ROOT / "configs" / twin.parent.name / twin.name


def test_every_config_has_a_twin() -> None:
    """Every spec in configs/ (reference, examples, the pathology gallery, real size) has a
    formula twin."""
    originals = sorted(
        p
        for folder in ("bangladesh", "examples", "pathologies", "scale")
        for p in (ROOT / "configs" / folder).glob("*.yaml")
    )
    assert [original_of(t) for t in TWINS] == originals and len(TWINS) == 25


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_twin_expands_to_its_original_and_builds_the_same_graph(twin: Path) -> None:
    from pymc.model_graph import ModelGraph

    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data

    formula, long = load_spec(twin), load_spec(original_of(twin))
    assert "formula:" in twin.read_text() and formula.formula is not None
    assert formula.data_path.resolve() == long.data_path.resolve()
    assert formula.spec.model_dump(exclude={"data"}) == long.spec.model_dump(exclude={"data"})
    graphs = []
    for loaded in (formula, long):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = build_model(loaded.spec, prepare_data(loaded))
        model = built.model
        edges = ModelGraph(model).make_compute_graph()
        graphs.append(
            (
                sorted((str(k), sorted(map(str, v))) for k, v in edges.items()),
                [(str(v), type(v.owner.op).__name__) for v in model.basic_RVs],
                {str(k): tuple(v) for k, v in model.named_vars_to_dims.items()},
            )
        )
        point = built.model.initial_point()
        graphs.append(sorted((k, float(v)) for k, v in built.model.point_logps(point).items()))
    assert graphs[0] == graphs[2] and graphs[1] == graphs[3]


@pytest.mark.slow
@pytest.mark.parametrize(
    # The seed and example configs; the gallery's and InstEval's twins (seconds to a minute of
    # sampling each) rest on the graph test above.
    "twin",
    [t for t in TWINS if t.parent.name in ("bangladesh", "examples")],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_a_twin_samples_identical_draws(twin: Path) -> None:
    """Same spec, same seed: the formula and its long form give the same draws (few of them:
    the point is identity, not convergence)."""
    from hmdiag.spec import with_sampler_overrides
    from hmdiag.workflows.fit import fit

    runs = []
    for path in (twin, original_of(twin)):
        loaded = with_sampler_overrides(load_spec(path), draws=40, tune=40, chains=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(fit(loaded))
    first, second = (r.idata.posterior for r in runs)
    assert set(first.data_vars) == set(second.data_vars)
    for var in first.data_vars:
        np.testing.assert_array_equal(first[var].values, second[var].values)
    # The run stores the long form, which validates without the data.
    stored = runs[0].info.spec_text
    assert (
        stored.startswith("# the long form of formula: ")
        and "formula:" not in stored.split("\n", 1)[1]
    )


def spec_with(tmp_path: Path, table: pd.DataFrame, **keys: Any) -> Path:
    csv = tmp_path / "data.csv"
    table.to_csv(csv, index=False)
    raw = {"name": "f", "data": {"path": str(csv)}, **keys}
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "k": rng.integers(0, 5, size=n),
            "t": rng.uniform(1, 3, size=n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], size=n),
            "g": rng.choice(["g1", "g2", "g3", "g4"], size=n),
            "h": rng.choice(["h1", "h2"], size=n),
        }
    )


def expanded(tmp_path: Path, table: pd.DataFrame, formula: str, **keys: Any) -> Any:
    keys = {"family": "gaussian", "sigma": {"prior": "halfnormal(1)"}, **keys}
    return load_spec(spec_with(tmp_path, table, formula=formula, **keys)).spec


def test_the_formula_terms_map_to_the_long_form(tmp_path: Path, table: pd.DataFrame) -> None:
    spec = expanded(tmp_path, table, "y ~ x*z + kind + C(k) + (1 + x | g) + (1 + z || h)")
    assert spec.likelihood == "normal" and spec.response == "y" and spec.intercept is not None
    assert [(p.column, p.categorical) for p in spec.predictors] == [
        ("x", False),
        ("z", False),
        ("kind", True),
        ("k", True),
    ]  # strings are categorical without C()
    assert [i.columns for i in spec.interactions] == [["x", "z"]]
    assert [(g.factor, [s.column for s in g.slopes], g.correlated) for g in spec.groups] == [
        ("g", ["x"], True),
        ("h", ["z"], False),
    ]
    separate = expanded(tmp_path, table, "y ~ 0 + x + (1 | g) + (0 + x | g)")
    assert separate.intercept is None
    assert [(g.factor, [s.column for s in g.slopes], g.correlated) for g in separate.groups] == [
        ("g", ["x"], False)
    ]
    assert expanded(tmp_path, table, "y ~ -1 + x").intercept is None
    implicit = expanded(tmp_path, table, "y ~ (x | g)")  # lme4: the intercept is implicit
    assert implicit.groups[0].slopes[0].column == "x" and implicit.groups[0].correlated


def test_offsets_priors_and_options_by_term(tmp_path: Path, table: pd.DataFrame) -> None:
    from hmdiag.model.data import prepare_data

    path = spec_with(
        tmp_path,
        table,
        formula="k ~ x + x:z + offset(log(t)) + (1 + x | g)",
        family="poisson",
        priors={
            "Intercept": "normal(0, 1)",
            "x": "normal(0, 0.5)",
            "x:z": "normal(0, 0.25)",
            "1|g": "halfnormal(0.3)",
            "x|g": "halfnormal(0.2)",
        },
        groups={"g": {"parameterization": "non_centered", "slopes": {"x": {"name": "b_x_g"}}}},
        predictors={"x": {"standardize": True}},
    )
    loaded = load_spec(path)
    spec = loaded.spec
    assert spec.link == "log" and spec.offset == "log(t)" and spec.offset_column == "t"
    assert str(spec.intercept.prior) == "normal(0, 1)"
    assert str(spec.predictors[0].prior) == "normal(0, 0.5)" and spec.predictors[0].standardize
    assert str(spec.interactions[0].prior) == "normal(0, 0.25)"
    (group,) = spec.groups
    assert str(group.scale.prior) == "halfnormal(0.3)" and group.parameterization == "non_centered"
    assert str(group.slopes[0].scale.prior) == "halfnormal(0.2)" and group.slopes[0].name == "b_x_g"
    data = prepare_data(loaded)
    np.testing.assert_allclose(data.offset, np.log(table["t"].to_numpy()))


@pytest.mark.parametrize(
    ("formula", "keys", "message"),
    [
        ("y ~ C(kind):x", {}, "add the main effect C(kind)"),
        ("y ~ kind + g + kind:g:x", {}, "at most one categorical column (kind, g are)"),
        ("y ~ (1 | g/h) + (1 | g:h)", {}, "an effect of g:h appears in two of its group terms"),
        ("y ~ x + (0 + x | g)", {}, "the slopes of g come without its varying intercept"),
        ("y ~ log(x)", {}, "formula term 'log(x)'"),
        ("y ~ x +", {}, "cannot be parsed"),
        ("y ~ x", {"priors": {"w": "normal(0, 1)"}}, "priors: the formula has no term 'w'"),
        ("y ~ x", {"groups": {"g": {}}}, "groups: the formula has no term for g"),
        ("y ~ x", {"response": "y"}, "remove response"),
        ("y ~ 0 + x", {"intercept": {"prior": "normal(0, 1)"}}, "drops the intercept"),
        ("y ~ x", {"family": "weibull"}, "family 'weibull' is not one of"),
        # what formulae would stop reading at, silently dropping the rest
        ("y ~ x z", {}, "cannot be parsed: unexpected 'z'"),
        ("y ~ x | g + (1 + z || h)", {}, "cannot be parsed: unexpected '|'"),
        ("y ~ (1 + x | g) | h", {}, "cannot be parsed: unexpected '|'"),
        # lme4 correlation structures hmdiag has no single group for
        ("y ~ (1 + x | g) + (0 + z | g)", {}, "mix a correlated block with separate effects"),
        ("y ~ (1 | g) + (0 + x + z | g)", {}, "mix a correlated block with separate effects"),
        ("y ~ (1 | g) + (1 + x || g)", {}, "an effect of g appears in two of its group terms"),
        ("y ~ (1 + x | g) + (0 + x | g)", {}, "an effect of g appears in two of its group terms"),
        ("log(y) ~ x", {}, "the left of ~ must be one response column"),
        ("y ~ offset(t) + offset(log(t))", {}, "give one offset() term"),
        # options may not change what the formula says
        (
            "y ~ x",
            {"predictors": {"x": {"column": "z"}}},
            "predictors.x: column comes from the formula",
        ),
        (
            "y ~ (1 | g)",
            {"groups": {"g": {"factor": "h"}}},
            "groups.g: factor comes from the formula",
        ),
        (
            "y ~ (1 + x || g)",
            {"groups": {"g": {"correlated": True}}},
            "correlated comes from the formula",
        ),
        ("y ~ x", {"intercept": "normal(0, 1)"}, "intercept: with formula, a mapping of options"),
        ("y ~ 0 + x", {"intercept": True}, "intercept options given, but the formula drops"),
        (
            "y ~ x",
            {"predictors": {"x": {"prior": "normal(0, 5)"}}, "priors": {"x": "normal(0, 1)"}},
            "predictors.x: a prior here and priors: 'x' too",
        ),
        ("y ~ x", {"predictors": {"x": 5}}, "predictors.x: options are a mapping"),
        ("y ~ (1 | g)", {"groups": {"g": {"scale": "halfnormal(2)"}}}, "groups.g.scale: a mapping"),
    ],
)
def test_what_a_formula_cannot_build_is_a_clear_exit_2(
    tmp_path: Path, table: pd.DataFrame, formula: str, keys: dict[str, Any], message: str
) -> None:
    keys = {"family": "gaussian", "sigma": {"prior": "halfnormal(1)"}, **keys}
    path = spec_with(tmp_path, table, formula=formula, **keys)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert message in str(caught.value)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_validate_prints_the_long_form(tmp_path: Path) -> None:
    twin = ROOT / "configs" / "formula" / "examples" / "sleepstudy_correlated.yaml"
    result = CliRunner().invoke(app, ["validate", str(twin)])
    assert result.exit_code == 0, result.output
    assert "long form of formula: reaction ~ 1 + days + (1 + days | subject)" in result.output
    long_form = yaml.safe_load(result.output.split("long form of formula:", 1)[1].split("\n", 1)[1])
    assert long_form["response"] == "reaction" and long_form["groups"][0]["correlated"] is True
    spec_file = tmp_path / "long.yaml"
    spec_file.write_text(
        yaml.safe_dump({**long_form, "data": {"path": str(ROOT / "data" / "sleepstudy.csv")}})
    )
    assert load_spec(spec_file).spec.model_dump(exclude={"data"}) == load_spec(
        twin
    ).spec.model_dump(exclude={"data"})
    assert json.loads(json.dumps(long_form))  # plain data, as written


def test_a_stray_value_leaves_a_numeric_column_numeric(tmp_path: Path, table: pd.DataFrame) -> None:
    """One '.' among numbers: the column stays numeric and preparing the data names the value
    (as the long form does), instead of a level per number."""
    from hmdiag.errors import DataError
    from hmdiag.model.data import prepare_data

    table = table.astype({"x": object})
    table.loc[4, "x"] = "."
    loaded = load_spec(
        spec_with(
            tmp_path, table, formula="y ~ x", family="gaussian", sigma={"prior": "halfnormal(1)"}
        )
    )
    assert loaded.spec.predictors[0].categorical is False
    with pytest.raises(DataError, match="predictor column 'x' must be numeric"):
        prepare_data(loaded)


def test_offset_columns_with_any_name(tmp_path: Path, table: pd.DataFrame) -> None:
    from hmdiag.model.data import prepare_data

    table = table.rename(columns={"t": "t.days"})
    path = spec_with(tmp_path, table, formula="k ~ x + offset( log( t.days ) )", family="poisson")
    loaded = load_spec(path)
    assert loaded.spec.offset == "log(t.days)" and loaded.spec.offset_column == "t.days"
    np.testing.assert_allclose(prepare_data(loaded).offset, np.log(table["t.days"].to_numpy()))


def test_nested_and_combined_factors(tmp_path: Path, table: pd.DataFrame) -> None:
    """(1 | g/h) is (1 | g) + (1 | g:h); g:h groups by the combined levels of g and h."""
    from hmdiag.model.data import prepare_data

    nested = expanded(tmp_path, table, "y ~ x + (1 | g/h)")
    assert [g.factor for g in nested.groups] == ["g", "g:h"]
    combined = expanded(tmp_path, table, "y ~ x + (1 + x || g:h)")
    (group,) = combined.groups
    assert (
        group.factor == "g:h" and group.effect_name == "r_g_h" and group.scale_name == "sigma_g_h"
    )
    assert group.slope_names(group.slopes[0]) == ("r_g_h_x", "sigma_g_h_x", "z_g_h_x")
    path = spec_with(
        tmp_path,
        table,
        formula="y ~ x + (1 | g/h)",
        family="gaussian",
        sigma={"prior": "halfnormal(1)"},
    )
    data = prepare_data(load_spec(path))
    pairs = sorted({f"{g}:{h}" for g, h in zip(table["g"], table["h"], strict=True)})
    assert data.groups["g:h"].levels == pairs
    codes = data.groups["g:h"].codes
    assert [pairs[c] for c in codes] == [
        f"{g}:{h}" for g, h in zip(table["g"], table["h"], strict=True)
    ]
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "group g:h:" in result.output and "r_g_h[g:h]" in result.output


def test_categorical_by_numeric_interactions(tmp_path: Path, table: pd.DataFrame) -> None:
    """x*C(kind): a slope of x per non-reference level of kind, as lme4's treatment coding."""
    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data

    path = spec_with(
        tmp_path,
        table,
        formula="y ~ x*C(kind)",
        family="gaussian",
        sigma={"prior": "halfnormal(1)"},
    )
    loaded = load_spec(path)
    assert [i.columns for i in loaded.spec.interactions] == [["x", "kind"]]
    data = prepare_data(loaded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = build_model(loaded.spec, data)
    model = built.model
    assert model.named_vars_to_dims["b_x_kind"] == ("kind_level",)
    assert list(model.coords["kind_level"]) == ["b", "c"]  # reference level a
    # The linear predictor at a point, against the treatment-coded design by hand.
    point = {
        "intercept": 0.3,
        "b_x": 0.5,
        "b_kind": np.array([1.0, -2.0]),
        "b_x_kind": np.array([0.7, -0.4]),
        "sigma_log__": 0.0,
    }
    x, kind = table["x"].to_numpy(), table["kind"].to_numpy()
    expected = (
        0.3
        + 0.5 * x
        + np.select([kind == "b", kind == "c"], [1.0, -2.0], 0.0)
        + x * np.select([kind == "b", kind == "c"], [0.7, -0.4], 0.0)
    )
    logp = model.compile_logp(vars=[model.observed_RVs[0]], jacobian=False)(point)
    sd = 1.0
    by_hand = float(
        np.sum(
            -0.5 * ((table["y"].to_numpy() - expected) / sd) ** 2
            - np.log(sd)
            - 0.5 * np.log(2 * np.pi)
        )
    )
    assert float(logp) == pytest.approx(by_hand, rel=1e-10)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "per level of kind against 'a'" in result.output


def test_a_formula_spec_on_a_device_file_exits_2(tmp_path: Path) -> None:
    """Guessing which columns are words reads the data with the project's reader, which
    refuses /dev/zero instead of reading it forever."""
    path = tmp_path / "z.yaml"
    path.write_text("name: z\ndata: {path: /dev/zero}\nformula: y ~ x\nfamily: poisson\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "/dev/zero: is not a regular file" in result.output
