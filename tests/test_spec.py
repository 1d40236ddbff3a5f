"""Spec loading and validation: the Bangladesh configs, and every error naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hmdiag.errors import SpecError
from hmdiag.spec import load_spec, spec_to_yaml, validate_spec, with_sampler_overrides

from .conftest import CONFIGS

BASE = {
    "name": "m",
    "data": {"path": "d.csv"},
    "response": "y",
    "likelihood": "bernoulli",
}


def errors_of(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(raw, "spec.yaml")
    return info.value.problems


@pytest.mark.parametrize("name", ["mfe", "mme0", "mme1", "mme2", "mme3", "mme3b", "mme4"])
def test_bangladesh_configs_load(name: str) -> None:
    loaded = load_spec(CONFIGS / f"{name}.yaml")
    spec = loaded.spec
    assert spec.name == name
    assert loaded.data_path.name == "bangladesh.csv" and loaded.data_path.exists()
    assert spec.data.where == {"district": [1, 2, 3]}
    assert (spec.sampler.draws, spec.sampler.tune, spec.sampler.chains) == (1000, 1000, 4)


def test_bangladesh_story_settings() -> None:
    specs = {
        n: load_spec(CONFIGS / f"{n}.yaml").spec
        for n in ["mfe", "mme0", "mme1", "mme2", "mme3", "mme3b", "mme4"]
    }
    assert specs["mfe"].intercept is None and specs["mfe"].groups[0].pooling == "none"
    assert [
        specs[n].sampler.target_accept for n in ["mme0", "mme1", "mme2", "mme3", "mme3b", "mme4"]
    ] == [
        0.8,
        0.9,
        0.99,
        0.99,
        0.99,
        0.99,
    ]
    assert [str(specs[n].groups[0].scale.prior) for n in ["mme0", "mme3", "mme3b", "mme4"]] == [
        "exponential(1)",
        "halfnormal(0.25)",
        "halfnormal(0.1)",
        "halfnormal(0.5)",
    ]
    mme4 = specs["mme4"]
    assert mme4.groups[0].parameterization == "non_centered"
    assert mme4.parameter_names() == ["a_bar", "a", "sigma", "z"]


def test_unknown_key_suggests_the_close_one() -> None:
    problems = errors_of({**BASE, "likelihod": "bernoulli"})
    assert any("likelihod: unknown key; did you mean 'likelihood'?" in p for p in problems)


def test_nested_unknown_key_lists_valid_keys() -> None:
    problems = errors_of({**BASE, "sampler": {"draw": 10}})
    assert problems == [
        "sampler.draw: unknown key; did you mean 'draws'? Valid keys here: backend, draws, tune, chains, "
        "cores, target_accept, max_treedepth, seed, mass_matrix."
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"likelihood": "poison"},
            "likelihood: 'poison' is not supported (did you mean 'poisson'?); must be one of: bernoulli, binomial, poisson, negative_binomial, normal, student_t",
        ),
        (
            {"link": "logt"},
            "link: 'logt' is not supported (did you mean 'logit'?); must be one of: logit, probit",
        ),
        (
            {"sampler": {"target_accept": 1.0}},
            "sampler.target_accept: Input should be less than 1, got 1.0",
        ),
        (
            {"sampler": {"target_accept": 0}},
            "sampler.target_accept: Input should be greater than 0, got 0",
        ),
        (
            {"sampler": {"draws": 0}},
            "sampler.draws: Input should be greater than or equal to 1, got 0",
        ),
        (
            {"sampler": {"chains": 0}},
            "sampler.chains: Input should be greater than or equal to 1, got 0",
        ),
        (
            {"intercept": {"prior": "normal(0, -2)"}},
            "intercept.prior: argument sigma of normal must be > 0, got -2",
        ),
        ({"intercept": {"prior": "wide(1)"}}, "intercept.prior: unknown prior family 'wide'"),
        (
            {"groups": [{"factor": "g", "scale": {"prior": "normal(0, 1)"}}]},
            "groups[0].scale.prior: a group scale needs a prior on positive values",
        ),
        (
            {"groups": [{"factor": "g", "pooling": "some"}]},
            "groups[0].pooling: 'some' is not supported; must be one of: none, partial",
        ),
        ({"likelihood": "binomial"}, "likelihood binomial needs 'trials'"),
        ({"name": "my model"}, "name: 'my model' is not a valid parameter name"),
        (
            {"groups": [{"factor": "g", "name": "a"}, {"factor": "h", "name": "a"}]},
            "parameter names must be unique; used twice: a",
        ),
    ],
)
def test_invalid_values_name_key_and_valid_choices(change: dict, expected: str) -> None:
    problems = errors_of({**BASE, **change})
    assert any(expected in p for p in problems), problems


def test_missing_required_keys_are_listed() -> None:
    problems = errors_of({"name": "m"})
    assert problems == [
        "data: required key is missing",
        "response: required key is missing",
        "likelihood: required key is missing",
    ]


def test_intercept_false_drops_it() -> None:
    spec = validate_spec({**BASE, "intercept": False}, "s")
    assert spec.intercept is None
    assert validate_spec({**BASE, "intercept": True}, "s").intercept.name == "intercept"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("name: [unclosed\n", "invalid YAML: line"),
        ("- a\n- b\n", "top level must be a mapping of keys (name:, data:, ...), got a list"),
        ("42\n", "got a int"),
        ("name: a\nname: b\n", "line 2: duplicate key 'name' (first defined on line 1)"),
        ("name: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
        (
            "a: &x [1]\nb: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\n"
            + "".join(f"c{i}: [*y, *y, *y, *y, *y, *y, *y, *y, *y, *y]\n" for i in range(12)),
            "alias bomb",
        ),
    ],
)
def test_bad_yaml_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_overrides_are_validated_and_recorded() -> None:
    loaded = load_spec(CONFIGS / "mme0.yaml")
    changed = with_sampler_overrides(loaded, target_accept=0.95, draws=None)
    assert changed.spec.sampler.target_accept == 0.95
    assert changed.spec.sampler.draws == 1000
    assert "target_accept: 0.95" in changed.text
    with pytest.raises(SpecError, match="--target-accept: Input should be less than 1"):
        with_sampler_overrides(loaded, target_accept=1.5)


@pytest.mark.parametrize("name", ["mfe", "mme0", "mme4"])
def test_spec_round_trips_through_yaml(name: str) -> None:
    import yaml

    spec = load_spec(CONFIGS / f"{name}.yaml").spec
    again = validate_spec(yaml.safe_load(spec_to_yaml(spec)), "again")
    assert again == spec


def test_overrides_keep_a_dropped_intercept() -> None:
    changed = with_sampler_overrides(load_spec(CONFIGS / "mfe.yaml"), draws=50)
    assert changed.spec.intercept is None and changed.spec.sampler.draws == 50


def test_readme_spec_reference_is_a_valid_spec() -> None:
    """The annotated spec in README.md validates as written (docs that cannot drift)."""
    import re

    readme = (CONFIGS.parents[1] / "README.md").read_text()
    section = readme[readme.index("## Spec reference") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    raw = yaml.safe_load(block)
    spec = validate_spec(raw, "README.md")
    assert spec.groups[0].slopes[0].column == "urban"
    assert spec.sampler.backend == "nutpie" and spec.link == "logit"
