"""A catalog of bad inputs driven through the real CLI.

Every case must: exit 2; print one ``error: ...`` line naming the file (and the line, key,
column or flag) that says what would be valid, optionally followed by ``  - `` bullets (a
spec with several problems) and one ``  hint: ...`` line; show no traceback; write no
output file and leave no ``*.tmp`` behind; and fail before anything is sampled.

A case that reached sampling would print hmdiag's "fitting ..." line first: that line is
not allowed, so no case can pass by sampling. A product bug found later is recorded as
``@case(xfail="why")``, which marks it ``xfail(strict=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
import yaml
from typer.testing import CliRunner

from hmdiag.cli import app

runner = CliRunner()


GOOD_CSV = "y,g,x,n\n0,a,1.5,3\n1,a,2.5,3\n1,b,0.5,3\n0,b,1.0,3\n"
BASE: dict[str, Any] = {
    "name": "m",
    "data": {"path": "d.csv"},
    "response": "y",
    "likelihood": "bernoulli",
    "predictors": [{"column": "x"}],
    "groups": [{"factor": "g"}],
    # tiny, so that a case which wrongly reaches the sampler still finishes quickly
    "sampler": {"draws": 20, "tune": 20, "chains": 1, "seed": 1},
}
VALID_TOP_KEYS = (
    "Valid keys here: name, description, data, response, likelihood, model, trials, success, link, "
    "sigma, nu, alpha, offset, intercept, predictors, interactions, groups, sampler, checks."
)


def _snapshot(path: Path) -> Any:
    if path.is_dir():
        return sorted(p.name for p in path.iterdir())
    return path.read_bytes()


class Workspace:
    """A temp folder with a good CSV, and the outputs a case must not write or change."""

    def __init__(self, root: Path, request: pytest.FixtureRequest) -> None:
        self.root = root
        self.request = request
        self.absent: list[Path] = []
        self.kept: dict[Path, Any] = {}
        self.csv(GOOD_CSV)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def csv(self, text: str | bytes, name: str = "d.csv") -> Path:
        return self.write(name, text)

    def spec_text(self, text: str | bytes, name: str = "spec.yaml") -> Path:
        return self.write(name, text)

    def spec(self, drop: tuple[str, ...] = (), **changes: Any) -> Path:
        raw = {k: v for k, v in {**BASE, **changes}.items() if k not in drop}
        return self.spec_text(yaml.safe_dump(raw, sort_keys=False))

    def guard(self, path: Path) -> Path:
        """An output path: must stay absent, or keep its content if it already exists."""
        if path.exists():
            self.kept[path] = _snapshot(path)
        else:
            self.absent.append(path)
        return path

    def fit(self, spec: Path, *flags: Any, out: Path | None = None) -> list[Any]:
        out = self.guard(out or self.root / "out" / "run.nc")
        return ["fit", spec, "--out", out, *flags]

    def doctor(
        self,
        spec: Path,
        *flags: Any,
        out_config: Path | None = None,
        runs_dir: Path | None = None,
    ) -> list[Any]:
        out_config = self.guard(out_config or self.root / "out" / "m.fixed.yaml")
        runs_dir = self.guard(runs_dir or self.root / "out" / "runs")
        return ["doctor", spec, "--out-config", out_config, "--runs-dir", runs_dir, *flags]

    def example(self, name: str = "centered_eight") -> Path:
        """A valid ArviZ run (a copy of one of ArviZ's bundled examples)."""
        return self.request.getfixturevalue("arviz_example")(name)

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Expect:
    """What a case runs and what its single error message must say."""

    args: list[Any]
    says: list[str]
    not_says: list[str] = field(default_factory=list)
    bullets: int = 0  # multi-problem spec errors list one "  - " line per problem
    # A case that legitimately builds the PyMC model may print the "fitting ..." line.
    reaches_pymc: bool = False


Builder = Callable[[Workspace], Expect]
CASES: list[Any] = []


def case(xfail: str | None = None) -> Callable[[Builder], Builder]:
    """Register a builder as a case; its id is the function name with dashes."""

    def register(build: Builder) -> Builder:
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        CASES.append(pytest.param(build, id=build.__name__.replace("_", "-"), marks=marks))
        return build

    return register


# ---------------------------------------------------------------- the spec file itself


@case()
def spec_file_missing(ws: Workspace) -> Expect:
    path = ws.root / "nope.yaml"
    return Expect(
        ws.fit(path),
        [f"{path}: file not found", "hint: pass the path of a YAML spec, e.g. configs/"],
    )


@case()
def spec_is_a_directory(ws: Workspace) -> Expect:
    path = ws.folder("specs.yaml")
    return Expect(ws.fit(path), [f"{path}: is a directory, not a YAML file"])


@case()
def spec_is_dev_zero(ws: Workspace) -> Expect:
    # Reading it would never end: refused before any read.
    return Expect(ws.fit(Path("/dev/zero")), ["/dev/zero: is not a regular file"])


@case()
def spec_empty_file(ws: Workspace) -> Expect:
    path = ws.spec_text("")
    return Expect(
        ws.fit(path),
        [f"{path}: file is empty; a spec needs at least name, data, response and likelihood"],
    )


@case()
def spec_only_comments(ws: Workspace) -> Expect:
    path = ws.spec_text("# a spec will go here\n")
    return Expect(
        ws.fit(path), [f"{path}: top level must be a mapping of keys (name:, data:, ...)"]
    )


@case()
def spec_latin1_not_utf8(ws: Workspace) -> Expect:
    path = ws.spec_text("name: caf\xe9\n".encode("latin-1"))
    return Expect(ws.fit(path), [f"{path}: not UTF-8 text (byte 9); save the file as UTF-8"])


@case()
def spec_utf16_not_utf8(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\n".encode("utf-16"))
    return Expect(ws.fit(path), [f"{path}: not UTF-8 text (byte 0); save the file as UTF-8"])


@case()
def spec_malformed_unclosed_bracket(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\npredictors: [x, y\nresponse: y\n")
    return Expect(ws.fit(path), [f"{path}: invalid YAML: line 3, column ", "expected ',' or ']'"])


@case()
def spec_malformed_tab_indent(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\n\tdata: x\n")
    return Expect(
        ws.fit(path),
        [f"{path}: invalid YAML: line 2, column 1: found character", "cannot start any token"],
    )


@case()
def spec_top_level_list(ws: Workspace) -> Expect:
    path = ws.spec_text("- name: m\n- response: y\n")
    return Expect(
        ws.fit(path),
        [f"{path}: top level must be a mapping of keys (name:, data:, ...), got a list"],
    )


@case()
def spec_top_level_scalar(ws: Workspace) -> Expect:
    path = ws.spec_text("42\n")
    return Expect(ws.fit(path), [f"{path}: top level must be a mapping of keys", "int"])


@case()
def spec_top_level_string(ws: Workspace) -> Expect:
    path = ws.spec_text("just a sentence, not a spec\n")
    return Expect(ws.fit(path), [f"{path}: top level must be a mapping of keys", "str"])


@case()
def spec_duplicate_top_level_key(ws: Workspace) -> Expect:
    path = ws.spec_text("name: a\ndata: {path: d.csv}\nname: b\n")
    return Expect(
        ws.fit(path),
        [f"{path}: invalid YAML: line 3: duplicate key 'name' (first defined on line 1)"],
    )


@case()
def spec_duplicate_nested_key(ws: Workspace) -> Expect:
    text = "name: m\ndata: {path: d.csv}\nresponse: y\nlikelihood: bernoulli\n"
    path = ws.spec_text(text + "sampler:\n  draws: 10\n  draws: 20\n")
    return Expect(
        ws.fit(path),
        [f"{path}: invalid YAML: line 7: duplicate key 'draws' (first defined on line 6)"],
    )


@case()
def spec_python_tag(ws: Workspace) -> Expect:
    path = ws.spec_text("name: !!python/object/apply:os.system ['true']\n")
    return Expect(
        ws.fit(path),
        [f"{path}: invalid YAML: line 1, column 7: could not determine a constructor"],
    )


@case()
def spec_unhashable_key(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\n? [a, b]\n: 1\n")
    return Expect(ws.fit(path), [f"{path}: invalid YAML: line 2", "key"])


@case()
def spec_alias_bomb_over_the_cap(ws: Workspace) -> Expect:
    text = "a: &x [1]\nb: &y [" + ", ".join(["*x"] * 10) + "]\n"
    text += "".join(f"c{i}: [" + ", ".join(["*y"] * 10) + "]\n" for i in range(12))
    path = ws.spec_text(text)
    return Expect(
        ws.fit(path),
        [f"{path}: invalid YAML: more than 100 YAML aliases; refusing a possible alias bomb"],
    )


@case()
def spec_nested_alias_bomb_under_the_cap(ws: Workspace) -> Expect:
    # 9 levels of 9 aliases: 72 aliases (under the cap of 100) that expand to 9**8 leaves.
    # It must be refused by validation at once, without expanding anything.
    levels = ["    l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "name: m\ndata: {path: d.csv}\nresponse: y\nlikelihood: bernoulli\n"
    path = ws.spec_text(text + "description:\n" + "\n".join(levels) + "\n")
    return Expect(ws.fit(path), [f"{path}: description: Input should be a valid string"])


@case()
def spec_oversized_file(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\n" + "# padding padding padding\n" * 40_000)
    size = path.stat().st_size
    assert size > 1_000_000
    return Expect(
        ws.fit(path), [f"{path}: file is {size} bytes; specs are limited to 1000000 bytes"]
    )


# ---------------------------------------------------------------- keys, types, choices


@case()
def spec_unknown_key_did_you_mean(ws: Workspace) -> Expect:
    path = ws.spec(samplr={"draws": 10})
    return Expect(
        ws.fit(path), [f"{path}: samplr: unknown key; did you mean 'sampler'?", VALID_TOP_KEYS]
    )


@case()
def spec_unknown_nested_key_did_you_mean(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"target_acept": 0.9})
    return Expect(
        ws.fit(path),
        [
            f"{path}: sampler.target_acept: unknown key; did you mean 'target_accept'?",
            "Valid keys here: backend, draws, tune, chains, cores, target_accept",
        ],
    )


@case()
def spec_unknown_group_key_did_you_mean(ws: Workspace) -> Expect:
    path = ws.spec(groups=[{"factor": "g", "parametrization": "non_centered"}])
    return Expect(
        ws.fit(path),
        [
            f"{path}: groups[0].parametrization: unknown key; did you mean 'parameterization'?",
            "Valid keys here: factor, name, pooling, parameterization",
        ],
    )


@case()
def spec_unknown_key_without_close_match(ws: Workspace) -> Expect:
    path = ws.spec(zzzz=1)
    return Expect(ws.fit(path), [f"{path}: zzzz: unknown key", VALID_TOP_KEYS])


@case()
def spec_missing_required_keys(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\n")
    return Expect(
        ws.fit(path),
        [
            f"{path}: 3 problems",
            "  - data: required key is missing",
            "  - response: required key is missing",
            "  - likelihood: required key is missing",
        ],
        bullets=3,
    )


@case()
def spec_non_string_key(ws: Workspace) -> Expect:
    path = ws.spec_text("1: x\nname: m\ndata: {path: d.csv}\nresponse: y\nlikelihood: bernoulli\n")
    return Expect(ws.fit(path), [f"{path}: ", "Keys should be strings, got 1"])


@case()
def spec_wrong_type_draws(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"draws": "many"})
    return Expect(
        ws.fit(path), [f"{path}: sampler.draws: Input should be a valid integer", "got 'many'"]
    )


@case()
def spec_wrong_type_predictors_not_a_list(ws: Workspace) -> Expect:
    path = ws.spec(predictors="x")
    return Expect(ws.fit(path), [f"{path}: predictors: Input should be a valid list, got 'x'"])


@case()
def spec_wrong_type_data_not_a_mapping(ws: Workspace) -> Expect:
    path = ws.spec(data="d.csv")
    return Expect(
        ws.fit(path), [f"{path}: data: Input should be a valid dictionary", "got 'd.csv'"]
    )


@case()
def spec_wrong_type_drop_missing(ws: Workspace) -> Expect:
    path = ws.spec(data={"path": "d.csv", "drop_missing": "maybe"})
    return Expect(
        ws.fit(path),
        [f"{path}: data.drop_missing: Input should be a valid boolean", "got 'maybe'"],
    )


@case()
def spec_wrong_type_trials_fraction(ws: Workspace) -> Expect:
    path = ws.spec(likelihood="binomial", trials=2.5)
    return Expect(
        ws.fit(path),
        [f"{path}: trials: ", "2.5", "column name or a whole number"],
        not_says=["trials.str", "trials.int"],
    )


@case()
def spec_wrong_type_name(ws: Workspace) -> Expect:
    path = ws.spec(name="my model")
    return Expect(
        ws.fit(path),
        [f"{path}: name: 'my model' is not a valid parameter name: use letters, digits and _"],
    )


@case()
def spec_unknown_likelihood(ws: Workspace) -> Expect:
    path = ws.spec(likelihood="gamma")
    return Expect(
        ws.fit(path),
        [
            f"{path}: likelihood: 'gamma' is not supported; must be one of: bernoulli, binomial, "
            "poisson, negative_binomial, normal, student_t"
        ],
    )


@case()
def spec_link_does_not_fit_likelihood(ws: Workspace) -> Expect:
    path = ws.spec(likelihood="poisson", link="logit")
    return Expect(
        ws.fit(path),
        [f"{path}: link 'logit' does not fit likelihood poisson; use one of: log, identity"],
    )


@case()
def spec_zero_sum_effects_without_partial_pooling(ws: Workspace) -> Expect:
    path = ws.spec(groups=[{"factor": "g", "pooling": "none", "effects": "zero_sum"}])
    return Expect(
        ws.fit(path),
        [f"{path}: groups[0]: effects: zero_sum needs pooling: partial", "use effects: normal"],
    )


@case()
def spec_low_rank_mass_matrix_with_pymc(ws: Workspace) -> Expect:
    path = ws.spec(sampler={**BASE["sampler"], "backend": "pymc", "mass_matrix": "low_rank"})
    return Expect(
        ws.fit(path),
        [
            f"{path}: sampler: mass_matrix 'low_rank' is not available with backend pymc; "
            "it works with backend nutpie"
        ],
    )


@case()
def flag_backend_rules_out_the_spec_mass_matrix(ws: Workspace) -> Expect:
    path = ws.spec(sampler={**BASE["sampler"], "backend": "nutpie", "mass_matrix": "low_rank"})
    return Expect(
        ws.fit(path, "--backend", "numpyro"),
        ["command line: sampler: mass_matrix 'low_rank' is not available with backend numpyro"],
    )


@case()
def spec_normal_without_sigma(ws: Workspace) -> Expect:
    path = ws.spec(likelihood="normal")
    return Expect(ws.fit(path), [f"{path}: likelihood normal needs 'sigma'", "sigma: {column: se}"])


@case()
def spec_unknown_link_did_you_mean(ws: Workspace) -> Expect:
    path = ws.spec(link="logt")
    return Expect(
        ws.fit(path),
        [
            f"{path}: link: 'logt' is not supported (did you mean 'logit'?); "
            "must be one of: logit, probit, cloglog, log, identity"
        ],
    )


@case()
def spec_unknown_prior_family(ws: Workspace) -> Expect:
    path = ws.spec(intercept={"prior": "wide(1)"})
    return Expect(
        ws.fit(path),
        [
            f"{path}: intercept.prior: unknown prior family 'wide'; must be one of: normal, "
            "student_t, cauchy, halfnormal"
        ],
    )


@case()
def spec_prior_negative_scale(ws: Workspace) -> Expect:
    path = ws.spec(groups=[{"factor": "g", "scale": {"prior": "halfnormal(-1)"}}])
    return Expect(
        ws.fit(path),
        [f"{path}: groups[0].scale.prior: argument sigma of halfnormal must be > 0, got -1"],
    )


@case()
def spec_prior_non_numeric_argument(ws: Workspace) -> Expect:
    path = ws.spec(intercept={"prior": "normal(0, big)"})
    return Expect(
        ws.fit(path),
        [f"{path}: intercept.prior: argument sigma of normal must be a number, got 'big'"],
    )


@case()
def spec_prior_wrong_number_of_arguments(ws: Workspace) -> Expect:
    path = ws.spec(predictors=[{"column": "x", "prior": "normal(0)"}])
    return Expect(
        ws.fit(path),
        [f"{path}: predictors[0].prior: normal takes 2 argument(s), normal(mu, sigma); got 1"],
    )


@case()
def spec_prior_not_a_string(ws: Workspace) -> Expect:
    path = ws.spec(intercept={"prior": 5})
    return Expect(
        ws.fit(path),
        [f"{path}: intercept.prior: a prior must be a string like 'normal(0, 1.5)', got 5"],
    )


@case()
def spec_group_scale_prior_not_positive(ws: Workspace) -> Expect:
    path = ws.spec(groups=[{"factor": "g", "scale": {"prior": "normal(0, 1)"}}])
    return Expect(
        ws.fit(path),
        [
            f"{path}: groups[0].scale.prior: a group scale needs a prior on positive values",
            "use halfnormal, halfcauchy",
        ],
    )


@case()
def spec_binomial_without_trials(ws: Workspace) -> Expect:
    path = ws.spec(likelihood="binomial")
    return Expect(
        ws.fit(path),
        [f"{path}: ", "likelihood binomial needs 'trials': a column name or a whole number"],
    )


# ---------------------------------------------------------------- absurd sampler settings


@case()
def spec_target_accept_one(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"target_accept": 1.0})
    return Expect(
        ws.fit(path), [f"{path}: sampler.target_accept: Input should be less than 1, got 1.0"]
    )


@case()
def spec_target_accept_zero(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"target_accept": 0})
    return Expect(
        ws.fit(path), [f"{path}: sampler.target_accept: Input should be greater than 0, got 0"]
    )


@case()
def spec_draws_zero(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"draws": 0})
    return Expect(
        ws.fit(path),
        [f"{path}: sampler.draws: Input should be greater than or equal to 1, got 0"],
    )


@case()
def spec_chains_zero(ws: Workspace) -> Expect:
    path = ws.spec(sampler={"chains": 0})
    return Expect(
        ws.fit(path),
        [f"{path}: sampler.chains: Input should be greater than or equal to 1, got 0"],
    )


@case()
def flag_target_accept_one(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--target-accept", "1.0"),
        ["command line: --target-accept: Input should be less than 1, got 1.0"],
    )


@case()
def flag_target_accept_negative(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--target-accept", "-0.5"),
        ["command line: --target-accept: Input should be greater than 0, got -0.5"],
    )


@case()
def flag_unknown_backend(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--backend", "stan"),
        [
            "command line: --backend: 'stan' is not supported; must be one of: pymc, nutpie, numpyro, blackjax"
        ],
    )


@case()
def doctor_unknown_backend(ws: Workspace) -> Expect:
    return Expect(
        ws.doctor(ws.spec(), "--backend", "jags"),
        [
            "command line: --backend: 'jags' is not supported; must be one of: pymc, nutpie, numpyro, blackjax"
        ],
    )


@case()
def flag_draws_zero(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--draws", "0"),
        ["command line: --draws: Input should be greater than or equal to 1, got 0"],
    )


@case()
def flag_chains_zero(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--chains", "0"),
        ["command line: --chains: Input should be greater than or equal to 1, got 0"],
    )


@case()
def flag_draws_and_chains_zero(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--draws", "0", "--chains", "0"),
        [
            "command line: 2 problems",
            "  - --draws: Input should be greater than or equal to 1, got 0",
            "  - --chains: Input should be greater than or equal to 1, got 0",
        ],
        bullets=2,
    )


@case()
def flag_fit_max_rhat_below_one(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(), "--max-rhat", "0.5"), ["--max-rhat must be greater than 1, got 0.5"]
    )


# ---------------------------------------------------------------- the data file


@case()
def data_file_missing(ws: Workspace) -> Expect:
    path = ws.spec(data={"path": "nope/d.csv"})
    return Expect(
        ws.fit(path),
        [
            f"{ws.root / 'nope' / 'd.csv'}: data file not found",
            "hint: data.path is resolved relative to the spec file",
        ],
    )


@case()
def data_binary_garbage(ws: Workspace) -> Expect:
    data = ws.csv(bytes(range(256)) * 8, name="garbage.csv")
    return Expect(
        ws.fit(ws.spec(data={"path": "garbage.csv"})),
        [f"{data}: not UTF-8 text; save the CSV as UTF-8"],
    )


@case()
def data_latin1_not_utf8(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x\n0,caf\xe9,1\n1,b,2\n".encode("latin-1"), name="latin1.csv")
    return Expect(
        ws.fit(ws.spec(data={"path": "latin1.csv"})),
        [f"{data}: not UTF-8 text; save the CSV as UTF-8"],
    )


@case()
def data_is_a_directory(ws: Workspace) -> Expect:
    data = ws.folder("tables")
    return Expect(
        ws.fit(ws.spec(data={"path": "tables"})), [f"{data}: is a directory, not a CSV file"]
    )


@case()
def data_path_is_dev_zero(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(data={"path": "/dev/zero"})),
        ["/dev/zero: is not a regular file (a device, pipe or socket)", "data.path must name"],
    )


@case()
def data_path_is_a_fifo(ws: Workspace) -> Expect:
    import os

    fifo = ws.root / "rows.csv"
    os.mkfifo(fifo)
    return Expect(ws.fit(ws.spec(data={"path": "rows.csv"})), [f"{fifo}: is not a regular file"])


@case()
def data_empty_file(ws: Workspace) -> Expect:
    data = ws.csv("")
    return Expect(ws.fit(ws.spec()), [f"{data}: the CSV file is empty"])


@case()
def data_header_only(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n")
    return Expect(ws.fit(ws.spec()), [f"{data}: the CSV has a header but no rows"])


@case()
def data_ragged_rows(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n0,a,1,3\n1,a,2,3,4,5\n")
    return Expect(
        ws.fit(ws.spec()),
        [f"{data}: cannot read as CSV: ", "Expected 4 fields in line 3, saw 6"],
    )


@case()
def data_missing_response_column(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(response="yy")),
        [
            f"{ws.root / 'd.csv'}: column 'yy' (response) is not in the file",
            "hint: did you mean 'y'? columns are: y, g, x, n",
        ],
    )


@case()
def data_missing_group_column(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(groups=[{"factor": "district"}])),
        [
            f"{ws.root / 'd.csv'}: column 'district' (groups[0].factor) is not in the file",
            "hint: columns are: y, g, x, n",
        ],
    )


@case()
def data_missing_trials_column(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(likelihood="binomial", trials="nn")),
        [
            f"{ws.root / 'd.csv'}: column 'nn' (trials) is not in the file",
            "did you mean 'n'?",
        ],
    )


@case()
def data_filter_unknown_column(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(data={"path": "d.csv", "where": {"district": [1]}})),
        [
            f"{ws.root / 'd.csv'}: data.where names column 'district', which is not in the file",
            "hint: columns are: y, g, x, n",
        ],
    )


@case()
def data_filter_leaves_no_rows(ws: Workspace) -> Expect:
    return Expect(
        ws.fit(ws.spec(data={"path": "d.csv", "where": {"g": ["zz"]}})),
        [
            f"{ws.root / 'd.csv'}: the filter data.where {{'g': ['zz']}} leaves no rows",
            "hint: check the values against the column's contents",
        ],
    )


@case()
def data_empty_cells_in_used_columns(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n0,a,1.5,3\n,a,2.5,3\n1,b,NA,3\n0,b,1.0,3\n")
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: 2 row(s) have missing values (y: 1 missing; x: 1 missing), at lines 3, 4",
            "hint: fill them in, or set data.drop_missing: true to drop those rows",
        ],
    )


@case()
def data_many_missing_rows_listed_briefly(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n" + "".join(f",{'ab'[i % 2]},1,3\n" for i in range(8)))
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: 8 row(s) have missing values (y: 8 missing), "
            "at lines 2, 3, 4, 5, 6 and 3 more",
            "data.drop_missing: true",
        ],
    )


@case()
def data_empty_cell_after_a_blank_line(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n0,a,1.5,3\n\n,a,2.5,3\n1,b,0.5,3\n0,b,1.0,3\n")
    return Expect(
        ws.fit(ws.spec()),
        [f"{data}: 1 row(s) have missing values (y: 1 missing), at lines 4"],
    )


@case()
def data_drop_missing_drops_every_row(ws: Workspace) -> Expect:
    data = ws.csv("y,g,x,n\n,a,1,3\n,b,2,3\n")
    return Expect(
        ws.fit(ws.spec(data={"path": "d.csv", "drop_missing": True})),
        [f"{data}: every row has a missing value in y, x, g"],
    )


@case()
def data_bernoulli_response_not_0_1(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5", "2,b,0.5"))
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: response 'y' must be 0 or 1 for likelihood bernoulli; "
            "1 value(s) are not (e.g. 2 at line 4)",
            "hint: recode the column as 0/1, or use likelihood: binomial with trials",
        ],
    )


@case()
def data_bernoulli_response_fraction(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5", "0.5,b,0.5"))
    return Expect(
        ws.fit(ws.spec()),
        [f"{data}: response 'y' must be 0 or 1 for likelihood bernoulli", "0.5 at line 4"],
    )


@case()
def data_binomial_successes_exceed_trials(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5,3", "5,b,0.5,3"))
    return Expect(
        ws.fit(ws.spec(likelihood="binomial", trials="n")),
        [f"{data}: response 'y' exceeds trials in 1 row(s) (lines 4)", "<= trials"],
    )


@case()
def data_binomial_negative_count(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5", "-1,b,0.5"))
    return Expect(
        ws.fit(ws.spec(likelihood="binomial", trials=3)),
        [f"{data}: response 'y' must hold whole numbers >= 0 for likelihood binomial", "line 4"],
    )


@case()
def data_binomial_zero_trials(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5,3", "0,b,0.5,0"))
    return Expect(
        ws.fit(ws.spec(likelihood="binomial", trials="n")),
        [f"{data}: trials (column 'n') must be whole numbers >= 1", "(line 4)"],
    )


@case()
def data_group_with_one_level(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("b", "a"))
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: grouping factor 'g' has a single level ('a') after filtering",
            "hint: a group term needs at least 2 levels",
        ],
    )


@case()
def data_non_numeric_predictor(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("2.5", "high"))
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: predictor column 'x' must be numeric; 1 value(s) are not "
            "(e.g. 'high' at line 3)"
        ],
    )


@case()
def data_non_numeric_response(ws: Workspace) -> Expect:
    # bernoulli: a word among 0/1 makes three values; the message lists them and the ways out.
    data = ws.csv(GOOD_CSV.replace("1,a,2.5", "yes,a,2.5"))
    return Expect(
        ws.fit(ws.spec()),
        [
            f"{data}: response 'y' has 3 different values ('0', 'yes', '1'); likelihood "
            "bernoulli needs two (0/1, true/false, yes/no, or two values with success:)"
        ],
    )


@case()
def data_trials_infinite(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("1,b,0.5,3", "1,b,0.5,inf"))
    return Expect(
        ws.fit(ws.spec(likelihood="binomial", trials="n")),
        [f"{data}: ", "'n'", "line 4"],
    )


# ---------------------------------------------------------------- output paths


@case()
def out_parent_is_a_regular_file(ws: Workspace) -> Expect:
    blocker = ws.write("notes.txt", "a file, not a folder")
    ws.guard(blocker)
    out = blocker / "run.nc"
    return Expect(ws.fit(ws.spec(), out=out), [f"{out}: ", f"{blocker}", "is a file"])


@case()
def out_is_an_existing_directory(ws: Workspace) -> Expect:
    out = ws.folder("runs")
    return Expect(
        ws.fit(ws.spec(), "--force", out=out),
        [f"{out}: is a directory; --out needs a file path"],
    )


@case()
def out_exists_without_force(ws: Workspace) -> Expect:
    out = ws.write("old.nc", "precious")
    return Expect(
        ws.fit(ws.spec(), out=out),
        [
            f"{out}: already exists; refusing to overwrite",
            "hint: pass --force to replace it, or choose another --out",
        ],
    )


@case()
def out_in_missing_folder_is_fine_data_error_wins(ws: Workspace) -> Expect:
    # A missing-but-creatable --out folder is not an error: the error reported is the data's,
    # and the folder is not created for a run that never happens.
    ws.guard(ws.root / "new")
    out = ws.root / "new" / "deeper" / "run.nc"
    spec = ws.spec(data={"path": "d.csv", "where": {"g": ["zz"]}})
    return Expect(
        ws.fit(spec, out=out),
        [f"{ws.root / 'd.csv'}: the filter data.where {{'g': ['zz']}} leaves no rows"],
        not_says=[str(out)],
    )


@case()
def doctor_bad_spec(ws: Workspace) -> Expect:
    path = ws.spec_text("name: m\nlikelihod: bernoulli\n")
    return Expect(
        ws.doctor(path),
        [f"{path}: 4 problems", "  - likelihod: unknown key; did you mean 'likelihood'?"],
        bullets=4,
    )


@case()
def doctor_max_attempts_zero(ws: Workspace) -> Expect:
    return Expect(
        ws.doctor(ws.spec(), "--max-attempts", "0"),
        ["--max-attempts must be between 1 and 10, got 0"],
    )


@case()
def doctor_bad_data_writes_nothing(ws: Workspace) -> Expect:
    ws.guard(ws.root / "out")
    return Expect(
        ws.doctor(ws.spec(response="yy")),
        [f"{ws.root / 'd.csv'}: column 'yy' (response) is not in the file"],
    )


@case()
def doctor_out_config_exists_without_force(ws: Workspace) -> Expect:
    fixed = ws.write("m.fixed.yaml", "name: precious\n")
    return Expect(
        ws.doctor(ws.spec(), out_config=fixed),
        [f"{fixed}: already exists; refusing to overwrite", "--force"],
    )


@case()
def doctor_out_config_is_a_directory(ws: Workspace) -> Expect:
    fixed = ws.folder("fixed")
    return Expect(
        ws.doctor(ws.spec(), out_config=fixed), [f"{fixed}: is a directory", "--out-config"]
    )


# ---------------------------------------------------------------- hmdiag check


@case()
def check_missing_file(ws: Workspace) -> Expect:
    path = ws.root / "nope.nc"
    return Expect(
        ["check", path],
        [
            f"{path}: file not found",
            "hint: pass an ArviZ run: NetCDF (hmdiag fit, DataTree.to_netcdf, az.to_netcdf in ArviZ 0.x), a zarr store",
        ],
    )


@case()
def check_truncated_netcdf(ws: Workspace) -> Expect:
    source = ws.example().read_bytes()
    path = ws.write("truncated.nc", source[: len(source) // 2])
    return Expect(
        ["check", path],
        [f"{path}: cannot read as an ArviZ run (truncated or damaged?)", "truncated file"],
    )


@case()
def check_text_file(ws: Workspace) -> Expect:
    path = ws.write("notes.nc", "these are notes, not a run\n")
    return Expect(
        ["check", path],
        [
            f"{path}: not a NetCDF file",
            "hint: pass an ArviZ run: NetCDF (hmdiag fit, DataTree.to_netcdf, az.to_netcdf in ArviZ 0.x), a zarr store",
        ],
    )


@case()
def check_plain_netcdf_dataset(ws: Workspace) -> Expect:
    import numpy as np
    import xarray as xr

    path = ws.root / "plain.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    return Expect(
        ["check", path],
        [f"{path}: has no posterior group (found: no groups)", "hint: save the run with"],
    )


@case()
def check_inference_data_without_posterior(ws: Workspace) -> Expect:
    import arviz as az

    idata = az.from_netcdf(ws.example())
    path = ws.root / "stats-only.nc"
    xr.DataTree.from_dict({"sample_stats": idata["sample_stats"].to_dataset()}).to_netcdf(str(path))
    return Expect(["check", path], [f"{path}: has no posterior group (found: sample_stats)"])


@case()
def check_empty_file(ws: Workspace) -> Expect:
    path = ws.write("empty.nc", b"")
    return Expect(["check", path], [f"{path}: the file is empty", "DataTree.to_netcdf"])


@case()
def check_dev_zero(ws: Workspace) -> Expect:
    return Expect(["check", Path("/dev/zero")], ["/dev/zero: is not a regular file"])


@case()
def check_directory(ws: Workspace) -> Expect:
    path = ws.folder("run.nc")
    return Expect(
        ["check", path],
        [f"{path}: is a directory, but neither a zarr store nor a folder of CmdStan CSV files"],
    )


@case()
def check_max_rhat_below_one(ws: Workspace) -> Expect:
    return Expect(
        ["check", ws.example(), "--max-rhat", "0.5"],
        ["--max-rhat must be greater than 1, got 0.5"],
    )


@case()
def check_min_ess_negative(ws: Workspace) -> Expect:
    return Expect(["check", ws.example(), "--min-ess", "-1"], ["--min-ess must be >= 0, got -1"])


@case()
def check_min_bfmi_negative(ws: Workspace) -> Expect:
    return Expect(
        ["check", ws.example(), "--min-bfmi", "-0.1"], ["--min-bfmi must be >= 0, got -0.1"]
    )


@case()
def check_hdi_prob_above_one(ws: Workspace) -> Expect:
    return Expect(
        ["check", ws.example(), "--hdi-prob", "1.5"],
        ["--hdi-prob must be between 0 and 1, got 1.5"],
    )


@case()
def check_hdi_prob_zero(ws: Workspace) -> Expect:
    return Expect(
        ["check", ws.example(), "--hdi-prob", "0"],
        ["--hdi-prob must be between 0 and 1, got 0"],
    )


@case()
def check_max_rhat_nan(ws: Workspace) -> Expect:
    return Expect(["check", ws.example(), "--max-rhat", "nan"], ["--max-rhat", "nan"])


@case()
def check_var_typo(ws: Workspace) -> Expect:
    run = ws.example()
    return Expect(["check", run, "--var", "tua"], [f"{run.stem}", "tua", "mu, theta, tau"])


# ---------------------------------------------------------------- plot, compare, report


@case()
def plot_unknown_kind(ws: Workspace) -> Expect:
    out = ws.guard(ws.root / "plots")
    return Expect(
        ["plot", ws.example(), "--kind", "histogram", "--out", out],
        [
            "--kind 'histogram' is not a plot kind",
            "hint: choose from: trace, rank, pair, energy, autocorr, ppc, forest, ess, all",
        ],
    )


@case()
def plot_out_is_a_file(ws: Workspace) -> Expect:
    out = ws.guard(ws.write("plots", "a file"))
    return Expect(
        ["plot", ws.example(), "--kind", "trace", "--out", out],
        [f"{out}: is a file; --out needs a folder"],
    )


@case()
def compare_one_run(ws: Workspace) -> Expect:
    return Expect(
        ["compare", ws.example()],
        [
            "compare needs at least two runs",
            "hint: e.g. hmdiag compare runs/mme0.nc runs/mme4.nc",
        ],
    )


@case()
def compare_second_run_missing(ws: Workspace) -> Expect:
    missing = ws.root / "nope.nc"
    return Expect(["compare", ws.example(), missing], [f"{missing}: file not found"])


@case()
def report_out_is_a_directory(ws: Workspace) -> Expect:
    out = ws.folder("report.html")
    ws.guard(out)
    return Expect(
        ["report", ws.example(), "--out", out],
        [f"{out}: is a directory; --out needs a file path"],
    )


@case()
def validate_bad_data(ws: Workspace) -> Expect:
    return Expect(
        ["validate", ws.spec(groups=[{"factor": "grp"}])],
        [f"{ws.root / 'd.csv'}: column 'grp' (groups[0].factor) is not in the file"],
    )


# ------------------------------------------- extra: failures only PyMC can see (reach PyMC)


@case()
def init_failure_denormal_prior_scale(ws: Workspace) -> Expect:
    # normal(0, 1e-320) is > 0 but its log-density is not finite: refused by the grammar, before PyMC.
    path = ws.spec(intercept={"prior": "normal(0, 1e-320)"})
    return Expect(
        ws.fit(path),
        [
            f"{path}: intercept.prior: argument sigma of normal is too small to compute with",
            "use at least 1e-100",
        ],
    )


@case()
def init_failure_infinite_predictor(ws: Workspace) -> Expect:
    data = ws.csv(GOOD_CSV.replace("2.5", "inf"))
    return Expect(
        ws.fit(ws.spec()),
        [f"{data}: ", "'x'", "line 3"],
    )


# ---------------------------------------------------------------- the test


def _check_format(output: str, expect: Expect) -> None:
    lines = output.rstrip("\n").splitlines()
    if expect.reaches_pymc and lines and lines[0].startswith("fitting "):
        lines = lines[1:]
    assert lines, "no output"
    assert lines[0].startswith("error: "), output
    rest = lines[1:]
    bullets = [line for line in rest if line.startswith("  - ")]
    hints = [line for line in rest if line.startswith("  hint: ")]
    assert len(bullets) == expect.bullets, output
    assert len(hints) <= 1, output
    assert rest == bullets + hints, f"unexpected lines in:\n{output}"


@pytest.mark.parametrize("build", CASES)
def test_bad_input(build: Builder, tmp_path: Path, request: pytest.FixtureRequest, az: Any) -> None:
    """``az`` imports ArviZ outside the runner, so its logger never binds a runner stream."""
    ws = Workspace(tmp_path, request)
    expect = build(ws)
    if expect.reaches_pymc:
        from hmdiag import _lazy

        _lazy.pymc()  # import outside the runner

    result = runner.invoke(app, [str(a) for a in expect.args])
    output = result.output

    assert "Traceback" not in output, output
    assert result.exit_code == 2, f"exit {result.exit_code}:\n{output}"
    _check_format(output, expect)
    for text in expect.says:
        assert text in output, f"{text!r} not in:\n{output}"
    for text in expect.not_says:
        assert text not in output, f"{text!r} in:\n{output}"
    for path in ws.absent:
        assert not path.exists(), f"{path} was written"
    for path, before in ws.kept.items():
        assert _snapshot(path) == before, f"{path} was changed"
    assert not list(tmp_path.rglob("*.tmp")), "a temp file was left behind"


def test_catalog_is_large_enough() -> None:
    assert len(CASES) >= 45
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))
