"""compare and report warn when a run ranked by PSIS-LOO failed its own checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from hmdiag.cli import app
from hmdiag.diagnose.checks import CheckResult
from hmdiag.workflows.compare import (
    LooRow,
    _pareto_k_warnings,
    _ranking_warnings,
    compare_runs,
    failed_check_summary,
    load_runs,
)

runner = CliRunner()

# Lenient enough that any small Bangladesh run passes: the "all runs pass" case.
LENIENT = {
    "max_rhat": 1.5,
    "min_ess_per_chain": 1,
    "max_divergences": 1_000_000,
    "max_treedepth_hits": 1_000_000,
    "min_bfmi": 0.0,
}


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def _expected_phrase(label: str, rank: int, top_rank: int) -> str:
    return (
        f"{label} is ranked first but failed its checks"
        if rank == top_rank
        else f"{label} (rank {rank}) failed its checks"
    )


@pytest.fixture(scope="module")
def lenient_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small mfe and mme4 runs whose stored specs carry lenient ``checks:``: both pass."""
    import yaml

    from .conftest import small_spec

    folder = tmp_path_factory.mktemp("lenient")
    paths = {}
    for name in ("mfe", "mme4"):
        spec = small_spec(name, folder, draws=200, tune=200)
        raw = yaml.safe_load(spec.read_text())
        raw["checks"] = {**(raw.get("checks") or {}), **LENIENT}
        spec.write_text(yaml.safe_dump(raw, sort_keys=False))
        paths[name] = folder / f"{name}.nc"
        result = invoke("fit", spec, "--out", paths[name], "--quiet")
        assert result.exit_code == 0, result.output
    return paths


def test_failed_check_summary_names_the_numbers() -> None:
    div = CheckResult("divergences", "fail", 298, 0, "298 divergent transitions")
    assert failed_check_summary(div) == "298 divergences"
    one = CheckResult("divergences", "fail", 1, 0, "")
    assert failed_check_summary(one) == "1 divergence"
    allowed = CheckResult("divergences", "fail", 12, 5, "")
    assert failed_check_summary(allowed) == "12 divergences > 5"
    rhat = CheckResult("r_hat", "fail", 1.0412, 1.01, "", "sigma")
    assert failed_check_summary(rhat) == "r_hat 1.041 > 1.01"
    ess = CheckResult("ess_tail", "fail", 53.6, 400, "", "sigma")
    assert failed_check_summary(ess) == "ess_tail 54 < 400"
    bfmi = CheckResult("e_bfmi", "fail", 0.21, 0.3, "")
    assert failed_check_summary(bfmi) == "E-BFMI 0.21 < 0.3"
    depth = CheckResult("tree_depth", "fail", 7, 0, "")
    assert failed_check_summary(depth) == "7 max-tree-depth hits"


def _row(label: str, rank: int, passed: bool, bad_k: int = 0) -> LooRow:
    return LooRow(
        label=label,
        rank=rank,
        elpd_loo=-80.0 - rank,
        se=5.0,
        elpd_diff=-float(rank),
        dse=0.5,
        p_loo=2.0,
        weight=1.0 if rank == 0 else 0.0,
        max_pareto_k=0.9 if bad_k else 0.2,
        bad_pareto_k=bad_k,
        warning=bool(bad_k),
        checks_passed=passed,
        failed_checks=[] if passed else ["divergences"],
    )


def _fake_report(passed: bool) -> Any:
    failed = [] if passed else [CheckResult("divergences", "fail", 298, 0, "")]
    return SimpleNamespace(verdict=SimpleNamespace(passed=passed, failed=lambda: failed))


def test_ranking_warning_wording_for_top_and_lower_ranked_runs() -> None:
    reports = {"bad": _fake_report(False), "good": _fake_report(True)}
    top_bad = _ranking_warnings([_row("bad", 0, False), _row("good", 1, True)], reports)
    assert len(top_bad) == 1
    assert top_bad[0].startswith("bad is ranked first but failed its checks (298 divergences)")
    assert "elpd_loo estimate is not trustworthy" in top_bad[0]
    assert "do not use this ranking to pick bad until it samples cleanly" in top_bad[0]
    assert "best-ranked run that passed its checks: good" in top_bad[0]
    low_bad = _ranking_warnings([_row("good", 0, True), _row("bad", 1, False)], reports)
    assert len(low_bad) == 1 and low_bad[0].startswith("bad (rank 1) failed its checks")
    assert "ranked first" not in low_bad[0]
    assert _ranking_warnings([_row("good", 0, True), _row("good2", 1, True)], reports) == []
    assert _ranking_warnings([], reports) == []


def test_pareto_k_warnings_are_kept_separate() -> None:
    rows = [_row("good", 0, True, bad_k=3), _row("other", 1, True)]
    reports = {"good": _fake_report(True), "other": _fake_report(True)}
    assert _ranking_warnings(rows, reports) == []
    assert _pareto_k_warnings(rows) == [
        "good: 3 observation(s) with Pareto k > 0.7; its LOO estimate is unreliable"
    ]


def test_compare_flags_the_failing_centered_run(saved_runs: dict[str, Path]) -> None:
    runs = load_runs([saved_runs["mme0"], saved_runs["mme4"]])
    comparison = compare_runs(runs)
    mme0 = runs[0].report
    assert not mme0.verdict.passed  # the small centered run diverges
    row = next(r for r in comparison.loo if r.label == "mme0")
    assert row.checks_passed is False
    assert row.failed_checks == [c.name for c in mme0.verdict.failed()]
    mme0_warnings = [w for w in comparison.warnings if w.startswith("mme0")]
    assert len(mme0_warnings) == 1
    top = min(r.rank for r in comparison.loo)
    assert _expected_phrase("mme0", row.rank, top) in mme0_warnings[0]
    n_div = mme0.diagnosis.divergences_total
    assert f"{n_div} divergence" in mme0_warnings[0]
    for check in mme0.verdict.failed():
        assert failed_check_summary(check) in mme0_warnings[0]
    # mme4's own verdict decides whether it is warned about: never on mme0's account
    mme4_row = next(r for r in comparison.loo if r.label == "mme4")
    assert mme4_row.checks_passed == runs[1].report.verdict.passed
    assert any(w.startswith("mme4") for w in comparison.warnings) != mme4_row.checks_passed


def test_no_warning_when_every_ranked_run_passes(saved_runs: dict[str, Path]) -> None:
    runs = load_runs([saved_runs["mme0"], saved_runs["mme4"]], overrides=LENIENT)
    assert all(r.report.verdict.passed for r in runs)
    comparison = compare_runs(runs)
    assert comparison.loo and all(r.checks_passed and not r.failed_checks for r in comparison.loo)
    assert comparison.warnings == []


def test_compare_cli_warns_in_text_json_and_markdown(saved_runs: dict[str, Path]) -> None:
    mme0, mme4 = saved_runs["mme0"], saved_runs["mme4"]
    result = invoke("compare", mme0, mme4, "--json")
    assert result.exit_code == 1, result.output  # unchanged: a failing run means exit 1
    doc = json.loads(result.stdout)
    # schema v1 stays additive: the old keys are all still there
    assert {"schema_version", "kind", "runs", "parameters", "loo", "loo_skipped", "notes"} <= set(
        doc
    )
    assert doc["schema_version"] == 1 and doc["kind"] == "comparison"
    rows = {r["label"]: r for r in doc["loo"]}
    assert rows["mme0"]["checks_passed"] is False
    assert "divergences" in rows["mme0"]["failed_checks"]
    assert rows["mme0"]["failed_checks"] == next(
        r["failed_checks"] for r in doc["runs"] if r["label"] == "mme0"
    )
    for key in ("rank", "elpd_loo", "elpd_diff", "weight", "max_pareto_k", "warning"):
        assert key in rows["mme0"]
    top = min(r["rank"] for r in doc["loo"])
    phrase = _expected_phrase("mme0", rows["mme0"]["rank"], top)
    warned = [w for w in doc["warnings"] if w.startswith("mme0")]
    assert len(warned) == 1 and phrase in warned[0]
    assert re.search(r"\b\d+ divergences?\b", warned[0])
    assert "not trustworthy" in warned[0] and "until it samples cleanly" in warned[0]
    assert isinstance(doc["pareto_k_warnings"], list)
    assert not any("failed its checks" in w for w in doc["pareto_k_warnings"])

    text = invoke("compare", mme0, mme4)
    assert text.exit_code == 1
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("warning: mme0"))
    assert line == f"warning: {warned[0]}"
    assert "checks" in text.stdout and "FAIL" in text.stdout

    md = invoke("compare", mme0, mme4, "--markdown")
    assert md.exit_code == 1
    assert f"> **warning:** {warned[0]}" in md.stdout
    assert "| max Pareto k | checks |" in md.stdout
    assert re.search(r"\| `mme0` \|.*\| \*\*FAIL\*\*: divergences", md.stdout)


def test_compare_cli_silent_and_exit_0_when_all_pass(lenient_runs: dict[str, Path]) -> None:
    mfe, mme4 = lenient_runs["mfe"], lenient_runs["mme4"]
    result = invoke("compare", mfe, mme4, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["loo"] and all(r["checks_passed"] for r in doc["loo"])
    assert all(r["failed_checks"] == [] for r in doc["loo"])
    assert doc["warnings"] == []
    text = invoke("compare", mfe, mme4)
    assert text.exit_code == 0
    assert "failed its checks" not in text.stdout and "FAIL" not in text.stdout
    md = invoke("compare", mfe, mme4, "--markdown")
    assert md.exit_code == 0 and "**warning:**" not in md.stdout


def test_report_warns_in_html_and_terminal(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", saved_runs["mme0"], saved_runs["mme4"], "--out", out)
    assert result.exit_code == 1, result.output  # unchanged: mme0 fails its checks
    html = out.read_text()
    alerts = re.findall(r'<p class="alert"><strong>Warning:</strong> ([^<]*)</p>', html)
    mme0_alerts = [a for a in alerts if a.startswith("mme0")]
    assert len(mme0_alerts) == 1
    assert "failed its checks" in mme0_alerts[0] and "divergence" in mme0_alerts[0]
    assert "not trustworthy" in mme0_alerts[0]
    # the alert sits with the ranking, and mme0's row is marked failed
    loo = html[html.index("<h3>PSIS-LOO</h3>") :]
    assert loo.index('class="alert"') < loo.index("<table>")
    assert re.search(r'<tr class="bad"><td>\d+</td><td>mme0</td>', loo)
    assert "warning: mme0" in result.stdout and "failed its checks" in result.stdout


def test_report_without_warnings_when_all_pass(
    lenient_runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", lenient_runs["mfe"], lenient_runs["mme4"], "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<h3>PSIS-LOO</h3>" in html and 'class="alert"' not in html
    assert "failed its checks" not in html and "failed its checks" not in result.stdout
    # Pareto-k caveats (mfe has a few high-k observations) stay, in their own style
    pareto = re.findall(r"warning: (.*Pareto k.*)", result.stdout)
    assert len(pareto) == html.count('<p class="alert pareto">')
