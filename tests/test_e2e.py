"""End to end through the installed ``hmdiag`` entry point, at the reference post's full size.

Reference numbers are the post's own az.summary output (PyMC3, different seed and hardware):
a faithful reproduction matches them within Monte Carlo error, not digit for digit.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONFIGS, small_spec

HMDIAG = shutil.which("hmdiag", path=str(Path(sys.executable).parent)) or "hmdiag"

# (mean, mcse_mean) from the reference post.
REFERENCE = {
    "mfe": {"a[1]": (-1.058, 0.003), "a[2]": (-0.592, 0.006), "a[3]": (1.220, 0.015)},
    "mme4": {
        "a_bar": (-0.731, 0.014),
        "sigma": (0.393, 0.008),
        "z[1]": (-0.513, 0.025),
        "z[2]": (0.059, 0.019),
        "z[3]": (0.453, 0.021),
    },
}


def run_hmdiag(*args: Any, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run(
        [HMDIAG, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


def assert_matches_reference(
    doc: dict[str, Any], reference: dict[str, tuple[float, float]]
) -> None:
    params = {p["name"]: p for p in doc["parameters"]}
    for name, (ref_mean, ref_mcse) in reference.items():
        ours = params[name]
        tolerance = 4 * math.hypot(ours["mcse_mean"], ref_mcse)
        assert abs(ours["mean"] - ref_mean) < tolerance, (name, ours["mean"], ref_mean, tolerance)


def test_entry_point_help_is_fast_and_light() -> None:
    code = "import sys, hmdiag.cli; print(sorted(m for m in ('pymc', 'pytensor', 'arviz', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    result = run_hmdiag("--help")
    assert result.returncode == 0 and "Usage: hmdiag" in result.stdout


HEAVY = ("pymc", "pytensor", "arviz", "matplotlib")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(CONFIGS / "mme4.yaml")],
        ["check", "missing.nc"],
        ["fit", "missing.yaml"],
        ["fit", str(CONFIGS / "mme4.yaml"), "--target-accept", "2"],
        ["compare", "a.nc"],
    ],
    ids=["validate", "check-missing", "fit-missing", "fit-bad-flag", "compare-one"],
)
def test_validate_and_error_paths_stay_light(args: list[str]) -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from hmdiag.cli import app; "
        f"r = CliRunner().invoke(app, {args!r}); "
        f"print(r.exit_code, sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, loaded = out.stdout.split(" ", 1)
    assert loaded.strip() == "[]", (args, out.stdout)
    assert exit_code == ("0" if args[0] == "validate" else "2")


def test_entry_point_bad_input_exit_2(tmp_path: Path) -> None:
    result = run_hmdiag("check", tmp_path / "missing.nc")
    assert result.returncode == 2
    assert "missing.nc: file not found" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="session")
def full_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """The reference configs at full size (4 x 1000), fitted once by the installed entry point."""
    folder = tmp_path_factory.mktemp("full")
    runs = {}
    for name in ("mfe", "mme0", "mme4"):
        out = folder / f"{name}.nc"
        runs[name] = (out, run_hmdiag("fit", CONFIGS / f"{name}.yaml", "--out", out, "--json"))
    return runs


@pytest.mark.slow
def test_mme4_full_size_is_clean_and_matches_the_post(full_runs: dict[str, Any]) -> None:
    out, result = full_runs["mme4"]
    assert result.returncode == 0, result.stderr
    assert "FutureWarning" not in result.stderr and "Warning" not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "pass" and doc["divergences"]["total"] == 0
    assert (doc["sampling"]["chains"], doc["sampling"]["draws"]) == (4, 1000)
    assert_matches_reference(doc, REFERENCE["mme4"])
    check = run_hmdiag("check", out, "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["parameters"] == doc["parameters"]


@pytest.mark.slow
def test_mme0_full_size_diverges_at_sigma(full_runs: dict[str, Any]) -> None:
    out, result = full_runs["mme0"]
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "fail" and doc["divergences"]["total"] > 100
    top = doc["divergence_hotspots"][0]
    assert top["parameter"] == "sigma" and top["funnel"]
    assert doc["advice"][0]["remedy"] == "non_center" and doc["advice"][0]["target"] == "district"
    human = run_hmdiag("check", out)
    assert human.returncode == 1
    assert "divergences concentrate at small `sigma`" in human.stdout
    assert "Reparameterize group `a` (district) as non_centered" in human.stdout


@pytest.mark.slow
def test_mfe_full_size_matches_the_post(full_runs: dict[str, Any]) -> None:
    _, result = full_runs["mfe"]
    assert result.returncode == 0, result.stderr
    assert_matches_reference(json.loads(result.stdout), REFERENCE["mfe"])


@pytest.mark.slow
def test_compare_full_size_mme0_against_mme4(full_runs: dict[str, Any]) -> None:
    result = run_hmdiag("compare", full_runs["mme0"][0], full_runs["mme4"][0], "--json")
    assert result.returncode == 1  # mme0 fails its checks
    doc = json.loads(result.stdout)
    mme0, mme4 = doc["runs"]
    assert (mme0["label"], mme4["label"]) == ("mme0", "mme4")
    assert mme0["divergences"] > 100 and mme4["divergences"] == 0
    # Seeded draws, so ESS is reproducible (ESS per second depends on the machine's load):
    # nutpie gives 964 against 114, PyMC's NUTS 956 against 137.
    assert mme4["min_ess_bulk"] > 4 * mme0["min_ess_bulk"]
    assert mme4["ess_per_second"] > 0 and mme0["ess_per_second"] > 0
    names = [p["name"] for p in doc["parameters"]]
    assert names == ["a_bar", "a[1]", "a[2]", "a[3]", "sigma"]
    a1 = next(p for p in doc["parameters"] if p["name"] == "a[1]")["runs"]
    assert abs(a1["mme0"]["mean"] - a1["mme4"]["mean"]) < 0.2  # the same district intercept
    assert {row["label"] for row in doc["loo"]} == {"mme0", "mme4"}
    human = run_hmdiag("compare", full_runs["mme0"][0], full_runs["mme4"][0])
    assert "a[3]" in human.stdout and "PSIS-LOO" in human.stdout


def test_same_seed_gives_identical_draws(small_fit: Any, tmp_path: Path) -> None:
    import numpy as np

    from hmdiag.spec import load_spec
    from hmdiag.workflows.fit import fit

    first = small_fit("mme4")
    again = fit(load_spec(small_spec("mme4", tmp_path)))
    for var in ("a_bar", "sigma", "z", "a"):
        np.testing.assert_array_equal(
            first.idata.posterior[var].values, again.idata.posterior[var].values
        )


@pytest.mark.parametrize("backend", ["nutpie", "numpyro", "blackjax"])
def test_every_installed_backend_gives_the_same_layout_and_checks(
    small_fit: Any, tmp_path: Path, backend: str
) -> None:
    pytest.importorskip(backend)
    from hmdiag.diagnose.checks import Thresholds
    from hmdiag.diagnose.report import assess
    from hmdiag.runs import save_run

    pymc_run = small_fit("mme4", backend="pymc")
    other = small_fit("mme4", backend=backend)
    reports = [assess(r.idata, r.info, Thresholds()) for r in (pymc_run, other)]
    names = [c.name for c in reports[0].verdict.checks]
    assert [c.name for c in reports[1].verdict.checks] == names
    assert [c.status for c in reports[1].verdict.checks].count("n/a") == 0
    assert [p.name for p in reports[0].diagnosis.parameters] == [
        p.name for p in reports[1].diagnosis.parameters
    ]
    core_stats = {"diverging", "tree_depth", "acceptance_rate", "energy"}
    assert core_stats <= set(other.idata.sample_stats.data_vars)
    if backend != "blackjax":  # PyMC's blackjax wrapper records no step size
        assert "step_size" in other.idata.sample_stats
    assert set(other.idata.children) == set(pymc_run.idata.children)
    assert set(other.idata.posterior.data_vars) == set(pymc_run.idata.posterior.data_vars)
    assert other.info.backend == backend and other.info.sampling_seconds > 0
    assert other.info.device == "cpu"  # the test machine has no accelerator
    if backend in ("numpyro", "blackjax"):  # PyMC 6 records their time on the posterior only
        recorded = float(other.idata["posterior"].attrs["sampling_time"])
        assert other.info.sampling_seconds == pytest.approx(recorded)
    path = tmp_path / f"{backend}.nc"
    save_run(other.idata, path, force=False)
    result = run_hmdiag("check", path, "--json")
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert doc["run"]["backend"] == backend and [c["name"] for c in doc["checks"]] == names
    assert doc["sampling"]["device"] == "cpu"


def test_missing_backend_exits_2_with_the_install_command(tmp_path: Path) -> None:
    code = (
        "import sys, importlib.util as u; real = u.find_spec; "
        "u.find_spec = lambda name, *a: None if name == 'numpyro' else real(name, *a); "
        "from hmdiag.cli import main; "
        "sys.argv = ['hmdiag', 'fit', sys.argv[1], '--backend', 'numpyro', '--out', sys.argv[2]]; main()"
    )
    spec = small_spec("mme4", tmp_path)
    out = tmp_path / "x.nc"
    result = subprocess.run(
        [sys.executable, "-c", code, str(spec), str(out)], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "sampler backend 'numpyro' is not installed" in result.stderr
    assert "pip install 'hmdiag[numpyro]'" in result.stderr
    assert not out.exists()


def test_plain_pymc_run_is_checked(tmp_path: Path) -> None:
    """A run saved by PyMC directly (no hmdiag attributes) goes through `check`."""
    from hmdiag import _lazy

    pm = _lazy.pymc()
    with pm.Model():
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=[0.1, -0.3, 0.2])
        idata = pm.sample(draws=1000, tune=500, chains=2, cores=1, random_seed=3, progressbar=False)
    path = tmp_path / "plain.nc"
    idata.to_netcdf(str(path))
    result = run_hmdiag("check", path, "--json")
    doc = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    # PyMC 6's pm.sample samples with nutpie by default: nutpie's stat names, no hmdiag attrs.
    assert doc["run"]["label"] == "plain" and doc["sampling"]["sampler"].startswith("nutpie ")
    # A plain pm.sample stores no pointwise log-likelihood: model fit is n/a, with its reason.
    assert [c["name"] for c in doc["checks"] if c["status"] == "n/a"] == ["model_fit"]
    assert doc["model_fit"]["assessed"] is False and "log_likelihood" in doc["model_fit"]["reason"]
    assert doc["not_assessed"] == ["model_fit"]


def test_a_ppc_fit_does_not_spoil_the_cached_model(tmp_path: Path) -> None:
    """fit --ppc then a plain fit of the same structure in one process (doctor, sweeps)."""
    from hmdiag.spec import load_spec
    from hmdiag.workflows.fit import fit

    spec = small_spec("mme4", tmp_path, draws=100, tune=100)
    first = fit(load_spec(spec), ppc=True)
    assert "posterior_predictive" in first.idata.children
    again = fit(load_spec(spec))
    assert "posterior_predictive" not in again.idata.children
    assert again.idata.posterior["a"].shape == (2, 100, 3)
