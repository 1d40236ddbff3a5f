"""Reading the data table a spec names (CSV or Parquet, a regular UTF-8 file) and its
fingerprint. It lives with the spec because ``init`` and the formula parser read the table
before any model is prepared."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from hmdiag.errors import DataError

# Rows parsed at a time: only the columns a spec uses are kept from each chunk. pandas infers
# each chunk's column types on its own, as its default low_memory parsing does anyway: a
# column with text in one chunk only is an error of _numeric for numeric roles, as before.
READ_CHUNK_ROWS = 100_000


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (stored in runs so a changed data file is noticed)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _starts_as_utf8(path: Path, probe_bytes: int = 1 << 20) -> bool:
    """Whether the file's first MiB decodes as UTF-8.

    pandas 3's tokenizer can fail on binary garbage before it decodes a byte, which would
    report a confusing field-count error instead of the encoding.
    """
    import codecs

    with path.open("rb") as handle:
        head = handle.read(probe_bytes)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV file; raise ``DataError`` naming the file when it cannot be read.

    With ``columns``, only those of them the file has are parsed (a wide file costs what its
    used columns cost); ``file_columns(frame)`` still names every column of the file, for
    messages about a column that is not there.
    """
    if not path.exists():
        raise DataError(
            f"{path}: data file not found", "data.path is resolved relative to the spec file"
        )
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a CSV file")
    if not path.is_file():
        # A device or pipe (/dev/zero, a FIFO) would be read forever.
        raise DataError(
            f"{path}: is not a regular file (a device, pipe or socket)",
            "data.path must name a CSV file",
        )
    try:
        utf8 = _starts_as_utf8(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc.strerror or exc}") from None
    if not utf8:
        raise DataError(f"{path}: not UTF-8 text; save the CSV as UTF-8")
    try:
        # Keep blank lines while parsing so row index + 2 stays the physical line number.
        # Chunks of rows, each cut to the wanted columns at once: every field is still
        # tokenized, so a ragged row is still an error (pandas' usecols would hide it).
        reader = pd.read_csv(
            path, skip_blank_lines=False, encoding="utf-8", chunksize=READ_CHUNK_ROWS
        )
        keep = None if columns is None else set(columns)
        with reader:
            # Blank lines (every field empty) go before the cut, judged on every column.
            parts = [
                chunk.dropna(how="all")[[c for c in chunk.columns if keep is None or c in keep]]
                for chunk in reader
            ]
        header = [str(c) for c in parts[0].columns] if columns is None else None
        if header is None:
            header = list(pd.read_csv(path, nrows=0, encoding="utf-8").columns)
        frame = pd.concat(parts) if len(parts) > 1 else parts[0]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the CSV file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as CSV: {first}") from None
    if not len(frame):
        raise DataError(f"{path}: the CSV has a header but no rows")
    frame.attrs["file_columns"] = header
    return frame


def file_columns(frame: pd.DataFrame) -> list[str]:
    """Every column of the file a frame was read from (``read_table`` may parse fewer)."""
    return [str(c) for c in frame.attrs.get("file_columns", frame.columns)]


def with_combined(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with the combined factor ``a:b`` (the levels of a and b joined by ``:``)
    as a column, when the factor names several columns."""
    if len(columns) == 1:
        return frame
    combined = frame[columns].astype(str).agg(":".join, axis=1)
    return frame.assign(**{":".join(columns): combined})


def categorical_test(raw: dict[str, Any], path: Path) -> Any:
    """Whether a data column holds anything but numbers (read once, on first use); False for
    every column when the file cannot be read (preparing the data reports that)."""
    import functools

    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    location = Path(str(data.get("path", "")))
    location = location if location.is_absolute() else path.parent / location

    @functools.cache
    def table() -> Any:
        import pandas as pd

        from hmdiag.errors import DataError
        from hmdiag.spec.table import read_table

        # The project's reader: it refuses what is not a regular file (/dev/zero, a pipe)
        # instead of hanging on it.
        try:
            return read_table(location, None)
        except DataError:  # missing or unreadable: prepare_data names the problem later
            return pd.DataFrame()

    def categorical(column: str) -> bool:
        frame = table()
        return column in frame.columns and looks_categorical(frame[column])

    return categorical


def looks_categorical(values: Any) -> bool:
    """A column of words, not of numbers: numeric dtype no, else yes when at most half of its
    values read as numbers (a stray '.' in a numeric column stays numeric, so that preparing
    the data names the bad value instead of the model growing a level per number)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return False
    present = values.dropna()
    if present.empty:
        return False
    return float(pd.to_numeric(present, errors="coerce").notna().mean()) <= 0.5
