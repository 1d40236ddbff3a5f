"""`hmdiag report --interactive` without a browser: one self-contained file with BokehJS
inlined and the linked views; the static report stays the default (the browser test,
tests/test_browser.py, checks the rendering, the linked selection and that nothing is fetched)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from hmdiag.cli import app

runner = CliRunner()


def test_interactive_report_inlines_bokeh_and_keeps_the_tables(
    saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "i.html"
    result = runner.invoke(
        app,
        [
            "report",
            str(saved_runs["mme0"]),
            str(saved_runs["mme4"]),
            "--interactive",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output  # mme0 fails its checks
    text = out.read_text()
    assert "BEGIN bokeh.min.js" in text and "<figure><img" not in text
    assert not re.search(r"<script[^>]+src=", text)  # no external script
    assert text.count("hmdiag-draws") >= 2  # a linked source per run
    assert "<h3>Checks</h3>" in text and out.stat().st_size < 5 * 1024 * 1024
    static = tmp_path / "s.html"
    plain = runner.invoke(app, ["report", str(saved_runs["mme4"]), "-o", str(static)])
    assert plain.exit_code in (0, 1), plain.output
    assert "<figure><img" in static.read_text()
    assert "bokeh.min.js" not in static.read_text()
