"""The HTML report in a real browser: headless Chromium driven through chromedriver.

`make test` installs Debian's `chromium` and `chromium-driver` when they are missing
(scripts/install-browser); without them these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hmdiag.cli import app

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs chromium and chromedriver (Debian: chromium chromium-driver; "
    "make test installs them with scripts/install-browser)",
)


@pytest.fixture(scope="module")
def browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    # Console messages and every network request the page makes.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def requests_made(driver: Any) -> list[str]:
    """URLs the page asked for, from Chrome's performance log (Network.requestWillBeSent)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_report_renders_with_its_images_badges_and_advice(
    saved_runs: dict[str, Path], tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    import hmdiag

    runs = [saved_runs["mme0"], saved_runs["mme4"]]
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    reports = {r.diagnosis.label: r for r in map(hmdiag.check, runs)}
    assert not all(r.verdict.passed for r in reports.values())  # a failing run to show

    browser.get(out.as_uri())
    assert browser.title == "hmdiag report"
    sections = browser.find_elements(By.CSS_SELECTOR, "main > section")
    titles = [s.find_element(By.TAG_NAME, "h2").text for s in sections]
    assert titles[0] == "Comparison"
    for label, report in reports.items():
        (section,) = [s for s, t in zip(sections, titles, strict=True) if t.startswith(label)]
        badge = section.find_element(By.CSS_SELECTOR, "h2 .badge")
        assert badge.text == report.verdict.label.upper()
        assert "fail" in badge.get_attribute("class").split() or report.verdict.passed
        advice = [li.text for li in section.find_elements(By.CSS_SELECTOR, "ol.advice > li")]
        assert [a.split("\n")[0] for a in advice] == [a.action for a in report.verdict.advice]
        if not report.verdict.passed:
            assert advice, f"{label} fails but shows no advice"
            failed = section.find_elements(By.CSS_SELECTOR, "table .badge.fail")
            assert len(failed) == len(report.verdict.failed())
    images = browser.execute_script(
        "return Array.from(document.images).map("
        "i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) >= 6
    undecoded = [
        alt for alt, complete, width, height in images if not (complete and width and height)
    ]
    assert undecoded == []
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    outside = [u for u in requests_made(browser) if not u.startswith(("file:", "data:"))]
    assert outside == []  # self-contained: no fonts, scripts or images fetched

    # A full-page screenshot; SAVE_REPORT_SCREENSHOT=PATH keeps the top (docs/report.png).
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height), 6000))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    if os.environ.get("SAVE_REPORT_SCREENSHOT"):  # the docs' view: the first 1,400 pixels
        browser.set_window_size(1280, 1400)
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(os.environ["SAVE_REPORT_SCREENSHOT"])


def _orange_pixels(png: bytes) -> int:
    """Pixels near the selection colour #ff7f0e in a PNG screenshot."""
    import io

    import numpy as np
    from matplotlib import image

    rgb = image.imread(io.BytesIO(png), format="png")[..., :3]
    target = np.array([1.0, 0x7F / 255, 0x0E / 255])
    return int((np.abs(rgb - target).max(axis=-1) < 0.12).sum())


FIND_PANEL = """
const doc = Bokeh.documents[0];
const panels = [...doc.all_models].filter(m => m.name && m.name.startsWith('pair-'));
function find(view, model) {
  if (view.model === model) return view;
  for (const child of (view.child_views || [])) {
    const hit = find(child, model);
    if (hit) return hit;
  }
  return null;
}
const view = find(Object.values(Bokeh.index)[0], panels[arguments[0]]);
view.el.scrollIntoView();
return [view.el, panels.length];
"""


def test_the_interactive_report_links_a_selection_across_panels(
    saved_runs: dict[str, Path], tmp_path: Path, browser: Any
) -> None:
    import time

    out = tmp_path / "interactive.html"
    result = CliRunner().invoke(
        app, ["report", str(saved_runs["mme0"]), "--interactive", "-o", str(out)]
    )
    assert result.exit_code in (0, 1), result.output
    assert out.stat().st_size < 5 * 1024 * 1024  # one file, BokehJS inlined, under 5 MB
    browser.get(out.as_uri())
    for _ in range(100):
        if browser.execute_script("return !!(window.Bokeh && Bokeh.documents.length)"):
            break
        time.sleep(0.1)
    time.sleep(1.0)  # the first paint
    (second, count) = browser.execute_script(FIND_PANEL, 1)
    assert count >= 3  # a pair grid, not a single panel
    before = _orange_pixels(second.screenshot_as_png)
    # Select 200 draws on the shared source, as a box selection in the first panel would.
    browser.execute_script(
        "Bokeh.documents[0].get_model_by_name('hmdiag-draws').selected.indices = "
        "[...Array(200).keys()];"
    )
    time.sleep(0.5)
    (second, _) = browser.execute_script(FIND_PANEL, 1)
    after = _orange_pixels(second.screenshot_as_png)
    assert before == 0 and after > 50, (before, after)  # the second panel highlights them
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    outside = [u for u in requests_made(browser) if not u.startswith(("file:", "data:"))]
    assert outside == []  # self-contained: BokehJS is inlined, nothing is fetched
    # The views the issue asks for: linked pairs, rank, trace, ESS (and PPC when stored).
    text = out.read_text()
    for title in ("pairs with divergences", "rank plots", "trace and density", "effective sample"):
        assert title in text, title
