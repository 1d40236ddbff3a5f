"""The diagnosis benchmark's fast subset (#25): its case list meets the issue's counts, and
four of its cases (healthy, funnel, ridge, inverted funnel) are named right through the same code that
`make bench-diagnosis` runs."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from diagnosis_cases import BY_NAME, CASES, ENTRIES, run_case  # noqa: E402


def test_the_case_list_meets_the_issue_counts() -> None:
    assert len(CASES) >= 24
    per_entry = Counter(c.expected for c in CASES if c.expected is not None)
    assert set(per_entry) == set(ENTRIES)
    assert min(per_entry.values()) >= 3, per_entry
    healthy = [c for c in CASES if c.expected is None]
    assert len(healthy) >= 10
    assert len({c.generator for c in healthy}) == len(healthy)  # varied kinds
    assert len({c.name for c in CASES}) == len(CASES)


def test_no_case_reuses_a_gallery_spec(tmp_path: Path) -> None:
    gallery = []
    for path in sorted((ROOT / "configs" / "pathologies").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        raw.pop("name", None), raw.pop("description", None), raw.pop("data", None)
        gallery.append(raw)
    for case in CASES:
        raw = yaml.safe_load(case.write(tmp_path / case.name).read_text())
        raw.pop("name", None), raw.pop("data", None)
        assert raw not in gallery, case.name
        assert (tmp_path / case.name / f"{case.name}.csv").stat().st_size > 0


@pytest.mark.parametrize(
    "name",
    ["healthy_logistic", "funnel_logit_4g", "ridge_plates_samples", "funnel_inverted_zero_sum"],
)
def test_fast_subset_is_named_right(name: str, tmp_path: Path) -> None:
    outcome = run_case(BY_NAME[name], tmp_path, doctor=False)
    want = "ok" if BY_NAME[name].expected is None else "right"
    assert outcome.score == want, (outcome.named, outcome.failed_checks)
