"""The Python API (hmdiag.fit/check/compare/doctor) and the README's notebook example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hmdiag
from hmdiag.errors import HmdiagError

from .conftest import small_spec

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "hmdiag" / "schemas" / "check-v1.schema.json"


def validate(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_import_hmdiag_stays_light() -> None:
    code = (
        "import sys, hmdiag; heavy = [m for m in ('pymc', 'pytensor', 'arviz_base', 'xarray') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(hmdiag.fit) and callable(hmdiag.compare) and callable(hmdiag.doctor)


def test_check_takes_paths_and_objects_in_memory(saved_runs: dict[str, Path]) -> None:
    from hmdiag.cli import app
    from hmdiag.runs import load_run

    from_path = hmdiag.check(saved_runs["mme0"])
    cli = json.loads(
        __import__("typer.testing")
        .testing.CliRunner()
        .invoke(app, ["check", str(saved_runs["mme0"]), "--json"])
        .stdout
    )
    assert from_path.to_dict() == cli  # the same document as the CLI's --json
    validate(from_path.to_dict())
    in_memory = hmdiag.check(load_run(saved_runs["mme0"]), label="mme0")
    assert in_memory.to_dict()["parameters"] == cli["parameters"]
    assert in_memory.source is None and in_memory.run is not None
    html = in_memory._repr_html_()
    assert html.startswith('<div class="hmdiag"><style>') and "<h2>mme0 " in html
    assert "body{" not in html and ".hmdiag table{" in html  # styles stay inside the fragment
    strict = hmdiag.check(saved_runs["mme4"], thresholds={"max_rhat": 1.0000001})
    assert not strict.verdict.passed and "r_hat" in [c.name for c in strict.verdict.failed()]
    with pytest.raises(HmdiagError, match="unknown threshold 'rhat'"):
        hmdiag.check(saved_runs["mme4"], thresholds={"rhat": 1.1})
    with pytest.raises(HmdiagError, match="cannot read a int as a run"):
        hmdiag.check(3)


def test_check_takes_an_arviz_0x_style_inference_data_and_a_cmdstanpy_fit() -> None:
    cmdstanpy = pytest.importorskip("cmdstanpy")
    fit = cmdstanpy.from_csv(str(ROOT / "tests" / "fixtures" / "cmdstan" / "output_*.csv"))
    report = hmdiag.check(fit, label="schools")
    assert report.diagnosis.label == "schools" and report.diagnosis.chains == 4
    assert {p.variable for p in report.diagnosis.parameters} == {"mu", "tau", "theta_z", "theta"}

    class InferenceData:  # what arviz-base reads of ArviZ 0.x's class: groups() and [group]
        def __init__(self, tree: Any) -> None:
            self._datasets = {name: tree[name].to_dataset() for name in tree.children}

        def groups(self) -> list[str]:
            return list(self._datasets)

        def __getitem__(self, name: str) -> Any:
            return self._datasets[name]

    tree = report.run
    old_style = hmdiag.check(InferenceData(tree))
    assert [p.mean for p in old_style.diagnosis.parameters] == [
        p.mean for p in report.diagnosis.parameters
    ]


def test_fit_compare_and_doctor(tmp_path: Path) -> None:
    spec0 = small_spec("mme0", tmp_path, draws=150, tune=150)
    spec4 = small_spec("mme4", tmp_path, draws=150, tune=150)
    out = tmp_path / "mme4.nc"
    fitted = hmdiag.fit(spec4, out=out)
    assert out.exists() and fitted.source == str(out) and fitted.run is not None
    validate(fitted.to_dict())
    assert hmdiag.check(out).to_dict()["parameters"] == fitted.to_dict()["parameters"]
    with pytest.raises(HmdiagError, match="exists"):
        hmdiag.fit(spec4, out=out)
    again = hmdiag.fit(spec4, seed=fitted.info.seed)  # same spec and seed: same draws
    assert again.to_dict()["parameters"] == fitted.to_dict()["parameters"]
    centered = hmdiag.fit(spec0, chains=2)
    both = hmdiag.compare(centered, fitted.run, labels=["centered", "noncentered"])
    assert both.labels == ["centered", "noncentered"]
    assert [r.diagnosis.label for r in both.reports] == ["centered", "noncentered"]
    doc = both.to_dict()
    assert doc["kind"] == "comparison" and [r["label"] for r in doc["runs"]] == both.labels
    assert "<h2>Comparison</h2>" in both._repr_html_()
    repaired = hmdiag.doctor(spec4, max_attempts=1, runs_dir=tmp_path / "doc")
    assert len(repaired.attempts) == 1 and (tmp_path / "doc" / "mme4-attempt1.nc").exists()
    summary = repaired.to_dict()
    assert summary["passed"] == (repaired.fixed is not None)
    assert summary["attempts"][0]["attempt"] == 1 and "<table>" in repaired._repr_html_()


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- notebook-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its notebook example"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_notebook_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's example, run as written from the repository root (4 x 1000 draws)."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    assert namespace["report"].verdict.passed
    assert namespace["comparison"].labels == ["centered", "non-centered"]


def test_check_takes_a_numpyro_mcmc() -> None:
    """A numpyro MCMC object, converted by arviz-base's from_numpyro."""
    numpyro = pytest.importorskip("numpyro")
    jax = pytest.importorskip("jax")
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    def model() -> None:
        mu = numpyro.sample("mu", dist.Normal(0, 5))
        tau = numpyro.sample("tau", dist.HalfCauchy(5))
        with numpyro.plate("school", 8):
            theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, 10.0), obs=jax.numpy.arange(8.0))

    mcmc = MCMC(
        NUTS(model),
        num_warmup=100,
        num_samples=100,
        num_chains=2,
        progress_bar=False,
        chain_method="sequential",
    )
    mcmc.run(jax.random.PRNGKey(0))
    report = hmdiag.check(mcmc, label="schools")
    assert report.diagnosis.chains == 2 and report.diagnosis.draws == 100
    assert {p.variable for p in report.diagnosis.parameters} == {"mu", "tau", "theta"}
    draws = mcmc.get_samples(group_by_chain=True)["mu"]
    by_name = {p.name: p for p in report.diagnosis.parameters}
    assert by_name["mu"].mean == pytest.approx(float(draws.mean()), rel=1e-6)
    assert report.diagnosis.divergences_total == int(
        mcmc.get_extra_fields(group_by_chain=True)["diverging"].sum()
    )


def test_api_arguments_are_checked_like_the_cli(
    saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    renamed = hmdiag.check(saved_runs["mme0"], label="mine")
    assert renamed.diagnosis.label == "mine"  # over the stored spec name
    one = hmdiag.check(saved_runs["mme0"], var_names="a_bar")  # one name as a string
    assert {p.variable for p in one.diagnosis.parameters} == {"a_bar"}
    with pytest.raises(HmdiagError, match=r"hdi_prob must be between 0 and 1, got 1\.5"):
        hmdiag.check(saved_runs["mme0"], hdi_prob=1.5)
    with pytest.raises(HmdiagError, match="threshold max_rhat must be a number >= 0, got 'abc'"):
        hmdiag.check(saved_runs["mme0"], thresholds={"max_rhat": "abc"})
    # doctor refuses an existing attempt file before sampling anything.
    spec = small_spec("mme4", tmp_path, draws=50, tune=50)
    (tmp_path / "doc").mkdir()
    (tmp_path / "doc" / "mme4-attempt2.nc").write_text("earlier")
    with pytest.raises(HmdiagError, match=r"mme4-attempt2\.nc"):
        hmdiag.doctor(spec, max_attempts=2, runs_dir=tmp_path / "doc")
    assert not (tmp_path / "doc" / "mme4-attempt1.nc").exists()
