"""Categorical varying slopes: ``(1 + urban | district)`` with ``urban`` holding Y/N.

As lme4, brms and Bambi do, a categorical slope is treatment coded: a 0/1 dummy per level
other than the reference, and each dummy is a varying slope of its own (in a correlated
block, each is a coefficient of the block). The data step adds the dummies to the numeric
predictors under ``<column>_<level>``; ``with_factor_slopes`` gives the spec the model builder
reads, with each categorical slope replaced by its dummies' numeric slopes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from hmdiag.errors import DataError
from hmdiag.model.categorical import categorical_data


def factor_slope_columns(column: str, levels: list[object]) -> list[str]:
    """The dummy columns of a categorical slope: ``urban_Y`` (non-word characters become _)."""
    return [f"{column}_{re.sub(r'\W', '_', str(level))}" for level in levels]


def factor_slope_data(
    frame: Any, spec: Any, categorical: dict[str, Any], path: Path
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Each categorical slope column's levels (the population predictor's reference unless the
    slope names one) and its dummies, by dummy column name."""
    levels: dict[str, Any] = {}
    dummies: dict[str, np.ndarray] = {}
    for g in spec.groups:
        for slope in g.slopes:
            if not slope.categorical:
                continue
            population = categorical.get(slope.column)
            reference = slope.reference
            if reference is None and population is not None:
                reference = population.reference
            if population is not None and str(reference) != str(population.reference):
                raise DataError(
                    f"{path}: categorical slope {slope.column!r} of {g.factor} has reference "
                    f"{reference!r}, the population predictor {population.reference!r}",
                    "give both the same reference level",
                )
            cat = categorical_data(frame, slope.column, reference, path)
            known = levels.get(slope.column)
            if known is not None and str(known.reference) != str(cat.reference):
                raise DataError(
                    f"{path}: categorical slope {slope.column!r} has two references "
                    f"({known.reference!r}, {cat.reference!r}) in different groups",
                    "give every slope of one column the same reference level",
                )
            levels[slope.column] = cat
            names = factor_slope_columns(slope.column, cat.levels)
            if len(set(names)) != len(names):
                raise DataError(
                    f"{path}: the levels of {slope.column!r} give clashing slope names "
                    f"({', '.join(names)})",
                    "recode the levels so they differ in letters, digits or _",
                )
            for k, name in enumerate(names):
                dummies[name] = cat.matrix[:, k]
    return levels, dummies


def with_factor_slopes(spec: Any, data: Any) -> Any:
    """The spec with each categorical slope replaced by one numeric slope per dummy column
    (its scale prior and names suffixed by the level); the spec itself when there is none."""
    if not data.factor_slopes:
        return spec
    groups = []
    for g in spec.groups:
        slopes = []
        for slope in g.slopes:
            if not slope.categorical:
                slopes.append(slope)
                continue
            cat = data.factor_slopes[slope.column]
            for column in factor_slope_columns(slope.column, cat.levels):
                suffix = column[len(slope.column) :]
                slopes.append(
                    slope.model_copy(
                        update={
                            "column": column,
                            "categorical": False,
                            "reference": None,
                            "name": f"{slope.name}{suffix}" if slope.name else None,
                            "offset_name": f"{slope.offset_name}{suffix}"
                            if slope.offset_name
                            else None,
                            "scale": slope.scale.model_copy(
                                update={
                                    "name": f"{slope.scale.name}{suffix}"
                                    if slope.scale.name
                                    else None
                                }
                            ),
                        }
                    )
                )
        groups.append(g.model_copy(update={"slopes": slopes}))
    return spec.model_copy(update={"groups": groups})
