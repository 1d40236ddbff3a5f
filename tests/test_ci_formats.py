"""CI conventions: --format github and junit, --quiet on every command, conflicting formats."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hmdiag.cli import app

JUNIT_XSD = Path(__file__).parent / "fixtures" / "schemas" / "junit.xsd"


def invoke(*args: Any, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def checks_of(run: Path) -> list[dict[str, Any]]:
    return json.loads(invoke("check", run, "--json").stdout)["checks"]


@pytest.fixture(scope="module")
def junit_schema() -> Any:
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(JUNIT_XSD)


def test_junit_has_a_test_case_per_check_and_validates(
    saved_runs: dict[str, Path], junit_schema: Any
) -> None:
    result = invoke("check", saved_runs["mme0"], "--format", "junit")
    checks = checks_of(saved_runs["mme0"])
    assert result.exit_code == (1 if any(c["status"] == "fail" for c in checks) else 0)
    junit_schema.validate(result.stdout)
    root = ET.fromstring(result.stdout)
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in checks]
    assert {c.get("classname") for c in cases} == {"hmdiag.mme0"}
    for case, check in zip(cases, checks, strict=True):
        failure = case.find("failure")
        assert (failure is not None) == (check["status"] == "fail")
        if failure is not None:
            assert failure.get("message") == check["message"]
        assert (case.find("skipped") is not None) == (check["status"] == "n/a")
    failed = sum(c["status"] == "fail" for c in checks)
    assert suite.get("failures") == root.get("failures") == str(failed)
    assert suite.get("tests") == str(len(checks)) and suite.get("file") == str(saved_runs["mme0"])


def test_compare_junit_has_a_suite_per_run(saved_runs: dict[str, Path], junit_schema: Any) -> None:
    runs = [saved_runs["mfe"], saved_runs["mme4"]]
    result = invoke("compare", *runs, "--format", "junit")
    junit_schema.validate(result.stdout)
    root = ET.fromstring(result.stdout)
    assert [s.get("name") for s in root.findall("testsuite")] == ["mfe", "mme4"]
    assert root.get("tests") == str(sum(len(checks_of(r)) for r in runs))


def test_github_annotates_failed_checks_and_appends_the_summary(
    saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    run = saved_runs["mme0"]
    checks = checks_of(run)
    result = invoke("check", run, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == sum(c["status"] == "fail" for c in checks)
    assert len(warnings) == sum(c["status"] == "warn" for c in checks)
    for line, check in zip(errors, [c for c in checks if c["status"] == "fail"], strict=True):
        assert line.startswith(f"::error title=hmdiag mme0%3A {check['name']}::")
    assert lines[-1].startswith("mme0: ") and "::" not in lines[-1]
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## hmdiag: `mme0`" in text
    invoke("check", run, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text().count("## hmdiag: `mme0`") == 2  # appended, not replaced


def test_github_escapes_workflow_command_characters(small_fit: Any) -> None:
    from hmdiag.diagnose.checks import Thresholds
    from hmdiag.diagnose.report import assess
    from hmdiag.render.ci import github_annotations

    fit = small_fit("mme0")
    report = assess(fit.idata, fit.info, Thresholds())
    check = replace(report.verdict.checks[0], status="fail", message="50% bad\nsee: a, b")
    report = replace(report, verdict=replace(report.verdict, checks=[check], advice=[]))
    (line,) = github_annotations([report], file="configs/x,y.yaml")
    assert line == (
        f"::error file=configs/x%2Cy.yaml,title=hmdiag mme0%3A {check.name}::50%25 bad%0Asee: a, b"
    )


def test_two_output_formats_are_refused(saved_runs: dict[str, Path]) -> None:
    result = invoke("check", saved_runs["mme4"], "--json", "--format", "junit")
    assert result.exit_code == 2
    assert "choose one output format, not json, junit" in result.output
    same = invoke("check", saved_runs["mme4"], "--json", "--format", "json")
    assert same.exit_code in (0, 1) and json.loads(same.stdout)["run"]["label"] == "mme4"
    bad = invoke("check", saved_runs["mme4"], "--format", "xml")
    assert bad.exit_code == 2 and "'xml' is not one of" in bad.output


def test_quiet_prints_the_verdict_only(saved_runs: dict[str, Path], tmp_path: Path) -> None:
    for name in ("mfe", "mme0"):
        result = invoke("check", saved_runs[name], "--quiet")
        failed = [c["name"] for c in checks_of(saved_runs[name]) if c["status"] == "fail"]
        expected = f"{name}: FAIL ({', '.join(failed)})" if failed else f"{name}: PASS"
        assert result.stdout.splitlines() == [expected]
        assert result.exit_code == (1 if failed else 0)
    pair = invoke("compare", saved_runs["mfe"], saved_runs["mme4"], "-q")
    assert [line.split(":")[0] for line in pair.stdout.splitlines()] == ["mfe", "mme4"]
    report = invoke("report", saved_runs["mfe"], "-o", tmp_path / "r.html", "--quiet")
    assert report.stdout.splitlines()[0].startswith("mfe: ") and (tmp_path / "r.html").exists()
    plots = invoke("plot", saved_runs["mfe"], "-k", "trace", "-o", tmp_path / "p", "--quiet")
    assert plots.exit_code == 0 and plots.stdout == ""
    assert (tmp_path / "p" / "mfe-trace.png").exists()


def test_validate_quiet(tmp_path: Path) -> None:
    from .conftest import small_spec

    spec = small_spec("mme4", tmp_path)
    result = invoke("validate", spec, "--quiet")
    assert result.exit_code == 0 and result.stdout == f"{spec}: valid\n"


def test_every_command_accepts_quiet() -> None:
    command: Any = typer.main.get_command(app)
    assert len(command.commands) >= 10
    missing = [
        name
        for name, sub in command.commands.items()
        if not any("--quiet" in p.opts for p in sub.params)
    ]
    assert missing == []
    for name in ("fit", "check", "compare"):
        options = {o for p in command.commands[name].params for o in p.opts}
        assert {"--format", "--json", "--markdown", "--quiet", "-q"} <= options


def test_fit_github_points_annotations_at_the_spec(tmp_path: Path) -> None:
    from .conftest import small_spec

    spec = small_spec("mme0", tmp_path, draws=100, tune=100)
    result = invoke(
        "fit", spec, "-o", tmp_path / "r.nc", "--format", "github", env={"GITHUB_STEP_SUMMARY": ""}
    )
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    escaped = str(spec).replace(":", "%3A").replace(",", "%2C")
    assert result.exit_code == (1 if annotations else 0)
    assert all(
        re.match(rf"::(error|warning) file={re.escape(escaped)},title=", a) for a in annotations
    )


def test_validate_takes_several_specs_and_reports_every_bad_one(tmp_path: Path) -> None:
    """As a pre-commit hook: every file is checked, each bad one named, exit 2 if any."""
    from .conftest import small_spec

    good = small_spec("mme4", tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nresponse: [\n")
    missing = tmp_path / "missing.yaml"
    result = invoke("validate", good, broken, missing, "--quiet")
    assert result.exit_code == 2
    assert f"{good}: valid" in result.stdout
    assert str(broken) in result.stderr and f"{missing}: file not found" in result.stderr
    assert invoke("validate", good, good, "-q").stdout == f"{good}: valid\n" * 2


def test_the_ci_examples_use_real_commands_and_flags() -> None:
    """docs/ci: YAML that parses, and every hmdiag command line in it names a command and
    options that exist."""
    import shlex

    import yaml

    group: Any = typer.main.get_command(app)
    seen = 0
    for path in sorted((Path(__file__).parents[1] / "docs" / "ci").glob("*.y*ml")):
        text = path.read_text()
        yaml.safe_load(text)
        for line in text.splitlines():
            match = re.search(r"(?:run:|-|entry:)\s+(hmdiag\s[^#>]*)", line)
            if not match:
                continue
            words = shlex.split(match.group(1))
            command = group.commands[words[1]]
            options = {o for p in command.params for o in p.opts}
            flags = [w for w in words[2:] if w.startswith("-")]
            assert set(flags) <= options, (path.name, line)
            seen += 1
    assert seen >= 6


def test_compare_github_warns_about_the_ranking(saved_runs: dict[str, Path]) -> None:
    runs = [saved_runs["mme0"], saved_runs["mme4"]]
    doc = json.loads(invoke("compare", *runs, "--json").stdout)
    expected = doc["warnings"] + doc["pareto_k_warnings"]
    lines = invoke("compare", *runs, "--format", "github", env={"GITHUB_STEP_SUMMARY": ""}).stdout
    warned = [
        line for line in lines.splitlines() if line.startswith("::warning title=hmdiag compare::")
    ]
    assert len(warned) == len(expected)
    for line, message in zip(warned, expected, strict=True):
        assert line.endswith(message.replace("%", "%25"))
