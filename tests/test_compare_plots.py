"""compare, plot and report: tables, JSON, files and their content."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.render.plots import KINDS
from hmdiag.workflows.compare import compare_runs, load_runs, unique_labels

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def assert_png(path: Path, min_bytes: int = 5000) -> None:
    """``path`` is a PNG that decodes to a sizeable picture with something drawn on it."""
    import numpy as np
    from matplotlib import image

    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > min_bytes, path
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] >= 200 and pixels.shape[1] >= 300, pixels.shape
    assert float(np.std(pixels[..., :3])) > 0.01, f"{path} is blank"


def test_unique_labels() -> None:
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]


def test_compare_aligns_centered_and_non_centered_effects(saved_runs: dict[str, Path]) -> None:
    runs = load_runs([saved_runs["mme0"], saved_runs["mme4"]])
    comparison = compare_runs(runs)
    assert comparison.labels == ["mme0", "mme4"]
    names = [row.name for row in comparison.parameters]
    assert names == ["a_bar", "a[1]", "a[2]", "a[3]", "sigma"]  # z exists only in mme4: not shared
    row = next(r for r in comparison.parameters if r.name == "a[1]")
    mme0_a1 = next(p for p in runs[0].report.diagnosis.parameters if p.name == "a[1]")
    mme4_a1 = next(p for p in runs[1].report.diagnosis.parameters if p.name == "a[1]")
    assert row.cells[0].mean == mme0_a1.mean and row.cells[1].mean == mme4_a1.mean
    assert row.cells[0].ess_ratio == 1.0
    assert row.cells[1].ess_ratio == pytest.approx(mme4_a1.ess_bulk / mme0_a1.ess_bulk)
    assert [r.label for r in comparison.loo] and comparison.loo_skipped is None
    assert {r.label for r in comparison.loo} == {"mme0", "mme4"}
    assert sum(r.weight for r in comparison.loo) == pytest.approx(1.0)


def test_compare_shows_shrinkage_of_district_3(saved_runs: dict[str, Path]) -> None:
    comparison = compare_runs(load_runs([saved_runs["mfe"], saved_runs["mme4"]]))
    row = next(r for r in comparison.parameters if r.name == "a[3]")
    fixed, pooled = row.cells
    # 2 women, both users: no pooling puts a[3] well above 0; partial pooling pulls it to a_bar.
    assert fixed.mean > 0.8 and pooled.mean < 0 and pooled.sd < fixed.sd


def test_compare_cli_json_markdown_and_plot(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    plot = tmp_path / "ess.png"
    result = invoke("compare", saved_runs["mme0"], saved_runs["mme4"], "--json", "--plot", plot)
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "comparison" and [r["label"] for r in doc["runs"]] == ["mme0", "mme4"]
    a1 = next(p for p in doc["parameters"] if p["name"] == "a[1]")
    assert set(a1["runs"]) == {"mme0", "mme4"} and a1["runs"]["mme4"]["ess_ratio"] > 0
    assert plot.read_bytes().startswith(PNG_MAGIC)
    md = invoke("compare", saved_runs["mme0"], saved_runs["mme4"], "--markdown").stdout
    assert md.startswith("## hmdiag compare") and "| `mme0` | `mme4` |" in md
    assert "| a[3] | mean |" in md and "elpd_loo" in md
    human = invoke("compare", saved_runs["mme0"], saved_runs["mme4"]).stdout
    assert "PSIS-LOO" in human and "ESS ratio to the first run" in human


def test_compare_exit_codes(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    assert invoke("compare", saved_runs["mme4"]).exit_code == 2
    bad = tmp_path / "bad.nc"
    bad.write_text("nope")
    result = invoke("compare", saved_runs["mme4"], bad)
    assert result.exit_code == 2 and "not a NetCDF file" in result.output
    plot = tmp_path / "exists.png"
    plot.write_text("keep")
    result = invoke("compare", saved_runs["mfe"], saved_runs["mme4"], "--plot", plot)
    assert result.exit_code == 2 and plot.read_text() == "keep"


def test_compare_skips_loo_without_log_likelihood(
    az: Any, arviz_example: Any, saved_runs: dict[str, Path]
) -> None:
    comparison = compare_runs(load_runs([saved_runs["mme4"], arviz_example("centered_eight")]))
    assert comparison.loo == [] and "not for the same observations" in comparison.loo_skipped
    assert comparison.parameters == []


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "ppc"])  # ppc: see below
def test_every_plot_kind_writes_a_png(
    kind: str, saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke("plot", saved_runs["mme0"], "--kind", kind, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    files = list(tmp_path.glob("*.png"))
    assert [f.name for f in files] == [f"mme0-{kind}.png"]
    assert_png(files[0])


def test_plot_all_for_several_runs_and_no_clobber(
    saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke("plot", saved_runs["mfe"], saved_runs["mme4"], "--out", tmp_path, "--var", "a")
    assert result.exit_code == 0, result.output
    names = sorted(f.name for f in tmp_path.glob("*.png"))
    assert "forest-mfe-mme4.png" in names and "ess-mfe-mme4.png" in names
    assert {"mfe-rank.png", "mme4-rank.png", "mfe-pair.png", "mme4-trace.png"} <= set(names)
    for name in names:
        assert_png(tmp_path / name)
    again = invoke("plot", saved_runs["mfe"], saved_runs["mme4"], "--out", tmp_path)
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert invoke("plot", saved_runs["mfe"], "--kind", "violin", "--out", tmp_path).exit_code == 2


def test_pair_plot_marks_divergences(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    import numpy as np

    from hmdiag.render import plot_kit, plots

    run = plots.plot_run(load_runs([saved_runs["mme0"]])[0])
    diverging = run.idata["sample_stats"]["diverging"].values
    n_div = int(diverging.sum())
    assert n_div > 0, "the small centered run is expected to diverge"
    fig = plots.draw("pair", [run], None)
    assert f"red = {n_div} divergent draws" in fig.get_suptitle()

    def red_points(ax: Any) -> np.ndarray:
        # arviz-plots scatters divergences per chain: one red collection per chain and panel
        found = [
            c.get_offsets()
            for c in ax.collections
            if len(c.get_facecolor()) and np.allclose(c.get_facecolor()[0][:3], (1, 0, 0))
        ]
        return np.concatenate(found) if found else np.empty((0, 2))

    marked = [ax for ax in fig.axes if len(red_points(ax))]
    n_params = 5  # a_bar, sigma, a[1], a[2], a[3]: every pair in the lower triangle
    assert len(marked) == n_params * (n_params - 1) // 2
    assert all(len(red_points(ax)) == n_div for ax in marked)
    # the sigma-vs-a_bar panel marks exactly the divergent draws
    panel = next(ax for ax in marked if ax.get_ylabel() == "sigma")
    post = run.idata["posterior"]
    expected = np.column_stack([post["a_bar"].values[diverging], post["sigma"].values[diverging]])
    np.testing.assert_allclose(
        np.sort(red_points(panel), axis=0), np.sort(expected, axis=0), rtol=1e-12
    )
    plot_kit.save_figure(fig, tmp_path / "pair.png", force=False)
    assert_png(tmp_path / "pair.png")
    # --var with one scalar (as hmdiag's advice suggests): paired with the other parameters
    alone = plots.draw("pair", [run], ["a_bar"])
    assert f"red = {n_div} divergent draws" in alone.get_suptitle()
    assert "a_bar" in {ax.get_xlabel() for ax in alone.axes}
    assert sum(len(red_points(ax)) for ax in alone.axes) == n_div * 10  # 5 parameters: 10 pairs
    plot_kit.figure_png(alone)


def test_forest_overlays_runs_with_89_percent_hdi(saved_runs: dict[str, Path]) -> None:
    import numpy as np
    from arviz_stats import hdi

    from hmdiag.render import plot_kit, plots

    runs = [plots.plot_run(r) for r in load_runs([saved_runs["mme0"], saved_runs["mme4"]])]
    fig = plots.draw("forest", runs, ["a_bar"])
    assert "89% HDI" in fig.get_suptitle()
    legend = fig.legends[0] if fig.legends else next(ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in legend.get_texts()] == ["mme0", "mme4"]
    # one thin 89% line and one thick 50% line per run, at arviz-stats' HDI bounds
    lines = [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata()) == 2]
    for run in runs:
        draws = run.idata["posterior"]["a_bar"].values.reshape(-1)
        for prob in (0.89, 0.5):
            bounds = np.asarray(hdi(draws, prob=prob))
            assert any(np.allclose(line.get_xdata(), bounds) for line in lines), (run.label, prob)
    plot_kit.figure_png(fig)


@pytest.mark.parametrize(
    "stem",
    [
        "hmdiag01_pymc_mme4",
        "hmdiag01_nutpie_mme0",
        "nutpie_raw_mme0",
        "stan_names_eight_schools",
    ],
)
def test_legacy_runs_plot(stem: str, tmp_path: Path) -> None:
    from hmdiag.render import plots

    path = Path(__file__).parent / "fixtures" / "legacy" / f"{stem}.nc"
    result = invoke("plot", path, "--out", tmp_path)  # all kinds; no ppc in these runs
    assert result.exit_code == 0, result.output
    names = sorted(f.name for f in tmp_path.glob("*.png"))
    assert len(names) == len(KINDS) - 1 and not any(n.endswith("-ppc.png") for n in names)
    for name in names:
        assert_png(tmp_path / name)
    if stem == "stan_names_eight_schools":  # divergent__ (0/1 ints) read as the divergences
        run = plots.plot_run(load_runs([path])[0])
        assert "red = 9 divergent draws" in plots.draw("pair", [run], None).get_suptitle()


def test_report_is_self_contained_html(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", saved_runs["mme0"], saved_runs["mme4"], "--out", out)
    assert result.exit_code in (0, 1), result.output
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from the network
    assert "<h2>Comparison</h2>" in text and "Divergence hotspots" in text and "Advice" in text
    assert ">mme0 <span" in text and ">mme4 <span" in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 6
    assert all(base64.b64decode(img).startswith(PNG_MAGIC) for img in images)
    assert invoke("report", saved_runs["mme4"], "--out", out).exit_code == 2  # no clobber


def test_ppc_plot_needs_a_posterior_predictive(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    from .conftest import small_spec

    result = invoke("plot", saved_runs["mme4"], "--kind", "ppc", "--out", tmp_path)
    assert result.exit_code == 2 and "fit it with hmdiag fit --ppc" in result.output
    spec = small_spec("mme4", tmp_path, draws=100, tune=100)
    run = tmp_path / "ppc.nc"
    assert invoke("fit", spec, "--ppc", "--out", run, "--quiet").exit_code in (0, 1)
    from hmdiag.runs import load_run

    idata = load_run(run)
    assert idata["posterior_predictive"]["use_contraception"].shape == (2, 100, 139)
    result = invoke("plot", run, "--kind", "ppc", "--out", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "plots" / "mme4-ppc.png")


def test_loo_recomputed_from_spec_and_data_equals_the_stored_pointwise_one(
    tmp_path: Path,
) -> None:
    """Runs keep only the per-draw log-likelihood total by default; compare recomputes the
    pointwise values from the spec and data the run carries, to the same LOO."""
    from .conftest import small_spec

    runs = {}
    for name in ("mme0", "mme4"):
        spec = small_spec(name, tmp_path)
        for flag in ([], ["--loglik"]):
            out = tmp_path / f"{name}{'-ll' if flag else ''}.nc"
            result = invoke("fit", spec, "--out", out, "--quiet", *flag)
            assert result.exit_code in (0, 1), result.output
            runs[(name, bool(flag))] = out
    stored = compare_runs(load_runs([runs[("mme0", True)], runs[("mme4", True)]]))
    rebuilt = compare_runs(load_runs([runs[("mme0", False)], runs[("mme4", False)]]))
    assert rebuilt.loo_skipped is None and len(rebuilt.loo) == 2
    for a, b in zip(stored.loo, rebuilt.loo, strict=True):
        assert a.label == b.label and a.elpd_loo == pytest.approx(b.elpd_loo, rel=1e-12)
    small = runs[("mme4", False)].stat().st_size
    assert small < runs[("mme4", True)].stat().st_size


def test_loo_says_why_when_the_data_file_is_gone(tmp_path: Path) -> None:
    import shutil

    import yaml

    from .conftest import small_spec

    spec = small_spec("mme4", tmp_path)
    raw = yaml.safe_load(spec.read_text())
    data = tmp_path / "copy.csv"
    shutil.copy(raw["data"]["path"], data)
    raw["data"]["path"] = str(data)
    spec.write_text(yaml.safe_dump(raw))
    outs = [tmp_path / "a.nc", tmp_path / "b.nc"]
    for out in outs:
        assert invoke("fit", spec, "--out", out, "--quiet").exit_code in (0, 1)
    data.unlink()
    comparison = compare_runs(load_runs(outs))
    assert comparison.loo == []
    assert f"its data file {data} is gone" in comparison.loo_skipped
    assert "--loglik" in comparison.loo_skipped
