"""`hmdiag init`: a commented starter spec from data and a formula, which validates and fits."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.spec import load_spec

from .conftest import ROOT

DATA = ROOT / "data"


def init(*args: object) -> object:
    return CliRunner().invoke(app, ["init", *map(str, args)])


def test_init_writes_a_valid_commented_spec_that_fits(tmp_path: Path) -> None:
    out = tmp_path / "specs" / "use.yaml"
    out.parent.mkdir()
    result = init(
        DATA / "bangladesh.csv",
        "--formula",
        "use_contraception ~ urban + (1 | district)",
        "-o",
        out,
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}\n"
    text = out.read_text()
    assert text.startswith("# Starter spec written by `hmdiag init`")
    assert "likelihood: bernoulli  # the response holds only 0 and 1" in text
    spec = load_spec(out).spec
    assert spec.response == "use_contraception" and [p.column for p in spec.predictors] == ["urban"]
    (group,) = spec.groups
    assert group.factor == "district"
    raw = yaml.safe_load(text)
    assert (tmp_path / "specs" / raw["data"]["path"]).resolve() == (
        DATA / "bangladesh.csv"
    ).resolve()
    fitted = CliRunner().invoke(
        app,
        [
            "fit",
            str(out),
            "--draws",
            "50",
            "--tune",
            "50",
            "--chains",
            "1",
            "-o",
            str(tmp_path / "r.nc"),
            "--json",
        ],
    )
    assert fitted.exit_code in (0, 1), fitted.output
    assert json.loads(fitted.stdout)["run"]["spec_name"] == "bangladesh"
    again = init(DATA / "bangladesh.csv", "--formula", "use_contraception ~ 1", "-o", out)
    assert again.exit_code == 2 and "--force" in again.output
    assert (
        init(
            DATA / "bangladesh.csv", "--formula", "use_contraception ~ 1", "-o", out, "--force"
        ).exit_code
        == 0
    )
    assert load_spec(out).spec.predictors == []


def test_init_scales_priors_and_picks_the_parameterization(tmp_path: Path) -> None:
    import pandas as pd

    sleep = tmp_path / "sleep.yaml"
    assert (
        init(
            DATA / "sleepstudy.csv", "-f", "reaction ~ days + (1 + days || subject)", "-o", sleep
        ).exit_code
        == 0
    )
    raw = yaml.safe_load(sleep.read_text())
    sd = pd.read_csv(DATA / "sleepstudy.csv")["reaction"].std(ddof=0)
    assert raw["likelihood"] == "normal" and raw["sigma"]["prior"] == f"halfnormal({sd:.3g})"
    assert raw["groups"][0]["parameterization"] == "non_centered"  # 10 rows per subject
    assert "correlated" not in raw["groups"][0]
    schools = tmp_path / "schools.yaml"
    result = init(DATA / "grouseticks.csv", "-f", "ticks ~ (1 | location)", "-o", schools)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(schools.read_text())["likelihood"] == "poisson"
    assert load_spec(sleep) and load_spec(schools)


def test_init_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    missing = init(
        DATA / "bangladesh.csv", "-f", "use_contraception ~ wealth", "-o", tmp_path / "a.yaml"
    )
    assert missing.exit_code == 2 and "the formula uses 'wealth', not in the file" in missing.output
    bad = init(
        DATA / "bangladesh.csv",
        "-f",
        "use_contraception ~ C(urban):age_centered",
        "-o",
        tmp_path / "b.yaml",
    )
    assert bad.exit_code == 2 and "add the main effect C(urban)" in bad.output
    family = init(
        DATA / "bangladesh.csv",
        "-f",
        "use_contraception ~ 1",
        "--family",
        "weibull",
        "-o",
        tmp_path / "c.yaml",
    )
    assert family.exit_code == 2 and "--family 'weibull' is not one of" in family.output
    nofile = init(tmp_path / "none.csv", "-f", "y ~ 1", "-o", tmp_path / "d.yaml")
    assert nofile.exit_code == 2 and "none.csv" in nofile.output
    assert not any((tmp_path / n).exists() for n in ("a.yaml", "b.yaml", "c.yaml", "d.yaml"))


def test_init_options_for_binomial_bernoulli_and_awkward_names(tmp_path: Path) -> None:
    import pandas as pd

    binomial = init(
        DATA / "cbpp.csv",
        "-f",
        "incidence ~ C(period) + (1 | herd)",
        "--family",
        "binomial",
        "-o",
        tmp_path / "b.yaml",
    )
    assert binomial.exit_code == 2 and "--family binomial needs --trials COLUMN" in binomial.output
    ok = init(
        DATA / "cbpp.csv",
        "-f",
        "incidence ~ C(period) + (1 | herd)",
        "--family",
        "binomial",
        "--trials",
        "size",
        "-o",
        tmp_path / "b.yaml",
    )
    assert ok.exit_code == 0, ok.output and load_spec(tmp_path / "b.yaml").spec.trials == "size"
    words = pd.DataFrame(
        {
            "hit": ["hit", "miss"] * 20,
            "on": [0.1, 0.2] * 20,
            "sex": ["m", "f"] * 20,
            "g": ["a", "b", "c", "d"] * 10,
        }
    )
    csv = tmp_path / "[v2] e#1.csv"
    words.to_csv(csv, index=False)
    asked = init(
        csv, "-f", "hit ~ on + (1 | g)", "--family", "bernoulli", "-o", tmp_path / "h.yaml"
    )
    assert asked.exit_code == 2 and "--success VALUE" in asked.output
    named = init(
        csv,
        "-f",
        "hit ~ on + (1 | g)",
        "--family",
        "bernoulli",
        "--success",
        "hit",
        "--name",
        "2 my model",
        "-o",
        tmp_path / "h.yaml",
    )
    assert named.exit_code == 0, named.output
    spec = load_spec(tmp_path / "h.yaml").spec
    assert spec.name == "model_2_my_model" and spec.success == "hit"
    assert spec.predictors[0].column == "on"  # a YAML word, quoted
    # A factor slope (#26): one varying slope per non-reference level of sex.
    slope = init(csv, "-f", "on ~ (1 + sex | g)", "-o", tmp_path / "s.yaml")
    assert slope.exit_code == 0, slope.output
    (factor_slope,) = load_spec(tmp_path / "s.yaml").spec.groups[0].slopes
    assert factor_slope.column == "sex" and factor_slope.categorical
    offset = init(
        DATA / "cbpp.csv", "-f", "incidence ~ offset(log(herdsize))", "-o", tmp_path / "o.yaml"
    )
    assert offset.exit_code == 2 and "'herdsize', not in the file" in offset.output
