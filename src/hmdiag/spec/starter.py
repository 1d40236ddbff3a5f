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
from pathlib import Path
from typing import Any

import numpy as np

from hmdiag.errors import HmdiagError

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


def _y(value: Any) -> str:
    """A scalar as YAML writes it (quoted where YAML would misread it: on, 1e3, #)."""
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


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
    name: str,
    spec_path: Path,
    trials: str | None = None,
    success: str | None = None,
) -> str:
    """The starter spec's YAML text (``spec_path``: where it will be written, for the data
    path relative to it). ``HmdiagError`` for a formula or data it cannot use.

    Numeric predictors are standardized, so the intercept is the linear predictor at their
    means and every slope prior is per standard deviation of its column.
    """
    from hmdiag.spec.formula import FAMILIES, parse_formula
    from hmdiag.spec.table import looks_categorical, read_table, with_combined

    table = read_table(data_path, None)
    columns = set(table.columns)

    def categorical(column: str) -> bool:
        return column in columns and looks_categorical(table[column])

    try:
        parsed = parse_formula(formula, categorical)
    except ValueError as exc:
        raise HmdiagError(f"--formula: {exc}") from None
    offset_column = None
    if parsed.offset:
        offset_column = parsed.offset[4:-1] if parsed.offset.startswith("log(") else parsed.offset
    used = [parsed.response, *(c for c, _ in parsed.predictors)]
    used += [c for i in parsed.interactions for c in i]
    used += [c for g in parsed.groups for c in g.factor.split(":")]
    used += [s for g in parsed.groups for s in g.slopes]
    used += [c for c in (offset_column, trials) if c]
    missing = [c for c in dict.fromkeys(used) if c not in columns]
    if missing:
        raise HmdiagError(
            f"{data_path}: the formula uses {', '.join(map(repr, missing))}, not in the file",
            f"columns are: {', '.join(map(str, table.columns))}",
        )
    frame = table[list(dict.fromkeys(used))].dropna()
    y = frame[parsed.response]
    numeric_y = not looks_categorical(y)
    if family is None:
        if not numeric_y:
            raise HmdiagError(
                f"{data_path}: response {parsed.response!r} holds words",
                "give --family bernoulli and --success VALUE for a two-valued column",
            )
        likelihood, why_family = _guess_family(pd_numeric(y))
    else:
        if family.lower() not in FAMILIES:
            raise HmdiagError(f"--family {family!r} is not one of: {', '.join(FAMILIES)}")
        likelihood, why_family = FAMILIES[family.lower()], "as --family says"
    if likelihood == "binomial" and trials is None:
        raise HmdiagError("--family binomial needs --trials COLUMN (the number of trials per row)")
    if trials is not None and likelihood != "binomial":
        raise HmdiagError("--trials applies to --family binomial only")
    if success is not None and likelihood != "bernoulli":
        raise HmdiagError("--success applies to --family bernoulli only")
    if likelihood == "bernoulli" and success is None and not numeric_y:
        levels = ", ".join(repr(str(v)) for v in list(dict.fromkeys(y.astype(str)))[:4])
        if not {v.lower() for v in y.astype(str).unique()} <= {"true", "false", "yes", "no"}:
            raise HmdiagError(
                f"{data_path}: response {parsed.response!r} holds {levels}",
                "say which value is a success: --success VALUE",
            )
    link = FAMILY_LINKS[likelihood]
    gaussian = likelihood in ("normal", "student_t")
    values = pd_numeric(y) if numeric_y else None
    sd_y = float(np.std(values)) if gaussian and values is not None else 1.0
    sd_y = sd_y if sd_y > 0 else 1.0

    def sd(column: str) -> float:
        value = float(np.std(pd_numeric(frame[column])))
        return value if value > 0 else 1.0

    relative = os.path.relpath(data_path.resolve(), spec_path.resolve().parent)
    per_sd = _round(2.5 * sd_y)
    lines = [
        f"# Starter spec written by `hmdiag init` for: {formula}",
        "# Priors are scaled to the data, as brms and Bambi scale theirs; numeric predictors are",
        "# standardized, so each slope prior is per standard deviation of its column. Read them,",
        f"# then `hmdiag validate {spec_path.name}` and `hmdiag fit {spec_path.name}`.",
        f"name: {_y(name)}",
        "data:",
        f"  path: {_y(relative)}",
        f"response: {_y(parsed.response)}",
        f"likelihood: {likelihood}  # {why_family}",
        f"link: {link}",
    ]
    if trials is not None:
        lines.append(f"trials: {_y(trials)}")
    if success is not None:
        lines.append(f"success: {_y(success)}")
    if gaussian:
        lines += [
            "sigma:",
            f"  prior: halfnormal({_round(sd_y)})  # sd({parsed.response}) = {_round(sd_y)}",
        ]
    if parsed.offset:
        lines.append(f"offset: {_y(parsed.offset)}")
    if parsed.intercept:
        if gaussian:
            mean = float(np.mean(values))
            prior = f"normal({_round(mean)}, {per_sd})"
            why = f"mean {parsed.response} {_round(mean)}, 2.5 sd"
        elif link == "log":
            mean = max(float(np.mean(values)), 0.1) if values is not None else 1.0
            prior, why = (
                f"normal({_round(math.log(mean))}, 2.5)",
                f"log of the mean, {_round(mean)}",
            )
        else:
            prior, why = "normal(0, 2.5)", "on the logit scale, at the predictors' means"
        lines += ["intercept:", f"  prior: {prior}  # {why}"]
    else:
        lines.append("intercept: false")
    standardized = set()
    if parsed.predictors:
        lines.append("predictors:")
        for column, is_categorical in parsed.predictors:
            lines.append(f"  - column: {_y(column)}")
            if is_categorical:
                levels = sorted(frame[column].unique().tolist(), key=lambda v: (str(type(v)), v))
                lines += [
                    "    categorical: true",
                    f"    prior: normal(0, {per_sd})  # each level against {str(levels[0])!r} "
                    f"({len(levels)} levels)",
                ]
            else:
                standardized.add(column)
                lines += [
                    "    standardize: true",
                    f"    prior: normal(0, {per_sd})  # per sd of {column} ({_round(sd(column))})",
                ]
    if parsed.interactions:
        lines.append("interactions:")
        for group_columns in parsed.interactions:
            if set(group_columns) <= standardized:
                scale = 2.5 * sd_y
            else:
                scale = 2.5 * sd_y / math.prod(sd(c) for c in group_columns)
            lines += [
                f"  - columns: [{', '.join(map(_y, group_columns))}]",
                f"    prior: normal(0, {_round(scale)})",
            ]
    if parsed.groups:
        lines.append("groups:")
        for group in parsed.groups:
            counts = with_combined(frame, group.factor.split(":"))[group.factor].value_counts()
            median = float(counts.median())
            small = median < NON_CENTERED_BELOW_ROWS
            lines += [
                f"  - factor: {_y(group.factor)}",
                f"    parameterization: {'non_centered' if small else 'centered'}  # "
                f"{len(counts)} levels, median {median:g} rows per level "
                f"({'<' if small else '>='} {NON_CENTERED_BELOW_ROWS})",
                "    scale:",
                f"      prior: halfnormal({_round(sd_y)})",
            ]
            if group.slopes:
                lines.append("    slopes:")
                for column in group.slopes:
                    factor_slope = column in group.categorical
                    # A factor's 0/1 dummies: a level's effect is on the response's scale.
                    plain = factor_slope or column in standardized
                    scale = sd_y if plain else sd_y / sd(column)
                    lines.append(f"      - column: {_y(column)}")
                    if factor_slope:
                        lines.append("        categorical: true  # a slope per non-reference level")
                    lines += ["        scale:", f"          prior: halfnormal({_round(scale)})"]
            if group.correlated:
                lines.append("    correlated: true")
    lines += ["sampler:", "  seed: 1  # fixed: the same spec gives the same draws"]
    return "\n".join(lines) + "\n"


def pd_numeric(values: Any) -> np.ndarray:
    """A column's values as floats (booleans as 0/1)."""
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
