"""Real-size storage and reading (issue 16): what a run keeps, how data files are read, and
that the cheaper paths give the numbers the expensive ones gave."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.errors import DataError
from hmdiag.model.data import prepare_data, rows_read
from hmdiag.spec import load_spec
from hmdiag.spec.table import file_columns, read_table

from .conftest import small_spec

runner = CliRunner()


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


# --- log densities without a draws x observations array ----------------------------------------


def test_per_draw_log_densities_equal_pymcs_pointwise_sums(tmp_path: Path) -> None:
    """The per-draw totals come from one compiled function; they must be the sums of what
    ``pm.compute_log_likelihood``/``compute_log_prior`` give element by element."""
    import pymc as pm

    from hmdiag.runs import per_draw
    from hmdiag.sampling.log_density import _log_density_totals
    from hmdiag.sampling.settings import Storage
    from hmdiag.workflows.fit import fit

    spec = small_spec("mme4", tmp_path, draws=50, tune=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(load_spec(spec), storage=Storage(pointwise_loglik=True))
    idata = result.idata
    with result.built.model:
        reference = pm.stats.compute_log_likelihood(
            idata.copy(), progressbar=False, extend_inferencedata=False
        )
    expected = sum(per_draw(reference[v]) for v in reference.data_vars).values
    loglik, priors = _log_density_totals(idata, result.built, likelihood=True)
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)
    with result.built.model:
        elementwise = pm.stats.compute_log_prior(
            idata.copy(), progressbar=False, extend_inferencedata=False
        )
    assert set(priors) == set(elementwise.data_vars) == {"a_bar", "sigma", "z"}
    for name, values in priors.items():
        np.testing.assert_allclose(values, per_draw(elementwise[name]).values, rtol=1e-10)
        np.testing.assert_allclose(idata["log_prior"][name].values, values, rtol=1e-12)
    # The run stores both: pointwise (asked for) and, as always, the per-variable priors.
    assert "log_likelihood" not in idata["sample_stats"].data_vars


def test_default_run_keeps_the_total_that_the_pointwise_group_sums_to(
    small_fit: Any, tmp_path: Path
) -> None:
    from hmdiag.runs import log_likelihood_total
    from hmdiag.sampling.settings import Storage
    from hmdiag.workflows.fit import fit

    default = small_fit("mme4")
    assert "log_likelihood" not in default.idata.children
    spec = small_spec("mme4", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pointwise = fit(load_spec(spec), storage=Storage(pointwise_loglik=True))
    # Same spec and seed, same draws: the stored total is the pointwise group's sum.
    np.testing.assert_array_equal(
        default.idata.posterior["z"].values, pointwise.idata.posterior["z"].values
    )
    np.testing.assert_allclose(
        default.idata["sample_stats"]["log_likelihood"].values,
        log_likelihood_total(pointwise.idata).values,
        rtol=1e-10,
    )


# --- derived variables stored only when small or asked for -------------------------------------


def test_large_derived_variables_are_not_stored_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real case is 2,972 student effects; here the limit is lowered below mme4's 3
    districts so a small fit shows the same behaviour."""
    from hmdiag.sampling import settings

    monkeypatch.setattr(settings, "DERIVED_AUTO_LIMIT", 2)
    spec = small_spec("mme4", tmp_path, draws=100, tune=200)
    out = tmp_path / "run.nc"
    result = invoke("fit", spec, "--out", out, "--json")
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    note = "derived variables not stored: a (3 values per draw)"
    assert any(n.startswith(note) and "hmdiag fit --derived" in n for n in doc["notes"])
    import xarray as xr

    posterior = xr.open_dataset(out, group="posterior")
    assert set(posterior.data_vars) == {"a_bar", "sigma", "z"}
    assert json.loads(posterior.attrs["hmdiag_derived_not_stored"]) == {"a": 3}
    # check reads the record back and says the same; --var a says how to get it.
    checked = invoke("check", out, "--json")
    assert any(n.startswith(note) for n in json.loads(checked.stdout)["notes"])
    missing = invoke("check", out, "--var", "a")
    assert missing.exit_code == 2
    assert "a: derived and not stored; refit with hmdiag fit --derived" in missing.output
    # --derived overrides the limit.
    kept = invoke("fit", spec, "--out", tmp_path / "kept.nc", "--derived", "--json")
    assert kept.exit_code in (0, 1), kept.output
    assert "a" in xr.open_dataset(tmp_path / "kept.nc", group="posterior").data_vars
    assert not any(n.startswith("derived") for n in json.loads(kept.stdout)["notes"])


def test_no_derived_drops_even_small_ones_and_draws_stay_identical(tmp_path: Path) -> None:
    import xarray as xr

    spec = small_spec("mme4", tmp_path, draws=100, tune=200)
    for flag, name in (("--no-derived", "lean"), ("--derived", "full")):
        result = invoke("fit", spec, "--out", tmp_path / f"{name}.nc", flag, "--quiet")
        assert result.exit_code in (0, 1), result.output
    lean = xr.open_dataset(tmp_path / "lean.nc", group="posterior")
    full = xr.open_dataset(tmp_path / "full.nc", group="posterior")
    assert "a" not in lean.data_vars and "a" in full.data_vars
    # Leaving a derived variable out does not change the sampled ones.
    for var in ("a_bar", "sigma", "z"):
        np.testing.assert_array_equal(lean[var].values, full[var].values)


def test_derived_sizes_come_from_the_models_dims(small_fit: Any) -> None:
    from hmdiag.sampling.settings import derived_not_stored

    built = small_fit("mme4").built
    assert derived_not_stored(built, None) == {}
    assert derived_not_stored(built, True) == {}
    assert derived_not_stored(built, False) == {"a": 3}


# --- data files: only the used columns, with how long it took ----------------------------------


def _wide_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    lines = ["y,g,x,notes,extra"]
    for i in range(n):
        lines.append(f"{rng.normal():.4f},{i % 7},{rng.normal():.3f},free text {i},{i * 3}")
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(tmp_path: Path, **extra: Any) -> Path:
    raw = {
        "name": "wide",
        "data": {"path": "wide.csv"},
        "response": "y",
        "likelihood": "normal",
        "sigma": {"prior": "halfnormal(1)"},
        "predictors": [{"column": "x"}],
        "groups": [{"factor": "g"}],
        **extra,
    }
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_only_the_columns_a_spec_uses_are_parsed(tmp_path: Path) -> None:
    csv = _wide_csv(tmp_path)
    frame = read_table(csv, ["y", "g", "x", "not_there"])
    assert list(frame.columns) == ["y", "g", "x"]
    assert file_columns(frame) == ["y", "g", "x", "notes", "extra"]
    assert list(read_table(csv).columns) == file_columns(frame)

    data = prepare_data(load_spec(_spec(tmp_path)))
    assert data.n_rows == data.n_rows_read == 200 and data.read_seconds > 0
    assert rows_read(data).startswith("read 200 rows in ")
    where = {"path": "wide.csv", "where": {"g": [1, 2]}}
    filtered = prepare_data(load_spec(_spec(tmp_path, data=where)))
    assert rows_read(filtered).endswith(", 58 used")


def test_a_missing_column_still_lists_every_column_of_the_file(tmp_path: Path) -> None:
    _wide_csv(tmp_path)
    spec = _spec(tmp_path, predictors=[{"column": "xx"}])
    with pytest.raises(DataError) as err:
        prepare_data(load_spec(spec))
    assert "column 'xx' (predictors[0].column) is not in the file" in str(err.value)
    assert "did you mean 'x'? columns are: y, g, x, notes, extra" in err.value.hint
    where = _spec(tmp_path, data={"path": "wide.csv", "where": {"site": 1}})
    with pytest.raises(DataError) as err:
        prepare_data(load_spec(where))
    assert err.value.hint == "columns are: y, g, x, notes, extra"


def test_fit_says_how_many_rows_it_read(tmp_path: Path) -> None:
    spec = small_spec("mme4", tmp_path, draws=50, tune=50)
    result = invoke("fit", spec, "--out", tmp_path / "r.nc", "--json")
    assert result.exit_code in (0, 1), result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("fitting mme4: read 1,934 rows in ") and ", 139 used;" in first


# --- PSIS-LOO in chunks of observations ---------------------------------------------------------


def test_chunked_psis_loo_equals_arviz_stats_loo(
    small_fit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psis_loo joins per-chunk loo results; every number must be arviz-stats' own, including
    the relative efficiency it computes (here with hmdiag's kernels)."""
    import arviz_stats as azs

    from hmdiag.diagnose import model_fit
    from hmdiag.sampling.settings import Storage
    from hmdiag.workflows.fit import fit

    spec = small_spec("mme2", tmp_path, draws=200, tune=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = fit(load_spec(spec), storage=Storage(pointwise_loglik=True)).idata
        expected = azs.loo(run, pointwise=True)
    n_obs = run["log_likelihood"]["use_contraception"].shape[-1]
    monkeypatch.setattr(model_fit, "LOO_CHUNK_VALUES", 400 * 10)  # 10 observations a chunk
    got = model_fit.psis_loo(run)
    assert got.n_data_points == n_obs and got.n_samples == expected.n_samples
    for attr in ("elpd", "se", "p"):
        np.testing.assert_allclose(getattr(got, attr), getattr(expected, attr), rtol=1e-10)
    np.testing.assert_allclose(got.elpd_i.values, expected.elpd_i.values, rtol=1e-10)
    np.testing.assert_allclose(got.pareto_k.values, expected.pareto_k.values, rtol=1e-10)
    assert got.warning == expected.warning and got.good_k == expected.good_k
    monkeypatch.setattr(model_fit, "LOO_CHUNK_VALUES", 1 << 24)
    whole = model_fit.psis_loo(run)
    np.testing.assert_allclose(whole.elpd, expected.elpd, rtol=1e-10)


def test_pointwise_log_likelihood_equals_pymcs(small_fit: Any) -> None:
    import pymc as pm

    from hmdiag.sampling.log_density import add_log_likelihood

    result = small_fit("mme4")
    run = result.idata.copy()
    add_log_likelihood(run, result.built, pm)
    with result.built.model:
        reference = pm.stats.compute_log_likelihood(
            result.idata.copy(), progressbar=False, extend_inferencedata=False
        )
    ours = run["log_likelihood"].to_dataset()
    assert set(ours.data_vars) == set(reference.data_vars) == {"use_contraception"}
    assert ours["use_contraception"].dims == reference["use_contraception"].dims
    np.testing.assert_allclose(
        ours["use_contraception"].values, reference["use_contraception"].values, rtol=1e-12
    )


# --- output that stays readable at thousands of parameters -------------------------------------


def _wide_run(az: Any, path: Path, seed: int, n: int = 300) -> Path:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(2, 200, n))
    theta[:, :, 7] = np.cumsum(rng.normal(size=(2, 200)), axis=1)  # a poorly mixing element
    az.from_dict(
        {
            "posterior": {"theta": theta, "mu": rng.normal(size=(2, 200))},
            "sample_stats": {"diverging": np.zeros((2, 200), dtype=bool)},
        }
    ).to_netcdf(str(path))
    return path


def test_compare_shows_the_worst_elements_of_a_long_vector_and_all_with_all(
    az: Any, tmp_path: Path
) -> None:
    a = _wide_run(az, tmp_path / "a.nc", 1)
    b = _wide_run(az, tmp_path / "b.nc", 2)
    compact = invoke("compare", a, b, "--markdown")
    assert compact.exit_code in (0, 1), compact.output
    shown = re.findall(r"^\| (theta\[\d+\]) \|", compact.stdout, flags=re.M)
    assert len(shown) == 8 and "theta[7]" in shown  # the lowest ess_bulk is kept
    assert "| mu |" in compact.stdout
    assert "292 more elements not shown" in compact.stdout and "--all" in compact.stdout
    full = invoke("compare", a, b, "--markdown", "--all")
    assert len(re.findall(r"^\| theta\[\d+\] \|", full.stdout, flags=re.M)) == 300
    assert "more elements not shown" not in full.stdout
    # JSON is for machines: every shared parameter, always.
    doc = json.loads(invoke("compare", a, b, "--json").stdout)
    assert len(doc["parameters"]) == 301


def test_plots_of_every_variable_cut_long_vectors(az: Any, tmp_path: Path) -> None:
    from hmdiag.render import plots
    from hmdiag.workflows.compare import load_runs

    runs = [plots.plot_run(r) for r in load_runs([_wide_run(az, tmp_path / "w.nc", 3)])]
    trace = plots.draw("trace", runs, None)
    assert "first 11 of 301 parameters" in trace._suptitle.get_text()
    ess = plots.draw("ess", runs * 2, None)
    assert "40 lowest of 301 parameters" in ess._suptitle.get_text()
    assert len(ess.axes[0].get_xticklabels()) == 40
    forest = plots.draw("forest", runs, None)
    assert "first 11 of 301 parameters" in forest._suptitle.get_text()


def test_pointwise_log_likelihood_of_a_multivariate_observation_has_one_value_per_row() -> None:
    """An MvNormal response (a Python-model spec can have one) has event dims that the
    log-likelihood drops, as PyMC's compute_log_likelihood drops them."""
    import pymc as pm
    import xarray as xr

    from hmdiag.model import BuiltModel
    from hmdiag.sampling.log_density import add_log_likelihood

    rng = np.random.default_rng(0)
    observed = rng.normal(size=(6, 2))
    with pm.Model(coords={"row": range(6), "k": range(2)}) as model:
        mu = pm.Normal("mu", 0, 1, dims="k")
        pm.MvNormal("y", mu=mu, cov=np.eye(2), observed=observed, dims=("row", "k"))
    built = BuiltModel(model=model, free_variables=["mu"], group_terms=[], observed="y")
    posterior = xr.Dataset({"mu": (("chain", "draw", "k"), rng.normal(size=(2, 5, 2)))})
    run = xr.DataTree.from_dict({"posterior": posterior})
    add_log_likelihood(run, built, pm)
    with model:
        reference = pm.stats.compute_log_likelihood(
            run.copy(), progressbar=False, extend_inferencedata=False
        )
    assert run["log_likelihood"]["y"].dims == ("chain", "draw", "row")
    np.testing.assert_allclose(run["log_likelihood"]["y"].values, reference["y"].values)


def test_single_chain_loo_uses_reff_1_as_arviz_stats_does(small_fit: Any) -> None:
    import arviz_stats as azs
    import pymc as pm

    from hmdiag.diagnose.model_fit import psis_loo
    from hmdiag.sampling.log_density import add_log_likelihood

    result = small_fit("mme4")
    one = result.idata.isel(chain=[0])
    add_log_likelihood(one, result.built, pm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = azs.loo(one, pointwise=True)
        got = psis_loo(one)
    np.testing.assert_allclose(got.elpd, expected.elpd, rtol=1e-12)
    np.testing.assert_allclose(got.pareto_k.values, expected.pareto_k.values, rtol=1e-12)


def test_csv_read_in_chunks_keeps_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hmdiag.spec import table as table_module

    csv = _wide_csv(tmp_path)
    lines = csv.read_text().splitlines()
    lines[150] = lines[150].replace(lines[150].split(",")[2], "high", 1)  # x on line 151
    lines.insert(40, "")  # a blank line: line numbers after it move by one
    csv.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(table_module, "READ_CHUNK_ROWS", 7)
    frame = read_table(csv, ["y", "g", "x"])
    assert len(frame) == 200 and list(frame.columns) == ["y", "g", "x"]
    assert frame.index[-1] + 2 == len(lines)  # the last row's physical line
    with pytest.raises(DataError) as err:
        prepare_data(load_spec(_spec(tmp_path)))
    assert "1 value(s) are not (e.g. 'high' at line 152)" in str(err.value)


def test_kernel_summaries_in_slices_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import xarray as xr

    from hmdiag.diagnose import summary as diagnostics

    rng = np.random.default_rng(4)
    posterior = xr.Dataset(
        {
            "w": (("chain", "draw", "a", "b"), rng.normal(size=(2, 100, 7, 5))),
            "m": (("chain", "draw"), rng.normal(size=(2, 100))),
        }
    )
    # Hotspots come from the same pass: every element of w and m scored against 9 divergent
    # draws, on the log scale for m (its draws shifted positive).
    posterior["m"] = np.exp(posterior["m"])
    mask = np.zeros(200, dtype=bool)
    mask[rng.choice(200, 9, replace=False)] = True
    request = diagnostics.HotspotRequest(mask, frozenset({"w", "m"}), None, {"m": "log"})
    whole, whole_spots = diagnostics.summarize_with_kernels(posterior, ["w", "m"], 0.89, request)
    monkeypatch.setattr(diagnostics, "_SUMMARY_SLICE", 3)
    sliced, sliced_spots = diagnostics.summarize_with_kernels(posterior, ["w", "m"], 0.89, request)
    assert [p.name for p in sliced] == [p.name for p in whole]
    assert sliced[0].name == "w[0, 0]" and sliced[5].name == "w[1, 0]"
    assert sliced == whole
    assert sliced_spots == whole_spots and len(whole_spots) == 36
    # ... and equal the hotspots scored on their own (localize_divergences' path).
    alone = diagnostics.localize_hotspots(
        xr.DataTree.from_dict({"posterior": posterior}), ["w", "m"], request
    )
    assert sorted(whole_spots, key=lambda h: h.parameter) == sorted(
        alone, key=lambda h: h.parameter
    )
    m_spot = next(h for h in whole_spots if h.parameter == "m")
    values = np.log(posterior["m"].values.reshape(-1))
    assert m_spot.transform == "log" and m_spot.is_scale
    assert m_spot.quantile == np.mean(values[~mask] <= np.median(values[mask]))
    arviz = diagnostics.summarize_parameters(
        xr.DataTree.from_dict({"posterior": posterior}), ["w", "m"], 0.89, engine="arviz"
    )
    for mine, ref in zip(sliced, arviz, strict=True):
        assert mine.name == ref.name
        np.testing.assert_allclose(
            [mine.mean, mine.sd, mine.hdi_low, mine.hdi_high, mine.ess_bulk, mine.r_hat],
            [ref.mean, ref.sd, ref.hdi_low, ref.hdi_high, ref.ess_bulk, ref.r_hat],
            rtol=1e-8,
        )


def test_a_jax_run_names_its_device_and_check_prints_it(
    small_fit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU is named from JAX's device as nvidia-smi would ("gpu: NVIDIA H200"); the name is
    stored with the run and shown by check, in text and JSON. Runs that lack it show none."""
    import dataclasses

    jax = pytest.importorskip("jax")
    from hmdiag.runs import attach_info, save_run
    from hmdiag.sampling.jax_backend import sampling_device

    class FakeGpu:
        platform = "gpu"
        device_kind = "NVIDIA H200"

    assert sampling_device("nutpie") == "cpu" and sampling_device("pymc") == "cpu"
    assert sampling_device("numpyro") == "cpu"  # JAX's CPU device: kind "cpu", said once
    monkeypatch.setattr(jax, "devices", lambda *a: [FakeGpu()])
    assert sampling_device("blackjax") == "gpu: NVIDIA H200"
    assert sampling_device("nutpie") == "cpu"

    run = small_fit("mme4")
    idata = run.idata.copy()
    attach_info(idata, dataclasses.replace(run.info, device="gpu: NVIDIA H200"))
    save_run(idata, tmp_path / "gpu.nc", force=False)
    text = invoke("check", tmp_path / "gpu.nc")
    assert "sampler nutpie on gpu: NVIDIA H200;" in text.output
    doc = json.loads(invoke("check", tmp_path / "gpu.nc", "--json").stdout)
    assert doc["sampling"]["device"] == "gpu: NVIDIA H200"
    # A run from before the field (or from another tool) has no device: no "on ...".
    for group in ("posterior", "sample_stats"):
        idata[group].attrs.pop("hmdiag_device")
    save_run(idata, tmp_path / "old.nc", force=False)
    assert " on " not in next(
        line
        for line in invoke("check", tmp_path / "old.nc").output.splitlines()
        if "sampler" in line
    )
    assert (
        json.loads(invoke("check", tmp_path / "old.nc", "--json").stdout)["sampling"]["device"]
        is None
    )


def test_element_labels_keep_integer_and_float_coordinates_apart() -> None:
    import xarray as xr

    from hmdiag.diagnose.summary import element_labels

    floats = xr.DataArray(
        np.zeros((1, 2, 2)), dims=("chain", "draw", "w"), coords={"w": [1.0, 2.0]}
    )
    ints = xr.DataArray(np.zeros((1, 2, 2)), dims=("chain", "draw", "w"), coords={"w": [1, 2]})
    assert element_labels("w", floats) == ["w[1.0]", "w[2.0]"]
    assert element_labels("w", ints) == ["w[1]", "w[2]"]
