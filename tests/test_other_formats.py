"""Runs from other tools: CmdStan CSV (one file per chain) and zarr stores."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from hmdiag.cli import app

CMDSTAN = Path(__file__).parent / "fixtures" / "cmdstan"
CHAINS = sorted(CMDSTAN.glob("output_*.csv"))


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def csv_column(path: Path, name: str) -> np.ndarray:
    """One column of a Stan CSV file, read with the standard library (comments skipped)."""
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(rows)
    return np.array([float(row[name]) for row in reader])


def test_the_fixture_is_four_chains_in_cmdstan_layout() -> None:
    assert [p.name for p in CHAINS] == [f"output_{i}.csv" for i in (1, 2, 3, 4)]
    for path in CHAINS:
        lines = path.read_text().splitlines()
        header = next(line for line in lines if not line.startswith("#"))
        assert header.startswith(
            "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu,tau,"
        )
        assert "# method = sample (Default)" in lines and "# Adaptation terminated" in lines
        assert lines[-4].startswith("#  Elapsed Time:")
        assert len(csv_column(path, "mu")) == 150
        assert len(set(csv_column(path, "stepsize__"))) == 1  # fixed after adaptation


@pytest.mark.parametrize(
    "args",
    [CHAINS, [CMDSTAN / "output_*.csv"], [CMDSTAN]],
    ids=["files", "glob", "folder"],
)
def test_check_reads_cmdstan_chains(args: list[Path]) -> None:
    result = invoke("check", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    params = {p["name"]: p for p in doc["parameters"]}
    draws = np.concatenate([csv_column(p, "mu") for p in CHAINS])
    assert params["mu"]["mean"] == pytest.approx(draws.mean(), rel=1e-12)
    # Stan's 1-based names: theta.8 is theta[8].
    assert params["theta[8]"]["mean"] == pytest.approx(
        np.concatenate([csv_column(p, "theta.8") for p in CHAINS]).mean(), rel=1e-12
    )
    assert len(doc["divergences"]["per_chain"]) == 4
    diverging = sum(int(csv_column(p, "divergent__").sum()) for p in CHAINS)
    assert doc["divergences"]["total"] == diverging
    # The sampler settings come from the files' config: delta 0.95, max_depth 10.
    assert doc["acceptance"]["target"] == 0.95
    assert doc["tree_depth"]["max_treedepth"] == 10
    assert doc["tree_depth"]["max_treedepth_assumed"] is False
    assert doc["run"]["label"] == "cmdstan"


def test_one_chain_and_compare_plot_report_of_csv_runs(tmp_path: Path) -> None:
    single = invoke("check", CHAINS[0], "--json")
    assert json.loads(single.stdout)["sampling"]["chains"] == 1
    other = tmp_path / "other"
    other.mkdir()
    for path in CHAINS[:2]:
        shutil.copy(path, other / path.name)
    pair = invoke("compare", CMDSTAN / "output_*.csv", other, "--json")
    assert pair.exit_code in (0, 1), pair.output
    # CmdStan's default file name says nothing: the label is the folder's.
    assert [r["label"] for r in json.loads(pair.stdout)["runs"]] == ["cmdstan", "other"]
    twice = invoke("check", CHAINS[0], CHAINS[0])
    assert twice.exit_code == 2 and "given twice" in twice.output
    plots = invoke("plot", CMDSTAN, "-k", "rank", "-o", tmp_path / "plots", "-q")
    assert plots.exit_code == 0 and (tmp_path / "plots" / "cmdstan-rank.png").exists()
    report = invoke("report", CMDSTAN / "output_*.csv", "-o", tmp_path / "r.html", "-q")
    assert report.exit_code in (0, 1) and (tmp_path / "r.html").stat().st_size > 10_000


# zarr 3 warns that consolidated metadata (which xarray writes) is not in its spec yet.
@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_zarr_runs_check_like_their_netcdf(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    import xarray as xr

    from hmdiag.runs import load_run

    store = tmp_path / "mme4.zarr"
    load_run(saved_runs["mme4"]).to_zarr(store)
    as_zarr = json.loads(invoke("check", store, "--json").stdout)
    as_netcdf = json.loads(invoke("check", saved_runs["mme4"], "--json").stdout)
    # zarr lists variables alphabetically; the numbers are the same.
    by_name = {p["name"]: p for p in as_netcdf["parameters"]}
    assert {p["name"]: p for p in as_zarr["parameters"]} == by_name
    assert as_zarr["run"]["label"] == "mme4" and as_zarr["verdict"] == as_netcdf["verdict"]
    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(store, damaged)
    chunk = next(
        p for p in (damaged / "posterior" / "a_bar").rglob("*") if p.is_file() and p.name == "0"
    )
    chunk.write_bytes(b"not a compressed chunk")
    broken = invoke("check", damaged)
    assert broken.exit_code == 2 and "the posterior group cannot be read" in broken.output
    empty = tmp_path / "empty.zarr"
    xr.DataTree().to_zarr(empty)
    result = invoke("check", empty)
    assert result.exit_code == 2 and "the zarr store has no posterior group" in result.output


def test_bad_other_formats_exit_2(tmp_path: Path, saved_runs: dict[str, Path]) -> None:
    not_stan = tmp_path / "data.csv"
    not_stan.write_text("a,b\n1,2\n")
    result = invoke("check", not_stan)
    assert result.exit_code == 2 and f"{not_stan}: not CmdStan output" in result.output
    nothing = invoke("check", tmp_path / "out_*.csv")
    assert nothing.exit_code == 2 and "no files match" in nothing.output
    folder = tmp_path / "empty"
    folder.mkdir()
    empty = invoke("check", folder)
    assert empty.exit_code == 2 and "neither a zarr store nor a folder of CmdStan" in empty.output
    two = invoke("check", saved_runs["mfe"], saved_runs["mme4"])
    assert two.exit_code == 2 and "check takes one run, got 2" in two.output
    assert "hmdiag compare" in two.output


def test_run_labels() -> None:
    from hmdiag.runs import run_label

    assert run_label("fit/output_*.csv") == "fit"
    assert run_label("fit/output_3.csv") == "fit"
    assert run_label("fit/bernoulli-20260720_2.csv") == "bernoulli-20260720"
    assert run_label("fit/schools_*.csv") == "schools"
    assert run_label(".") == Path.cwd().name and run_label("..") == Path.cwd().parent.name
    assert run_label("runs/mme4.nc") == "mme4"
    assert run_label("runs/mme4.zarr") == "mme4"
    assert run_label("stan/fit") == "fit"
