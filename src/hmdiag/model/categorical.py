"""Categorical columns in treatment coding, for predictors and varying slopes alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hmdiag.errors import DataError


@dataclass(frozen=True)
class CategoricalData:
    """A categorical predictor in treatment coding: one 0/1 column per non-reference level."""

    column: str
    levels: list[object]
    reference: object
    matrix: np.ndarray


def categorical_data(
    frame: pd.DataFrame, column: str, reference: object, path: Path
) -> CategoricalData:
    values = frame[column]
    levels = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
    plain = [lv.item() if hasattr(lv, "item") else lv for lv in levels]
    if len(plain) < 2:
        raise DataError(
            f"{path}: categorical predictor {column!r} has a single level ({plain[0]!r})", "drop it"
        )
    if reference is None:
        reference = plain[0]
    matches = [lv for lv in plain if lv == reference or str(lv) == str(reference)]
    if not matches:
        raise DataError(
            f"{path}: reference level {reference!r} of predictor {column!r} is not in the data",
            f"levels are: {', '.join(map(str, plain))}",
        )
    reference = matches[0]
    others = [lv for lv in plain if lv != reference]
    as_list = [v.item() if hasattr(v, "item") else v for v in values.tolist()]
    matrix = np.array([[1.0 if v == lv else 0.0 for lv in others] for v in as_list])
    return CategoricalData(column=column, levels=others, reference=reference, matrix=matrix)
