"""Runs that other people made with other tools, read right (issue 23).

Every file under ``tests/fixtures/foreign/`` is a real CmdStan output file from a public
repository (its README gives the repository, commit and path), or cut from one. Each number
hmdiag reports is compared with a count made here from the CSV columns, without hmdiag: the
rows are split at CmdStan's ``# Adaptation terminated`` comment, divergences and tree-depth hits
are sums of ``divergent__`` and ``treedepth__ >= max_depth``, E-BFMI is Betancourt's (2016)
formula, and R-hat and ESS come from arviz-stats on the raw columns (a single chain's split
R-hat from its two halves, as Stan computes it; R's ``posterior`` package for the CmdStan 1.3
run).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hmdiag.cli import app

FOREIGN = Path(__file__).parent / "fixtures" / "foreign"
SCHEMAS = Path(__file__).parents[1] / "src" / "hmdiag" / "schemas"
READABLE = [
    "bern_warmup",
    "bern_thin_warmup",
    "fixed_param",
    "no_param_hmc",
    "blocker_stan13",
    "mix_2ch",
    "corr_gauss_depth8",
    "bernoulli_ppc",
]
runner = CliRunner()


# --- the independent count -------------------------------------------------------------------


def read_chain(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    """(config, columns, post-warmup rows) of one Stan CSV file, by the csv module."""
    config: dict[str, str] = {}
    columns: list[str] = []
    warmup: list[list[float]] = []
    draws: list[list[float]] = []
    adapted = False
    with path.open() as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            if row[0].startswith("#"):
                text = ",".join(row)
                adapted = adapted or "Adaptation terminated" in text
                if "=" in text:
                    key, value = text.lstrip("# ").split("=", 1)
                    config.setdefault(key.strip(), value.replace("(Default)", "").strip())
                continue
            if not columns:
                columns = row
                continue
            values = [float(v) for v in row]
            saved_warmup = config.get("save_warmup") in ("1", "true")
            (draws if adapted or not saved_warmup else warmup).append(values)
    return config, columns, np.array(draws)


def read_run(folder: str) -> tuple[dict[str, str], list[str], np.ndarray]:
    """(config, columns, draws with shape (chain, draw, column)) of a folder's chains."""
    files = sorted((FOREIGN / folder).glob("*.csv"))
    chains = [read_chain(f) for f in files]
    return chains[0][0], chains[0][1], np.stack([c[2] for c in chains])


def e_bfmi(energy: np.ndarray) -> float:
    """Betancourt (2016), as Stan's `diagnose` computes it: the sum of squared energy steps
    over the sum of squared deviations from the mean energy."""
    return float(np.sum(np.diff(energy) ** 2) / np.sum((energy - energy.mean()) ** 2))


def split_rhat_one_chain(x: np.ndarray) -> float:
    """Rank-normalized split R-hat of one chain (Vehtari et al. 2021), written out here."""
    from scipy.stats import norm, rankdata

    half = len(x) // 2
    split = np.vstack([x[:half], x[-half:]])

    def z(a: np.ndarray) -> np.ndarray:
        ranks = rankdata(a.ravel(), method="average").reshape(a.shape)
        return norm.ppf((ranks - 3 / 8) / (a.size + 1 / 4))

    def rhat(a: np.ndarray) -> float:
        n = a.shape[1]
        between = n * np.var(a.mean(axis=1), ddof=1)
        within = np.mean(np.var(a, axis=1, ddof=1))
        return float(np.sqrt((between / within + n - 1) / n))

    return max(rhat(z(split)), rhat(z(np.abs(split - np.median(split)))))


def stan_name(column: str) -> str:
    """``mu.1`` -> ``mu[1]``, ``x.1.2`` -> ``x[1, 2]``."""
    base, *index = column.split(".")
    return f"{base}[{', '.join(index)}]" if index else base


def check_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


# --- every number against the count ----------------------------------------------------------


@pytest.mark.parametrize("folder", READABLE)
def test_numbers_equal_an_independent_count_from_the_csv_columns(folder: str) -> None:
    from arviz_stats.base import array_stats

    config, columns, draws = read_run(folder)
    code, doc = check_json(str(FOREIGN / folder))
    assert code in (0, 1)
    chains = draws.shape[0]
    assert (doc["sampling"]["chains"], doc["sampling"]["draws"]) == draws.shape[:2]
    hmc = "stepsize__" in columns and not np.isnan(draws[..., columns.index("stepsize__")]).all()
    checks = {c["name"]: c for c in doc["checks"]}
    if "divergent__" in columns and hmc:
        divergent = draws[..., columns.index("divergent__")].sum(axis=1)
        assert doc["divergences"]["per_chain"] == divergent.astype(int).tolist()
    else:
        assert checks["divergences"]["status"] == "n/a"
    if "treedepth__" in columns and hmc:
        limit = int(config.get("max_depth", 10))
        hits = (draws[..., columns.index("treedepth__")] >= limit).sum(axis=1)
        assert doc["tree_depth"]["per_chain"] == hits.tolist()
        assert doc["tree_depth"]["max_treedepth"] == limit
    if "energy__" in columns and hmc:
        expected = [e_bfmi(draws[c, :, columns.index("energy__")]) for c in range(chains)]
        assert doc["e_bfmi"]["per_chain"] == pytest.approx(expected, rel=1e-12)
    else:
        assert checks["e_bfmi"]["status"] == "n/a"
    reported = {p["name"]: p for p in doc["parameters"]}
    names = [c for c in columns if not c.endswith("__")]
    assert sorted(reported) == sorted(stan_name(c) for c in names)
    for column in names:
        x = draws[..., columns.index(column)]
        p = reported[stan_name(column)]
        if np.ptp(x) == 0:
            continue  # a constant (N = 20 in the fixed_param runs): NaN on both sides
        bulk = array_stats.ess(x, method="bulk", chain_axis=0, draw_axis=1)
        tail = array_stats.ess(x, method="tail", prob=(0.05, 0.95), chain_axis=0, draw_axis=1)
        assert p["ess_bulk"] == pytest.approx(float(bulk), rel=1e-8), column
        assert p["ess_tail"] == pytest.approx(float(tail), rel=1e-8), column
        if chains == 1:
            rhat = split_rhat_one_chain(x[0])
        else:
            rhat = float(array_stats.rhat(x, method="rank", chain_axis=0, draw_axis=1))
        assert p["r_hat"] == pytest.approx(rhat, rel=1e-8), column


def test_cmdstan_1_3_run_is_read_and_matches_r_posterior() -> None:
    """CmdStan 1.3 (ArviZ 0.x's test run): read, named, and its R-hat and ESS equal those of
    R's posterior package (the file's reference_posterior.csv.txt)."""
    code, doc = check_json(str(FOREIGN / "blocker_stan13"))
    assert code in (0, 1)
    assert doc["sampling"]["sampler"] == "CmdStan 1.3 (NUTS)"
    with (FOREIGN / "blocker_stan13" / "reference_posterior.csv.txt").open() as handle:
        reference = {row[""]: row for row in csv.DictReader(handle)}
    reported = {p["name"]: p for p in doc["parameters"]}
    assert len(reference) == len(reported) == 48
    for column, ref in reference.items():
        p = reported[stan_name(column)]
        assert p["r_hat"] == pytest.approx(float(ref["rhat_rank"]), rel=1e-6), column
        assert p["ess_bulk"] == pytest.approx(float(ref["ess_bulk"]), rel=1e-6), column
        assert p["ess_tail"] == pytest.approx(float(ref["ess_tail"]), rel=1e-6), column
    # CmdStan 1.3 wrote no divergent__ or energy__: those checks cannot be made.
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["divergences"] == checks["e_bfmi"] == "n/a"
    assert {"divergences", "e_bfmi"} <= set(doc["not_assessed"])


# --- saved warmup ----------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "warmup"), [("bern_warmup", 1000), ("bern_thin_warmup", 100)])
def test_saved_warmup_is_dropped_and_said(folder: str, warmup: int) -> None:
    _, columns, draws = read_run(folder)
    code, doc = check_json(str(FOREIGN / folder), "--min-ess", "50")
    assert code == 0 and doc["verdict"] == "pass"
    assert doc["divergences"]["total"] == 0
    # Step size and acceptance over the kept draws: the adapted step size, not warmup's.
    adapted = draws[0, :, columns.index("stepsize__")]
    assert np.ptp(adapted) == 0
    assert doc["step_size"]["per_chain"] == pytest.approx([adapted[0]])
    accept = draws[0, :, columns.index("accept_stat__")].mean()
    assert doc["acceptance"]["per_chain"] == pytest.approx([accept], rel=1e-12)
    assert any(f"{warmup} warmup rows per chain were dropped" in n for n in doc["notes"])


def test_bern_warmup_e_bfmi_is_the_post_warmup_value() -> None:
    """The issue's numbers: 1.2106 after warmup, where warmup included gives 1.0007."""
    _, doc = check_json(str(FOREIGN / "bern_warmup"))
    assert round(doc["e_bfmi"]["per_chain"][0], 4) == 1.2106


def test_warmup_rows_left_by_a_converter_are_dropped_in_memory_without_changing_the_run() -> None:
    import xarray as xr

    from hmdiag.api import check
    from hmdiag.runs import load_run

    run = load_run(FOREIGN / "mix_2ch")
    stats = run["sample_stats"].to_dataset()
    padded = xr.concat([stats.isel(draw=slice(0, 50)), stats], dim="draw")
    padded["diverging"][:, :50] = True  # 100 divergences, all of them in "warmup"
    padded = padded.assign_coords(draw=np.arange(padded.sizes["draw"]))
    tree = run.copy()
    tree["sample_stats"] = xr.DataTree(padded)
    report = check(tree)
    assert report.diagnosis.divergences_total == 0
    assert any("50 warmup rows per chain were dropped" in n for n in report.diagnosis.notes)
    assert tree["sample_stats"].sizes["draw"] == 1050  # the caller's run is unchanged


def test_warmup_groups_of_nutpie_are_named_and_not_counted() -> None:
    from hmdiag.api import check

    report = check(Path(__file__).parent / "fixtures" / "legacy" / "nutpie_raw_mme0.nc")
    assert any("warmup draws per chain (warmup_posterior)" in n for n in report.diagnosis.notes)


# --- NaN, fixed_param, one chain -------------------------------------------------------------


def test_nan_e_bfmi_is_not_a_pass() -> None:
    from hmdiag.api import check
    from hmdiag.runs import load_run

    run = load_run(FOREIGN / "mix_2ch")
    run["sample_stats"]["energy"][1, :] = 3.0  # chain 1's energy never changes: 0/0
    report = check(run)
    bfmi = next(c for c in report.verdict.checks if c.name == "e_bfmi")
    assert bfmi.status == "n/a" and bfmi.passed is None
    assert "chain 1" in bfmi.message and "does not vary" in bfmi.message
    assert "e_bfmi" in report.verdict.not_assessed


@pytest.mark.parametrize("folder", ["fixed_param", "no_param_hmc"])
def test_fixed_param_runs_have_no_hmc_checks_and_no_tuning_advice(folder: str) -> None:
    result = runner.invoke(app, ["check", str(FOREIGN / folder)])
    assert result.exit_code == 1  # 100 draws of one chain: ESS below 100
    assert "fixed_param" in result.stdout
    advice = result.stdout.split("advice:", 1)[1].lower()
    for word in ("tune", "warmup", "warm-up", "adapt", "target_accept", "delta"):
        assert word not in advice
    code, doc = check_json(str(FOREIGN / folder), "--min-ess", "10", "--max-rhat", "1.2")
    assert code == 0 and doc["verdict"] == "pass"
    assert doc["not_assessed"] == ["divergences", "tree_depth", "e_bfmi", "acceptance", "model_fit"]
    assert doc["sampling"]["sampler"].endswith("(fixed_param)")
    quiet = runner.invoke(
        app, ["check", str(FOREIGN / folder), "-q", "--min-ess", "10", "--max-rhat", "1.2"]
    )
    assert (
        "PASS (not assessed: divergences, tree_depth, e_bfmi, acceptance, model_fit)"
        in quiet.stdout
    )


def test_one_chain_has_a_split_rhat_and_a_recommendation() -> None:
    code, doc = check_json(str(FOREIGN / "bernoulli_ppc"))
    # CmdStan's CSV holds no observed data: the model fit cannot be measured, and says so.
    assert code == 0 and doc["verdict"] == "pass" and doc["not_assessed"] == ["model_fit"]
    assert all(math.isfinite(p["r_hat"]) for p in doc["parameters"] if p["sd"] > 0)
    assert any("run 4 or more chains (num_chains=4)" in n for n in doc["notes"])


def test_not_assessed_appears_in_the_verdict_line() -> None:
    result = runner.invoke(app, ["check", str(FOREIGN / "blocker_stan13"), "--max-rhat", "1.1"])
    result = runner.invoke(
        app,
        ["check", str(FOREIGN / "blocker_stan13"), "--max-rhat", "1.1", "--min-ess", "10"],
    )
    assert result.exit_code == 0
    assert "verdict: PASS (not assessed: divergences, e_bfmi, model_fit)" in result.stdout


# --- refusals --------------------------------------------------------------------------------


def test_num_samples_zero_is_refused_with_the_warmup_count() -> None:
    result = runner.invoke(app, ["check", str(FOREIGN / "warmup_only")])
    assert result.exit_code == 2
    assert "no post-warmup draws" in result.stderr and "num_samples = 0" in result.stderr
    assert "1000 warmup rows" in result.stderr and "Traceback" not in result.stderr


def test_a_run_killed_in_warmup_is_refused_with_the_warmup_count() -> None:
    result = runner.invoke(app, ["check", str(FOREIGN / "killed_in_warmup" / "output_1.csv")])
    assert result.exit_code == 2
    assert "no post-warmup draws" in result.stderr
    assert "600 of 1000 warmup rows" in result.stderr


def test_chains_of_two_models_are_refused_naming_both_files() -> None:
    a = FOREIGN / "mix_2ch" / "mix_output.1.csv"
    b = FOREIGN / "bern_warmup" / "bern_fitted_params_warmup.csv"
    result = runner.invoke(app, ["check", str(a), str(b)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert str(a) in message and str(b) in message
    assert "model gauss_mix_model vs bernoulli_model" in message


def test_a_file_cut_after_warmup_is_refused(tmp_path: Path) -> None:
    source = (FOREIGN / "bern_warmup" / "bern_fitted_params_warmup.csv").read_text()
    lines = source.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if "Adaptation terminated" in line)
    rows = [i for i, line in enumerate(lines) if i > end and not line.startswith("#")]
    cut = tmp_path / "output_1.csv"
    cut.write_text("".join(lines[: rows[299] + 1]))  # warmup, adaptation, 300 of 1000 draws
    result = runner.invoke(app, ["check", str(cut)])
    assert result.exit_code == 2
    assert "holds 300 of the 1000 draws its header promises" in result.stderr


# --- CI output on errors ---------------------------------------------------------------------


def test_json_error_document_is_valid_against_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = runner.invoke(app, ["check", str(FOREIGN / "warmup_only"), "--format", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, json.loads((SCHEMAS / "error-v1.schema.json").read_text()))
    assert doc["verdict"] == "error" and "no post-warmup draws" in doc["error"]["message"]
    legacy = runner.invoke(app, ["check", str(FOREIGN / "missing.nc"), "--json"])
    assert legacy.exit_code == 2 and json.loads(legacy.stdout)["error"]["type"] == "RunFileError"


def test_junit_error_document_has_one_error_case() -> None:
    import xml.etree.ElementTree as ET

    xmlschema = pytest.importorskip("xmlschema")
    result = runner.invoke(app, ["check", str(FOREIGN / "killed_in_warmup"), "--format", "junit"])
    assert result.exit_code == 2
    xmlschema.validate(result.stdout, str(Path(__file__).parent / "fixtures/schemas/junit.xsd"))
    root = ET.fromstring(result.stdout)
    cases = root.findall(".//testcase")
    assert len(cases) == 1 and "no post-warmup draws" in cases[0].find("error").get("message")


def test_github_error_is_an_annotation() -> None:
    result = runner.invoke(app, ["check", str(FOREIGN / "warmup_only"), "--format", "github"])
    assert result.exit_code == 2
    assert result.stdout.startswith("::error title=hmdiag check::")
    assert "no post-warmup draws" in result.stdout


# --- the source tool's language --------------------------------------------------------------


def test_stan_names_are_one_based_and_match_cmdstan_diagnose() -> None:
    """mix_2ch: CmdStan's own `diagnose` lists mu[1], mu[2], sigma[1], theta above 1.01."""
    _, doc = check_json(str(FOREIGN / "mix_2ch"))
    names = [p["name"] for p in doc["parameters"]]
    assert names == ["mu[1]", "mu[2]", "sigma[1]", "sigma[2]", "theta"]
    expected = (FOREIGN / "mix_2ch" / "cmdstan_diagnose_expected.nom.txt").read_text()
    listed = expected.split("greater than 1.01:")[1].splitlines()[1]
    above = {p["name"] for p in doc["parameters"] if p["r_hat"] > 1.01}
    assert above == {name.strip() for name in listed.split(",")}


def test_cmdstan_diagnose_tree_depth_count_is_reproduced() -> None:
    _, doc = check_json(str(FOREIGN / "corr_gauss_depth8"))
    expected = (FOREIGN / "corr_gauss_depth8" / "cmdstan_diagnose_expected.nom.txt").read_text()
    assert "424 of 1000" in expected
    assert doc["tree_depth"]["hits_total"] == 424 and doc["tree_depth"]["max_treedepth"] == 8


def test_advice_names_cmdstan_settings_on_the_cli_and_cmdstanpy_in_python() -> None:
    from hmdiag.api import check

    result = runner.invoke(app, ["check", str(FOREIGN / "corr_gauss_depth8")])
    assert "sampler CmdStan 2.14 (NUTS)" in " ".join(result.stdout.split())
    assert "metric=dense_e" in result.stdout and "sampler: mass_matrix" not in result.stdout
    thin = runner.invoke(app, ["check", str(FOREIGN / "bern_thin_warmup")])
    assert "num_samples=200" in thin.stdout and "sampler: draws" not in thin.stdout
    report = check(FOREIGN / "corr_gauss_depth8")
    actions = " ".join(a.action for a in report.verdict.advice)
    assert 'model.sample(metric="dense_e")' in actions
    thin_report = check(FOREIGN / "bern_thin_warmup")
    assert "model.sample(iter_sampling=200)" in thin_report.verdict.advice[0].action


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("hmdiag", "sampler: target_accept: 0.95"),
        ("cmdstan", "adapt delta=0.95"),
        ("cmdstanpy", "model.sample(adapt_delta=0.95)"),
        ("pymc", "pm.sample(target_accept=0.95)"),
        ("nutpie", "pm.sample(target_accept=0.95) or nutpie.sample(compiled, target_accept=0.95)"),
        ("numpyro", "NUTS(model, target_accept_prob=0.95)"),
    ],
)
def test_each_tool_is_told_its_own_target_acceptance_setting(dialect: str, expected: str) -> None:
    from hmdiag.diagnose.dialects import setting

    assert setting(dialect, "target_accept", 0.95) == expected


def test_advice_on_a_plain_pymc_run_names_pm_sample() -> None:
    """hmdiag 0.1's PyMC 5 run without hmdiag's attributes is a run PyMC made: the advice
    names pm.sample's arguments, not hmdiag's spec."""
    from hmdiag.api import check
    from hmdiag.runs import load_run

    run = load_run(Path(__file__).parent / "fixtures" / "legacy" / "hmdiag01_pymc_mme4.nc")
    for group in ("posterior", "sample_stats"):
        attrs = dict(run[group].attrs)
        run[group].attrs = {k: v for k, v in attrs.items() if not k.startswith("hmdiag_")}
    assert run["sample_stats"].attrs["inference_library"] == "pymc"
    report = check(run)
    actions = " ".join(a.action for a in report.verdict.advice)
    assert "pm.sample(draws=" in actions and "sampler: " not in actions


def test_a_limit_that_is_not_recorded_is_said_to_be_assumed() -> None:
    """nutpie and PyMC 5 flag the hits (maxdepth_reached) without writing the limit."""
    from hmdiag.api import check

    report = check(Path(__file__).parent / "fixtures" / "legacy" / "nutpie_raw_mme0.nc")
    depth = next(c for c in report.verdict.checks if c.name == "tree_depth")
    assert "None" not in depth.message
    assert "does not record the limit; the default, 10, is assumed" in depth.message


def test_output_of_another_method_is_refused(tmp_path: Path) -> None:
    source = (FOREIGN / "bern_warmup" / "bern_fitted_params_warmup.csv").read_text()
    assert "# method = sample" in source
    optimize = tmp_path / "output_1.csv"
    optimize.write_text(source.replace("# method = sample", "# method = optimize", 1))
    result = runner.invoke(app, ["check", str(optimize)])
    assert result.exit_code == 2
    assert "CmdStan `method=optimize` output; hmdiag checks MCMC runs" in result.stderr


@pytest.mark.parametrize("folder", ["mix_2ch", "corr_gauss_depth8"])
def test_the_same_run_gets_the_same_diagnosis_in_every_process(folder: str) -> None:
    """The installed entry point, in processes with different string hashing (set and dict
    order of names), prints byte-identical JSON for one run."""
    exe = shutil.which("hmdiag") or str(Path(sys.executable).parent / "hmdiag")
    files = sorted(str(p) for p in (FOREIGN / folder).glob("*.csv"))
    outputs = set()
    for hash_seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [exe, "check", *files, "--format", "json"], capture_output=True, env=env, text=True
        )
        assert done.returncode in (0, 1), done.stderr
        document = json.loads(done.stdout)
        assert document["verdict"]
        outputs.add(done.stdout)
    assert len(outputs) == 1
