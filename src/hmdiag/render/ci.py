"""CI renderers: GitHub workflow annotations and JUnit XML, one entry per check per run.

GitHub Actions turns ``::error title=...::message`` lines on stdout into annotations on the
run (and on ``file=`` when given); the job summary is Markdown appended to the file named by
``$GITHUB_STEP_SUMMARY``. JUnit XML is what GitLab, Jenkins and most CI systems read as test
results: here every run is a ``<testsuite>`` and every check a ``<testcase>``, with a
``<failure>`` for a failed check and ``<skipped>`` for one that could not be computed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from hmdiag.diagnose.report import RunReport

# GitHub's workflow-command escapes: data escapes % and line breaks, properties also : and ,.
_DATA_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY_ESCAPES = {**_DATA_ESCAPES, ":": "%3A", ",": "%2C"}
ANNOTATION_LEVELS = {"fail": "error", "warn": "warning", "n/a": "notice"}


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(ch, ch) for ch in text)


def github_annotations(reports: Sequence[RunReport], file: str | None = None) -> list[str]:
    """One ``::error`` line per failed check and one ``::warning`` per warning, each titled
    with the run and the check, the advice's first step in the message; ``file`` (a spec
    path) attaches them to that file in the workflow's view."""
    lines = []
    for report in reports:
        label = report.diagnosis.label
        advice = report.verdict.advice[0].action if report.verdict.advice else None
        for check in report.verdict.checks:
            level = ANNOTATION_LEVELS.get(check.status)
            if level is None:
                continue
            title = f"hmdiag {label}: {check.name}"
            message = check.message + (f". Next: {advice}" if advice and level == "error" else "")
            where = f"file={_escape(file, _PROPERTY_ESCAPES)}," if file else ""
            lines.append(
                f"::{level} {where}title={_escape(title, _PROPERTY_ESCAPES)}::"
                f"{_escape(message, _DATA_ESCAPES)}"
            )
    return lines


def github_warnings(messages: Sequence[str]) -> list[str]:
    """``::warning`` lines for caveats that are not a check (the LOO ranking warnings)."""
    return [
        f"::warning title={_escape('hmdiag compare', _PROPERTY_ESCAPES)}::"
        f"{_escape(m, _DATA_ESCAPES)}"
        for m in messages
    ]


def junit_xml(reports: Sequence[RunReport], extra: Sequence[ET.Element] = ()) -> str:
    """A JUnit XML document: ``<testsuites>`` with a ``<testsuite>`` per run and a
    ``<testcase>`` per check (classname ``hmdiag.<run>``); a failed check has a
    ``<failure>`` with its message and the advice, an uncomputable one a ``<skipped>``.
    ``extra`` suites (the baseline gate's) are appended and counted."""
    root = ET.Element("testsuites", name="hmdiag")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for report in reports:
        label = report.diagnosis.label
        checks = report.verdict.checks
        failures = sum(c.status == "fail" for c in checks)
        skipped = sum(c.status == "n/a" for c in checks)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=label,
            tests=str(len(checks)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
        )
        if report.diagnosis.sampling_seconds is not None:
            suite.set("time", f"{report.diagnosis.sampling_seconds:.3f}")
        if report.source:
            suite.set("file", report.source)
        steps = "\n".join(f"- {a.action}" for a in report.verdict.advice)
        for check in checks:
            case = ET.SubElement(suite, "testcase", name=check.name, classname=f"hmdiag.{label}")
            if check.status == "fail":
                failure = ET.SubElement(case, "failure", message=check.message, type=check.name)
                detail = [check.message]
                if check.worst:
                    detail.append(f"worst: {check.worst}")
                if steps:
                    detail.append("advice:\n" + steps)
                failure.text = "\n".join(detail)
            elif check.status == "n/a":
                ET.SubElement(case, "skipped", message=check.message)
            elif check.status == "warn":
                ET.SubElement(case, "system-out").text = f"warning: {check.message}"
        totals["tests"] += len(checks)
        totals["failures"] += failures
        totals["skipped"] += skipped
    for suite in extra:
        root.append(suite)
        totals["tests"] += int(suite.get("tests", "0"))
        totals["failures"] += int(suite.get("failures", "0"))
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def github_error(message: str, hint: str | None, command: str) -> str:
    """The ``::error`` annotation for a command that could not run (exit 2)."""
    text = message + (f". Hint: {hint}" if hint else "")
    return (
        f"::error title={_escape(f'hmdiag {command}', _PROPERTY_ESCAPES)}::"
        f"{_escape(text, _DATA_ESCAPES)}"
    )


def junit_error(message: str, hint: str | None, command: str) -> str:
    """A JUnit document whose one test case holds an ``<error>``: the input could not be
    read, so no check ran (CI systems show it as an errored test, not a missing file)."""
    root = ET.Element("testsuites", name="hmdiag", tests="1", failures="0", errors="1")
    suite = ET.SubElement(
        root, "testsuite", name=f"hmdiag {command}", tests="1", failures="0", errors="1"
    )
    suite.set("skipped", "0")
    case = ET.SubElement(suite, "testcase", name="input", classname=f"hmdiag.{command}")
    error = ET.SubElement(case, "error", message=message, type="bad_input")
    error.text = message + (f"\nhint: {hint}" if hint else "")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
