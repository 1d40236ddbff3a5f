"""Responses as people store them: two-valued words and booleans with `success:`, and a
binomial response written successes/trials."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from hmdiag.errors import DataError, SpecError
from hmdiag.model.data import prepare_data
from hmdiag.spec import load_spec

from .conftest import CONFIGS, DATA


def spec_for(tmp_path: Path, table: pd.DataFrame, **changes: Any) -> Path:
    """mme4 (3 districts) on ``table``, with top-level keys changed (None removes one)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "data.csv"
    table.to_csv(csv, index=False)
    raw = yaml.safe_load((CONFIGS / "mme4.yaml").read_text())
    raw["data"]["path"] = str(csv)
    raw["sampler"] = {**raw["sampler"], "draws": 100, "tune": 100, "chains": 2}
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def bangladesh() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.mark.parametrize(
    ("yes", "no", "success"),
    [
        ("Y", "N", "Y"),
        ("used", "never", "used"),
        ("yes", "no", None),
        ("Yes", "No", None),
        ("TRUE", "FALSE", None),
        (True, False, None),
        (True, False, True),
        (2, 1, 2),
        ("yes", "no", True),  # YAML's unquoted `success: yes`
        ("on", "off", True),  # and `success: on`
    ],
)
def test_two_valued_responses_read_as_0_1(
    tmp_path: Path, bangladesh: pd.DataFrame, yes: Any, no: Any, success: Any
) -> None:
    table = bangladesh.copy()
    table["use_contraception"] = np.where(bangladesh["use_contraception"] == 1, yes, no)
    changes = {"success": success} if success is not None else {}
    prepared = prepare_data(load_spec(spec_for(tmp_path, table, **changes)))
    reference = prepare_data(load_spec(spec_for(tmp_path / "reference", bangladesh)))
    np.testing.assert_array_equal(prepared.response, reference.response)
    assert prepared.response.dtype == np.int64


@pytest.mark.parametrize(("words", "success"), [(("Y", "N"), "N"), (("yes", "no"), False)])
def test_success_naming_the_other_value_flips_the_response(
    tmp_path: Path, bangladesh: pd.DataFrame, words: tuple[str, str], success: Any
) -> None:
    """`success: no` unquoted reaches the spec as False: it still names the word `no`."""
    table = bangladesh.copy()
    table["use_contraception"] = np.where(bangladesh["use_contraception"] == 1, *words)
    flipped = prepare_data(load_spec(spec_for(tmp_path / "flipped", table, success=success)))
    original = prepare_data(load_spec(spec_for(tmp_path, bangladesh)))
    np.testing.assert_array_equal(flipped.response, 1 - original.response)


def test_unclear_responses_are_refused_naming_the_values(
    tmp_path: Path, bangladesh: pd.DataFrame
) -> None:
    table = bangladesh.copy()
    table["use_contraception"] = np.where(bangladesh["use_contraception"] == 1, "Y", "N")
    with pytest.raises(DataError) as no_success:
        prepare_data(load_spec(spec_for(tmp_path, table)))
    assert "response 'use_contraception' holds 'N', 'Y'; which one is a success?" in str(
        no_success.value
    ) or "holds 'Y', 'N'" in str(no_success.value)
    assert "success: " in no_success.value.hint
    with pytest.raises(DataError, match=r"success 'yes' is not a value of response"):
        prepare_data(load_spec(spec_for(tmp_path, table, success="yes")))
    table["use_contraception"] = np.where(
        bangladesh["woman"] % 3 == 0, "a", np.where(bangladesh["woman"] % 3 == 1, "b", "c")
    )
    with pytest.raises(DataError, match=r"has 3 different values \('.*'\); likelihood bernoulli"):
        prepare_data(load_spec(spec_for(tmp_path, table, success="a")))
    with pytest.raises(SpecError, match=r"'success'.* applies to likelihood bernoulli only"):
        load_spec(spec_for(tmp_path, bangladesh, likelihood="poisson", link="log", success=1))


def test_words_fit_to_the_same_draws_as_0_1(tmp_path: Path, bangladesh: pd.DataFrame) -> None:
    from hmdiag.workflows.fit import fit

    table = bangladesh.copy()
    table["use_contraception"] = np.where(bangladesh["use_contraception"] == 1, "Y", "N")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        words = fit(load_spec(spec_for(tmp_path / "words", table, success="Y"))).idata
        numbers = fit(load_spec(spec_for(tmp_path, bangladesh))).idata
    for var in ("a_bar", "sigma", "z"):
        np.testing.assert_array_equal(words.posterior[var].values, numbers.posterior[var].values)


def test_successes_over_trials_is_response_plus_trials(tmp_path: Path) -> None:
    from hmdiag.workflows.fit import fit

    raw = pd.read_csv(DATA)
    table = (
        raw[raw["district"].isin([1, 2, 3])]
        .groupby(["district", "urban"], as_index=False)
        .agg(users=("use_contraception", "sum"), women=("use_contraception", "size"))
    )
    short = load_spec(spec_for(tmp_path, table, response="users/women", likelihood=None))
    long = load_spec(
        spec_for(
            tmp_path / "long",
            table,
            response="users",
            trials="women",
            likelihood="binomial",
        )
    )
    assert short.spec.response == "users" and short.spec.trials == "women"
    assert short.spec.likelihood == "binomial"
    assert short.spec.model_dump(exclude={"data"}) == long.spec.model_dump(exclude={"data"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = fit(short).idata, fit(long).idata
    np.testing.assert_array_equal(a.posterior["a_bar"].values, b.posterior["a_bar"].values)
    for changes, message in (
        (
            {"response": "users/women", "trials": "women", "likelihood": None},
            "names the trials column already",
        ),
        ({"response": "users/", "likelihood": None}, "successes/trials, two column names"),
    ):
        with pytest.raises(SpecError, match=message):
            load_spec(spec_for(tmp_path, table, **changes))
    # For other likelihoods a slash is part of a column name.
    poisson = load_spec(
        spec_for(tmp_path, table, response="users/women", likelihood="poisson", link="log")
    )
    assert poisson.spec.response == "users/women" and poisson.spec.trials is None
