"""Prepared data: the rows and arrays a model needs, checked against the spec (pandas only)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmdiag.errors import DataError
from hmdiag.model.categorical import CategoricalData, categorical_data
from hmdiag.model.factor_slopes import factor_slope_data
from hmdiag.spec import LoadedSpec, ModelSpec
from hmdiag.spec.table import file_columns, file_sha256, read_table, with_combined

MAX_ROWS_LISTED = 5
# Counts are stored as int64; larger magnitudes are data errors, not numbers to model.
MAX_ABS_VALUE = 1e15


@dataclass(frozen=True)
class GroupData:
    """One grouping factor: integer codes per row and the levels they index."""

    factor: str
    codes: np.ndarray
    levels: list[object]
    counts: list[int]


@dataclass(frozen=True)
class PreparedData:
    """Everything the model builder needs, already validated."""

    source: Path
    sha256: str
    n_rows: int
    n_rows_read: int
    response: np.ndarray
    trials: np.ndarray | None
    predictors: dict[str, np.ndarray]
    groups: dict[str, GroupData] = field(default_factory=dict)
    dropped_missing: int = 0
    categorical: dict[str, CategoricalData] = field(default_factory=dict)
    # column -> (mean, sd) subtracted and divided out for standardized predictors
    transforms: dict[str, tuple[float, float]] = field(default_factory=dict)
    offset: np.ndarray | None = None
    known_sigma: np.ndarray | None = None
    # wall seconds spent reading the file
    read_seconds: float = 0.0
    # the filtered rows, for models built in Python (model.python)
    frame: pd.DataFrame | None = None
    # each used row's line in the data file (header line 1), to name rows in messages
    row_lines: np.ndarray | None = None
    # categorical varying slopes: column -> its levels; their 0/1 dummies are in predictors
    # under factor_slope_columns(...) names
    factor_slopes: dict[str, CategoricalData] = field(default_factory=dict)


def rows_read(data: PreparedData) -> str:
    """ "read 73,421 rows in 0.05 s" (and how many the filter and missing values kept)."""
    text = f"read {data.n_rows_read:,} rows in {data.read_seconds:.2f} s"
    if data.n_rows != data.n_rows_read:
        text += f", {data.n_rows:,} used"
    return text


def _rows(index: pd.Index) -> str:
    # Row numbers as a user sees them in the file: header is line 1, first data row line 2.
    shown = [str(int(i) + 2) for i in index[:MAX_ROWS_LISTED]]
    more = f" and {len(index) - MAX_ROWS_LISTED} more" if len(index) > MAX_ROWS_LISTED else ""
    return ", ".join(shown) + more


def _apply_filter(frame: pd.DataFrame, spec: ModelSpec, path: Path) -> pd.DataFrame:
    for column, wanted in spec.data.where.items():
        if column not in frame.columns:
            raise DataError(
                f"{path}: data.where names column {column!r}, which is not in the file",
                f"columns are: {', '.join(file_columns(frame))}",
            )
        values = wanted if isinstance(wanted, list) else [wanted]
        frame = frame[frame[column].isin(values)]
    if not len(frame):  # not .empty: a frame of rows without columns is "empty" too
        raise DataError(
            f"{path}: the filter data.where {spec.data.where} leaves no rows",
            "check the values against the column's contents",
        )
    return frame


def _check_columns(frame: pd.DataFrame, spec: ModelSpec, path: Path) -> None:
    roles = {spec.response: "response"}
    if isinstance(spec.trials, str):
        roles[spec.trials] = "trials"
    roles |= {p.column: f"predictors[{i}].column" for i, p in enumerate(spec.predictors)}
    roles |= {c: f"groups[{i}].factor" for i, g in enumerate(spec.groups) for c in g.columns}
    roles |= {
        c: f"interactions[{i}].columns"
        for i, it in enumerate(spec.interactions)
        for c in it.columns
    }
    if spec.offset_column:
        roles[spec.offset_column] = "offset"
    if spec.sigma is not None and spec.sigma.column:
        roles[spec.sigma.column] = "sigma.column"
    roles |= {
        s.column: f"groups[{i}].slopes[{j}].column"
        for i, g in enumerate(spec.groups)
        for j, s in enumerate(g.slopes)
    }
    for column, role in roles.items():
        if column not in frame.columns:
            import difflib

            close = difflib.get_close_matches(column, file_columns(frame), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DataError(
                f"{path}: column {column!r} ({role}) is not in the file",
                f"{hint}columns are: {', '.join(file_columns(frame))}",
            )


def _handle_missing(frame: pd.DataFrame, spec: ModelSpec, path: Path) -> tuple[pd.DataFrame, int]:
    used = spec.used_columns()
    missing = frame[used].isna()
    bad_rows = missing.any(axis=1)
    if not bad_rows.any():
        return frame, 0
    if spec.data.drop_missing:
        kept = frame[~bad_rows]
        if kept.empty:
            raise DataError(
                f"{path}: every row has a missing value in {', '.join(used)}",
                "check the column names and the file's contents",
            )
        return kept, int(bad_rows.sum())
    per_column = {c: int(n) for c, n in missing.sum().items() if n}
    detail = "; ".join(f"{c}: {n} missing" for c, n in per_column.items())
    raise DataError(
        f"{path}: {int(bad_rows.sum())} row(s) have missing values ({detail}), at lines {_rows(frame.index[bad_rows])}",
        "fill them in, or set data.drop_missing: true to drop those rows",
    )


def _numeric(frame: pd.DataFrame, column: str, role: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna()
    if bad.any():
        example = frame[column][bad].iloc[0]
        raise DataError(
            f"{path}: {role} column {column!r} must be numeric; {int(bad.sum())} value(s) are not "
            f"(e.g. {example!r} at line {_rows(frame.index[bad][:1])})",
            f"for a factor, mark it categorical: true (or write C({column}) in a formula)"
            if role == "predictor"
            else None,
        )
    array = values.to_numpy(dtype=float)
    infinite = ~np.isfinite(array) | (np.abs(array) > MAX_ABS_VALUE)
    if infinite.any():
        raise DataError(
            f"{path}: {role} column {column!r} must hold finite numbers below {MAX_ABS_VALUE:g} in size; "
            f"{int(infinite.sum())} value(s) are not (e.g. {array[infinite][0]:g} at line {_rows(frame.index[infinite][:1])})"
        )
    return array


# Two-valued responses read without `success:` (compared case-insensitively): the first of each
# pair is the success.
BINARY_WORDS = (("true", "false"), ("yes", "no"))


def _binary_response(frame: pd.DataFrame, column: str, success: Any, path: Path) -> np.ndarray:
    """A bernoulli response as 0/1: numbers as they are (``_check_response`` wants 0 or 1),
    booleans and true/false or yes/no words by their meaning, other two-valued columns by the
    spec's ``success:`` value."""
    values = frame[column]
    if (
        success is None
        and pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
    ):
        return _numeric(frame, column, "response", path)
    words = values.map(lambda v: str(v).strip().lower())
    distinct = list(dict.fromkeys(words))
    shown = (
        ", ".join(repr(str(v).strip()) for v in dict.fromkeys(values)) if len(distinct) <= 6 else ""
    )
    if success is None:
        if set(distinct) <= {"0", "1", "0.0", "1.0"}:
            return _numeric(frame, column, "response", path)
        for yes, no in BINARY_WORDS:
            if set(distinct) <= {yes, no}:
                return (words == yes).to_numpy(dtype=float)
        if len(distinct) == 2:
            first = str(values.iloc[0]).strip()
            raise DataError(
                f"{path}: response {column!r} holds {shown}; which one is a success?",
                f"say it in the spec, e.g. success: {first!r}",
            )
    elif len(distinct) <= 2:
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and isinstance(success, int | float) and not isinstance(success, bool):
            if not (values == success).any():
                raise DataError(
                    f"{path}: success {success!r} is not a value of response {column!r} ({shown})",
                    "success: must be one of the column's two values",
                )
            return (values == success).to_numpy(dtype=float)
        wanted = str(success).strip().lower()
        if isinstance(success, bool):
            # YAML 1.1 reads unquoted yes/no/on/off as booleans: match whichever word the
            # column uses for that truth value.
            words_for = {True: ("true", "yes", "on", "1"), False: ("false", "no", "off", "0")}
            wanted = next((w for w in words_for[success] if w in distinct), wanted)
        if wanted not in distinct:
            raise DataError(
                f"{path}: success {success!r} is not a value of response {column!r} ({shown})",
                "success: must be one of the column's two values",
            )
        return (words == wanted).to_numpy(dtype=float)
    raise DataError(
        f"{path}: response {column!r} has {len(distinct)} different values"
        + (f" ({shown})" if shown else "")
        + "; likelihood bernoulli needs two (0/1, true/false, yes/no, or two values with success:)",
        "recode the column, filter rows with data.where, or use another likelihood",
    )


def _offset(frame: pd.DataFrame, spec: ModelSpec, path: Path) -> np.ndarray | None:
    """The offset column as is, or its log for ``offset: log(column)`` (values must be > 0)."""
    column = spec.offset_column
    if column is None:
        return None
    values = _numeric(frame, column, "offset", path)
    if spec.offset == column:
        return values
    bad = values <= 0
    if bad.any():
        raise DataError(
            f"{path}: offset {spec.offset} needs {column!r} > 0; {int(bad.sum())} value(s) are not "
            f"(line {_rows(frame.index[bad][:1])})"
        )
    return np.log(values)


def _check_response(
    y: np.ndarray, trials: np.ndarray | None, spec: ModelSpec, frame: pd.DataFrame, path: Path
) -> None:
    column = spec.response
    if spec.likelihood in ("normal", "student_t"):
        return  # any finite number; _numeric has checked that
    if spec.likelihood in ("poisson", "negative_binomial"):
        bad = (y != np.round(y)) | (y < 0)
        if bad.any():
            raise DataError(
                f"{path}: response {column!r} must hold counts (whole numbers >= 0) for likelihood "
                f"{spec.likelihood}; {int(bad.sum())} value(s) are not (e.g. {y[bad][0]:g} at line {_rows(frame.index[bad][:1])})",
                "use likelihood normal or student_t for continuous responses",
            )
        return
    if spec.likelihood == "bernoulli":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise DataError(
                f"{path}: response {column!r} must be 0 or 1 for likelihood bernoulli; "
                f"{int(bad.sum())} value(s) are not (e.g. {y[bad][0]:g} at line {_rows(frame.index[bad][:1])})",
                "recode the column as 0/1, or use likelihood: binomial with trials",
            )
        return
    assert trials is not None
    not_whole = (y != np.round(y)) | (y < 0)
    if not_whole.any():
        raise DataError(
            f"{path}: response {column!r} must hold whole numbers >= 0 for likelihood binomial; "
            f"{int(not_whole.sum())} value(s) are not (line {_rows(frame.index[not_whole][:1])})"
        )
    bad_trials = (trials != np.round(trials)) | (trials < 1)
    if bad_trials.any():
        source = f"column {spec.trials!r}" if isinstance(spec.trials, str) else "trials"
        raise DataError(
            f"{path}: trials ({source}) must be whole numbers >= 1; {int(bad_trials.sum())} value(s) are not "
            f"(line {_rows(frame.index[bad_trials][:1])})"
        )
    over = y > trials
    if over.any():
        raise DataError(
            f"{path}: response {column!r} exceeds trials in {int(over.sum())} row(s) "
            f"(lines {_rows(frame.index[over])}); successes must be <= trials"
        )


def _group(frame: pd.DataFrame, factor: str, path: Path) -> GroupData:
    column = frame[factor]
    levels = sorted(column.unique().tolist(), key=lambda v: (str(type(v)), v))
    if len(levels) < 2:
        raise DataError(
            f"{path}: grouping factor {factor!r} has a single level ({levels[0]!r}) after filtering",
            "a group term needs at least 2 levels; drop the term or widen data.where",
        )
    lookup = {level: i for i, level in enumerate(levels)}
    codes = column.map(lookup).to_numpy(dtype=np.int64)
    counts = np.bincount(codes, minlength=len(levels)).tolist()
    plain_levels = [lv.item() if hasattr(lv, "item") else lv for lv in levels]
    return GroupData(factor=factor, codes=codes, levels=plain_levels, counts=counts)


def prepare_data(loaded: LoadedSpec) -> PreparedData:
    """Read the spec's data file, filter rows and check every used column."""
    spec, path = loaded.spec, loaded.data_path
    started = time.perf_counter()
    # A Python model may read any column; a spec model reads only the columns it names.
    needed = None if spec.model is not None else spec.used_columns() + list(spec.data.where)
    raw = read_table(path, needed)
    read_seconds = time.perf_counter() - started
    n_read = len(raw)
    frame = _apply_filter(raw, spec, path)
    if spec.model is not None:
        return PreparedData(
            source=path,
            sha256=file_sha256(path),
            n_rows=len(frame),
            n_rows_read=n_read,
            read_seconds=read_seconds,
            response=np.empty(0),
            trials=None,
            predictors={},
            frame=frame.reset_index(drop=True),
        )
    _check_columns(frame, spec, path)
    frame, dropped = _handle_missing(frame, spec, path)
    frame = frame.reset_index(drop=False).set_index("index")
    y = (
        _binary_response(frame, spec.response, spec.success, path)
        if spec.likelihood == "bernoulli"
        else _numeric(frame, spec.response, "response", path)
    )
    trials: np.ndarray | None = None
    if spec.likelihood == "binomial":
        if isinstance(spec.trials, str):
            trials = _numeric(frame, spec.trials, "trials", path)
        else:
            trials = np.full(len(frame), float(spec.trials or 1))
    _check_response(y, trials, spec, frame, path)
    categorical = {
        p.column: categorical_data(frame, p.column, p.reference, path)
        for p in spec.predictors
        if p.categorical
    }
    factor_slopes, dummies = factor_slope_data(frame, spec, categorical, path)
    standardized = {p.column for p in spec.predictors if p.standardize}
    numeric_columns = [p.column for p in spec.predictors if not p.categorical]
    numeric_columns += [s.column for g in spec.groups for s in g.slopes if not s.categorical]
    numeric_columns += [c for i in spec.interactions for c in i.columns if c not in categorical]
    predictors: dict[str, np.ndarray] = {}
    transforms: dict[str, tuple[float, float]] = {}
    for column in dict.fromkeys(numeric_columns):
        values = _numeric(frame, column, "predictor", path)
        if column in standardized:
            mean, sd = float(values.mean()), float(values.std())
            if not sd > 0:
                raise DataError(
                    f"{path}: predictor column {column!r} has zero variance (every value is {mean:g}); it cannot be standardized",
                    "drop the predictor, or widen data.where",
                )
            values = (values - mean) / sd
            transforms[column] = (mean, sd)
        predictors[column] = values
    predictors |= dummies
    offset = _offset(frame, spec, path)
    known_sigma = None
    if spec.sigma is not None and spec.sigma.column:
        known_sigma = _numeric(frame, spec.sigma.column, "sigma", path)
        if (known_sigma <= 0).any():
            bad = known_sigma <= 0
            raise DataError(
                f"{path}: sigma column {spec.sigma.column!r} must be > 0; {int(bad.sum())} value(s) are not "
                f"(line {_rows(frame.index[bad][:1])})"
            )
    groups = {
        g.factor: _group(with_combined(frame, g.columns), g.factor, path) for g in spec.groups
    }
    counts = spec.likelihood in ("bernoulli", "binomial", "poisson", "negative_binomial")
    return PreparedData(
        source=path,
        sha256=file_sha256(path),
        n_rows=len(frame),
        n_rows_read=n_read,
        read_seconds=read_seconds,
        response=y.astype(np.int64) if counts else y,
        trials=None if trials is None else trials.astype(np.int64),
        predictors=predictors,
        groups=groups,
        dropped_missing=dropped,
        categorical=categorical,
        transforms=transforms,
        offset=offset,
        known_sigma=known_sigma,
        row_lines=frame.index.to_numpy(dtype=np.int64) + 2,
        factor_slopes=factor_slopes,
    )
