"""The CLI through CliRunner: exit codes, messages, files and JSON/Markdown output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.diagnose.report import SCHEMA_VERSION

from .conftest import CONFIGS, small_spec

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_commands_and_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for word in ("fit", "check", "validate", "Exit codes: 0 all checks pass", "2 bad input"):
        assert word in text
    assert invoke("-h").exit_code == 0
    assert invoke("--version").output.startswith("hmdiag 0.")


def test_validate_prints_structure_with_level_counts() -> None:
    result = invoke("validate", CONFIGS / "mme4.yaml")
    assert result.exit_code == 0, result.output
    assert "rows per level 117/20/2" in result.output
    assert "139 of 1934 rows used" in result.output
    assert "= a_bar + z * sigma" in result.output and "halfnormal(0.5)" in result.output


def test_check_centered_eight_fails_with_arviz_divergence_count(
    az: Any, arviz_example: Any
) -> None:
    path = arviz_example("centered_eight")
    result = invoke("check", path, "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    expected = int(az.from_netcdf(path).sample_stats["diverging"].sum())
    # ArviZ 1.x bundles a resampled centered_eight: 19 divergences (ArviZ 0.x's had 48).
    assert doc["divergences"]["total"] == expected == 19
    assert doc["verdict"] == "fail"
    assert doc["divergence_hotspots"][0]["parameter"] == "tau"


def test_check_json_matches_schema(arviz_example: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    schema = json.loads(files("hmdiag").joinpath("schemas/check-v1.schema.json").read_text())
    for name in ("centered_eight", "non_centered_eight"):
        result = invoke("check", arviz_example(name), "--json")
        doc = json.loads(result.stdout)
        jsonschema.validate(doc, schema)
        assert doc["schema_version"] == SCHEMA_VERSION
        names = [p["name"] for p in doc["parameters"]]
        assert "theta[Choate]" in names and "tau" in names
        for check in doc["checks"]:
            assert set(check) >= {"name", "passed", "value", "threshold", "message"}


def test_check_non_centered_eight_passes(arviz_example: Any) -> None:
    result = invoke("check", arviz_example("non_centered_eight"))
    assert result.exit_code == 0, result.output
    assert "verdict: PASS" in result.output


def test_check_thresholds_and_var_flags(arviz_example: Any) -> None:
    path = arviz_example("centered_eight")
    loose = ["--max-divergences", "100", "--max-rhat", "1.5", "--min-ess", "5", "--min-bfmi", "0.1"]
    assert invoke("check", path, *loose).exit_code == 0
    result = invoke("check", path, "--var", "mu", "--json", *loose)
    doc = json.loads(result.stdout)
    assert [p["name"] for p in doc["parameters"]] == ["mu"]
    assert doc["thresholds"]["max_divergences"] == 100
    bad = invoke("check", path, "--max-rhat", "0.9")
    assert bad.exit_code == 2 and "--max-rhat must be greater than 1" in bad.output


def test_check_markdown(arviz_example: Any) -> None:
    result = invoke("check", arviz_example("centered_eight"), "--markdown")
    assert result.exit_code == 1
    assert result.output.startswith("## hmdiag: `centered_eight` — FAIL")
    assert "| divergences | ❌ fail | 19 |" in result.output
    assert "**Divergence hotspots**" in result.output and "| tau |" in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_text("not a netcdf"), p)[1], "not a NetCDF file"),
        (
            lambda p: (p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64), p)[1],
            "cannot read as an ArviZ run",
        ),
    ],
)
def test_check_bad_run_files_exit_2(tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path / "run.nc")
    result = invoke("check", path)
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_check_truncated_and_posterior_less_files(
    az: Any, arviz_example: Any, tmp_path: Path
) -> None:
    source = arviz_example("centered_eight").read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(source[: len(source) // 2])
    result = invoke("check", truncated)
    assert result.exit_code == 2 and "cannot read as an ArviZ run" in result.output
    idata = az.from_netcdf(arviz_example("centered_eight"))
    no_post = tmp_path / "noposterior.nc"
    xr.DataTree.from_dict({"sample_stats": idata["sample_stats"].to_dataset()}).to_netcdf(
        str(no_post)
    )
    result = invoke("check", no_post)
    assert result.exit_code == 2 and "has no posterior group (found: sample_stats)" in result.output


def test_fit_bad_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: m\nlikelihod: bernoulli\n")
    result = invoke("fit", spec, "--out", tmp_path / "out.nc")
    assert result.exit_code == 2
    assert "likelihod: unknown key; did you mean 'likelihood'?" in result.output
    assert not (tmp_path / "out.nc").exists()
    result = invoke(
        "fit", CONFIGS / "mme4.yaml", "--target-accept", "1.2", "--out", tmp_path / "x.nc"
    )
    assert result.exit_code == 2 and "--target-accept: Input should be less than 1" in result.output
    debug = invoke("--debug", "fit", spec)
    assert debug.exit_code != 0 and debug.exception is not None


def test_fit_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "run.nc"
    out.write_text("precious")
    result = invoke("fit", CONFIGS / "mme4.yaml", "--out", out)
    assert result.exit_code == 2 and "already exists; refusing to overwrite" in result.output
    assert out.read_text() == "precious"


def test_fit_writes_run_that_loads_back(az: Any, tmp_path: Path) -> None:
    spec = small_spec("mme4", tmp_path, draws=200, tune=300)
    out = tmp_path / "runs" / "mme4.nc"
    result = invoke("fit", spec, "--out", out, "--json", "--seed", "7")
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    assert (
        doc["run"]["seed"] == 7
        and doc["sampling"]["chains"] == 2
        and doc["sampling"]["draws"] == 200
    )
    idata = az.from_netcdf(out)
    assert set(idata.children) >= {"posterior", "sample_stats", "observed_data", "log_prior"}
    # The pointwise log-likelihood only with --loglik; the per-draw total always.
    assert "log_likelihood" not in idata.children
    assert idata.sample_stats["log_likelihood"].dims == ("chain", "draw")
    assert set(idata.posterior.data_vars) == {"a_bar", "sigma", "z", "a"}
    assert list(idata.posterior["a"].coords["district"].values) == [1, 2, 3]
    attrs = idata.posterior.attrs
    assert attrs["hmdiag_seed"] == 7 and attrs["hmdiag_spec_name"] == "mme4"
    assert "parameterization: non_centered" in attrs["hmdiag_spec_text"]
    assert len(attrs["hmdiag_data_sha256"]) == 64 and float(attrs["hmdiag_wall_seconds"]) > 0
    assert not list(out.parent.glob(".*.tmp"))  # no temp file left behind
    from hmdiag.sampling.timing import FIT_PHASES

    timing = doc["timing"]
    assert list(timing)[: len(FIT_PHASES)] == list(FIT_PHASES)
    assert all(v >= 0 for v in timing.values())
    # compile may be ~0: an earlier test in this process compiled the same structure
    assert timing["sample"] > 0 and timing["save"] > 0 and "compile" in timing
    assert timing["sample"] >= doc["sampling"]["seconds"]
    stored = json.loads(attrs["hmdiag_timing"])  # phases up to the save travel with the run
    assert set(stored) <= set(FIT_PHASES) - {"save", "diagnose"} and stored["sample"] > 0
    again = invoke("check", out, "--json")
    checked = json.loads(again.stdout)
    assert checked["parameters"] == doc["parameters"]
    assert checked["timing"] is None  # `check` did not fit: it reports no phases
    assert checked["definitions"] == {"interval": "hdi", "ess_tail_quantiles": [0.05, 0.95]}


def test_check_warns_when_the_data_changed_since_the_fit(
    az: Any, saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    idata = az.from_netcdf(saved_runs["mme4"])
    from hmdiag.spec.table import file_sha256

    data = tmp_path / "data.csv"
    data.write_text("y\n1\n")
    for group in (idata.posterior, idata.sample_stats):
        group.attrs["hmdiag_data_path"] = str(data)
        group.attrs["hmdiag_data_sha256"] = file_sha256(data)
    run = tmp_path / "run.nc"
    idata.to_netcdf(str(run))
    assert "changed since" not in invoke("check", run, "--json").stdout
    data.write_text("y\n0\n")
    result = invoke("check", run, "--json")
    doc = json.loads(result.stdout)
    assert any("changed since this run was fitted" in n for n in doc["notes"])
    assert result.exit_code in (0, 1)  # a warning, not an error
    compared = json.loads(invoke("compare", run, saved_runs["mme4"], "--json").stdout)
    assert any("changed since" in n for n in compared["notes"])
    data.unlink()
    assert "no longer exists" in invoke("check", run).stdout
