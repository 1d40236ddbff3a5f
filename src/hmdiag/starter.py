"""``hmdiag init``: a commented starter spec from a data file and a formula.

The spec is the formula's long form with default priors scaled to the data, as brms and Bambi
scale theirs: on the response's scale for normal models, on the link scale (a change of one
predictor sd moves the linear predictor by about one unit) for the others. Groups whose
levels hold few rows are non-centered, where a centered funnel is likely. Every choice is
written down as a comment beside the key it sets.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from hmdiag.errors import DataError, HmdiagError

# Fewer rows per level than this (the median over levels) and a group starts non-centered:
# the likelihood then pins each level's effect weakly, the funnel's home ground.
NON_CENTERED_BELOW_ROWS = 20
FAMILY_LINKS = {
    "normal": "identity",
    "student_t": "identity",
    "bernoulli": "logit",
    "binomial": "logit",
    "poisson": "log",
    "negative_binomial": "log",
}


def _round(value: float) -> str:
    """Three significant digits, as a prior is written."""
    return f"{value:.3g}"


def _guess_family(y: Any) -> tuple[str, str]:
    values = np.asarray(y, dtype=float)
    distinct = np.unique(values[np.isfinite(values)])
    if set(distinct.tolist()) <= {0.0, 1.0}:
        return "bernoulli", "the response holds only 0 and 1"
    if (values >= 0).all() and (values == np.round(values)).all():
        return "poisson", "the response holds counts (whole numbers >= 0)"
    return "normal", "the response holds real numbers"


def starter_spec(
    data_path: Path,
    formula: str,
    *,
    family: str | None = None,
    name: str | None = None,
    spec_path: Path,
) -> str:
    """The starter spec's YAML text (``spec_path``: where it will be written, for the data
    path relative to it). ``HmdiagError`` for a formula or data it cannot use."""
    import pandas as pd

    from hmdiag.data import read_table
    from hmdiag.formula import FAMILIES, parse_formula

    try:
        header = read_table(data_path, None)
    except DataError:
        raise
    columns = set(header.columns)

    def categorical(column: str) -> bool:
        return column in columns and not pd.api.types.is_numeric_dtype(header[column])

    try:
        parsed = parse_formula(formula, categorical)
    except ValueError as exc:
        raise HmdiagError(f"--formula: {exc}") from None
    used = [parsed.response, *(c for c, _ in parsed.predictors)]
    used += [c for i in parsed.interactions for c in i]
    used += [g.factor for g in parsed.groups] + [s for g in parsed.groups for s in g.slopes]
    missing = [c for c in dict.fromkeys(used) if c not in columns]
    if missing:
        raise HmdiagError(
            f"{data_path}: the formula uses {', '.join(map(repr, missing))}, not in the file",
            f"columns are: {', '.join(header.columns)}",
        )
    frame = header[list(dict.fromkeys(used))].dropna()
    y = frame[parsed.response]
    if family is None:
        if not pd.api.types.is_numeric_dtype(y):
            raise HmdiagError(
                f"{data_path}: response {parsed.response!r} is not numeric",
                "give --family bernoulli (and success: in the spec) for a two-valued column",
            )
        likelihood, why_family = _guess_family(y)
    else:
        if family.lower() not in FAMILIES:
            raise HmdiagError(f"--family {family!r} is not one of: {', '.join(FAMILIES)}")
        likelihood, why_family = FAMILIES[family.lower()], "as --family says"
    link = FAMILY_LINKS[likelihood]
    gaussian = likelihood in ("normal", "student_t")
    sd_y = float(np.std(np.asarray(y, dtype=float))) if gaussian else 1.0
    sd_y = sd_y if sd_y > 0 else 1.0

    def sd(column: str) -> float:
        value = float(np.std(np.asarray(frame[column], dtype=float)))
        return value if value > 0 else 1.0

    name = name or re.sub(r"\W+", "_", data_path.stem).strip("_") or "model"
    relative = os.path.relpath(data_path.resolve(), spec_path.resolve().parent)
    lines = [
        f"# Starter spec written by `hmdiag init` for: {formula}",
        "# Priors are scaled to the data (as brms and Bambi do); read them, then",
        f"# `hmdiag validate {spec_path.name}` and `hmdiag fit {spec_path.name}`.",
        f"name: {name}",
        "data:",
        f"  path: {relative}",
        f"response: {parsed.response}",
        f"likelihood: {likelihood}  # {why_family}",
        f"link: {link}",
    ]
    if gaussian:
        lines += [
            "sigma:",
            f"  prior: halfnormal({_round(sd_y)})  # sd({parsed.response}) = {_round(sd_y)}",
        ]
    if parsed.offset:
        lines.append(f"offset: {parsed.offset}")
    if parsed.intercept:
        if gaussian:
            mean = float(np.mean(np.asarray(y, dtype=float)))
            prior = f"normal({_round(mean)}, {_round(2.5 * sd_y)})"
            why = f"mean {parsed.response} {_round(mean)}, 2.5 sd"
        else:
            prior, why = "normal(0, 2.5)", f"on the {link} scale"
        lines += ["intercept:", f"  prior: {prior}  # {why}"]
    else:
        lines.append("intercept: false")
    if parsed.predictors:
        lines.append("predictors:")
        for column, is_categorical in parsed.predictors:
            lines.append(f"  - column: {column}")
            if is_categorical:
                levels = sorted(map(str, frame[column].unique()))
                lines.append("    categorical: true")
                lines.append(
                    f"    prior: normal(0, {_round(2.5 * sd_y)})  # per level against "
                    f"{levels[0]!r} ({len(levels)} levels)"
                )
            else:
                scale = 2.5 * sd_y / sd(column)
                lines.append(
                    f"    prior: normal(0, {_round(scale)})  # 2.5 x {'sd(y)/' if gaussian else '1/'}"
                    f"sd({column}) = {_round(scale)}"
                )
    if parsed.interactions:
        lines.append("interactions:")
        for columns_ in parsed.interactions:
            scale = 2.5 * sd_y / math.prod(sd(c) for c in columns_)
            lines += [
                f"  - columns: [{', '.join(columns_)}]",
                f"    prior: normal(0, {_round(scale)})",
            ]
    if parsed.groups:
        lines.append("groups:")
        for group in parsed.groups:
            counts = frame[group.factor].value_counts()
            median = float(counts.median())
            parameterization = "non_centered" if median < NON_CENTERED_BELOW_ROWS else "centered"
            lines += [
                f"  - factor: {group.factor}",
                f"    parameterization: {parameterization}  # {len(counts)} levels, median "
                f"{median:g} rows per level ({'<' if median < NON_CENTERED_BELOW_ROWS else '>='} "
                f"{NON_CENTERED_BELOW_ROWS})",
                "    scale:",
                f"      prior: halfnormal({_round(sd_y)})",
            ]
            if group.slopes:
                lines.append("    slopes:")
                for column in group.slopes:
                    lines += [
                        f"      - column: {column}",
                        "        scale:",
                        f"          prior: halfnormal({_round(sd_y / sd(column))})",
                    ]
            if group.correlated:
                lines.append("    correlated: true")
    lines += ["sampler:", "  seed: 1  # fixed: the same spec gives the same draws"]
    return "\n".join(lines) + "\n"
