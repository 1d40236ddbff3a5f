"""Prepared data: the Bangladesh subset, filters, and every data error naming file and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hmdiag.errors import DataError
from hmdiag.model.data import prepare_data
from hmdiag.spec import load_spec
from hmdiag.spec.table import file_sha256

from .conftest import CONFIGS, DATA


def test_bangladesh_csv_matches_its_provenance() -> None:
    frame = pd.read_csv(DATA)
    assert list(frame.columns) == [
        "woman",
        "district",
        "use_contraception",
        "living_children",
        "age_centered",
        "urban",
    ]
    assert len(frame) == 1934
    assert frame["district"].nunique() == 60 and 54 not in set(frame["district"])
    assert frame.groupby("district").size().loc[[1, 2, 3]].tolist() == [117, 20, 2]
    assert frame["use_contraception"].sum() == 759
    readme = (DATA.parent / "README.md").read_text()
    assert file_sha256(DATA) in readme


def test_first_three_districts() -> None:
    data = prepare_data(load_spec(CONFIGS / "mme0.yaml"))
    group = data.groups["district"]
    assert data.n_rows == 139 and data.n_rows_read == 1934
    assert group.levels == [1, 2, 3]
    assert group.counts == [117, 20, 2]
    assert int(data.response[group.codes == 0].sum()) == 30
    assert data.response.tolist()[-2:] == [1, 1]  # district 3: both women use contraception


def write_case(tmp_path: Path, csv: str, **spec: object) -> Path:
    (tmp_path / "d.csv").write_text(csv)
    raw = {"name": "m", "data": {"path": "d.csv"}, "response": "y", "likelihood": "bernoulli"}
    raw |= spec
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def data_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        prepare_data(load_spec(path))
    return str(info.value)


GOOD = "y,g,x,n\n0,a,1.5,3\n1,a,2.5,3\n1,b,0.5,3\n0,b,1.0,3\n"


@pytest.mark.parametrize(
    ("csv", "spec", "expected"),
    [
        (GOOD, {"response": "z"}, "column 'z' (response) is not in the file"),
        (GOOD, {"response": "yy"}, "did you mean 'y'?"),
        (
            GOOD,
            {"groups": [{"factor": "grp"}]},
            "column 'grp' (groups[0].factor) is not in the file",
        ),
        (GOOD, {"data": {"path": "d.csv", "where": {"g": ["zz"]}}}, "leaves no rows"),
        (GOOD, {"data": {"path": "d.csv", "where": {"h": [1]}}}, "data.where names column 'h'"),
        (
            GOOD.replace("1,b,0.5", "2,b,0.5"),
            {},
            "must be 0 or 1 for likelihood bernoulli; 1 value(s) are not (e.g. 2 at line 4)",
        ),
        (
            GOOD.replace("1,b,0.5,3", "5,b,0.5,3"),
            {"likelihood": "binomial", "trials": "n"},
            "exceeds trials in 1 row(s) (lines 4)",
        ),
        (
            GOOD.replace("1,b,0.5", "-1,b,0.5"),
            {"likelihood": "binomial", "trials": 3},
            "whole numbers >= 0",
        ),
        (
            GOOD.replace("b", "a"),
            {"groups": [{"factor": "g"}]},
            "grouping factor 'g' has a single level ('a')",
        ),
        (
            GOOD.replace("2.5", "high"),
            {"predictors": [{"column": "x"}]},
            "predictor column 'x' must be numeric; 1 value(s) are not (e.g. 'high' at line 3)",
        ),
        (
            GOOD.replace("1,a,2.5", ",a,2.5"),
            {},
            "1 row(s) have missing values (y: 1 missing), at lines 3",
        ),
        ("", {}, "the CSV file is empty"),
        ("y,g\n", {}, "header but no rows"),
    ],
)
def test_data_errors(tmp_path: Path, csv: str, spec: dict, expected: str) -> None:
    message = data_error(write_case(tmp_path, csv, **spec))
    assert expected in message
    assert "d.csv" in message


def test_missing_file_names_resolved_path(tmp_path: Path) -> None:
    path = write_case(tmp_path, GOOD)
    (tmp_path / "d.csv").unlink()
    message = data_error(path)
    assert f"{tmp_path / 'd.csv'}: data file not found" in message


def test_drop_missing_drops_and_counts(tmp_path: Path) -> None:
    csv = GOOD.replace("1,a,2.5", ",a,2.5")
    path = write_case(tmp_path, csv, data={"path": "d.csv", "drop_missing": True})
    data = prepare_data(load_spec(path))
    assert data.n_rows == 3 and data.dropped_missing == 1
    np.testing.assert_array_equal(data.response, [0, 1, 0])


def test_binomial_trials_column_and_constant(tmp_path: Path) -> None:
    data = prepare_data(load_spec(write_case(tmp_path, GOOD, likelihood="binomial", trials="n")))
    assert data.trials.tolist() == [3, 3, 3, 3]
    data = prepare_data(load_spec(write_case(tmp_path, GOOD, likelihood="binomial", trials=5)))
    assert data.trials.tolist() == [5, 5, 5, 5]
