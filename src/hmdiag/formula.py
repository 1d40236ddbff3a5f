"""``formula:`` specs: an lme4/brms formula, parsed by ``formulae`` (Bambi's parser), expanded
into exactly the long-form spec keys (``response``, ``intercept``, ``predictors``,
``interactions``, ``groups``, ``offset``) before validation.

The formula decides which terms exist; the spec's own keys only set their options, keyed by
what the formula names: ``intercept: {name, prior}``, ``predictors: {COLUMN: {...}}``,
``groups: {FACTOR: {...}}`` (with ``slopes: {COLUMN: {...}}``), and ``priors:`` by term
(``Intercept``, ``urban``, ``x:z``, ``1|district`` for a group's scale, ``urban|district`` for a
slope's scale). lme4 semantics: ``(1 + x | g)`` correlates the intercept and slopes of ``g``,
``(1 + x || g)`` does not, nor do separate terms ``(1 | g) + (0 + x | g)``. A term hmdiag
cannot build raises ``ValueError`` naming it (the spec loader turns that into exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# brms/Bambi family names -> hmdiag likelihoods
FAMILIES = {
    "bernoulli": "bernoulli",
    "binomial": "binomial",
    "poisson": "poisson",
    "negative_binomial": "negative_binomial",
    "negbinomial": "negative_binomial",
    "gaussian": "normal",
    "normal": "normal",
    "student": "student_t",
    "student_t": "student_t",
    "t": "student_t",
}
# Long-form keys the formula writes; with a formula they hold options for its terms instead.
OPTION_KEYS = ("intercept", "predictors", "groups")
FORBIDDEN_WITH_FORMULA = ("response", "interactions", "offset", "model")


@dataclass
class GroupTerm:
    """The varying effects of one factor, merged over the formula's terms for it."""

    factor: str
    intercept: bool = False
    slopes: list[str] = field(default_factory=list)
    correlated: bool = False


@dataclass
class ParsedFormula:
    """A formula's structure in hmdiag's terms."""

    response: str
    intercept: bool
    predictors: list[tuple[str, bool]]  # (column, categorical)
    interactions: list[tuple[str, ...]]
    groups: list[GroupTerm]
    offset: str | None


def parse_formula(text: str, categorical: Callable[[str], bool] | None = None) -> ParsedFormula:
    """The terms of ``text``; ``categorical(column)`` says whether a plain column holds strings
    (categorical without ``C()``). ``ValueError`` names a term hmdiag cannot build."""
    import formulae
    import formulae.expr as expr
    from formulae.parser import Parser
    from formulae.resolver import Resolver
    from formulae.scanner import Scanner

    is_categorical = categorical or (lambda _column: False)
    # formulae has no `||`: read it as `|`, remembering which bars were double.
    bars = [m.group(0) == "||" for m in re.finditer(r"\|\|?", text)]
    plain = text.replace("||", "|")
    try:
        description = formulae.model_description(plain)
        tree = Parser(Scanner(plain).scan()).parse()
    except Exception as exc:  # formulae raises ScanError, ParseError, ResolverError, ...
        raise ValueError(f"formula {text!r} cannot be parsed: {exc}") from None
    response = _response_name(description, text)
    intercept = any(type(t).__name__ == "Intercept" for t in description.terms)
    predictors: list[tuple[str, bool]] = []
    interactions: list[tuple[str, ...]] = []
    offset = None
    for term in description.terms:
        kind = type(term).__name__
        if kind in ("Intercept", "GroupSpecificTerm"):
            continue
        components = term.components
        if len(components) == 1:
            component = components[0]
            if isinstance(component, formulae.terms.variable.Variable):
                predictors.append((component.name, is_categorical(component.name)))
                continue
            call = str(component.name)
            if match := re.fullmatch(r"C\((\w+)\)", call.replace(" ", "")):
                predictors.append((match.group(1), True))
                continue
            if match := re.fullmatch(r"offset\((\w+)\)", call.replace(" ", "")):
                offset = match.group(1)
                continue
            if match := re.fullmatch(r"offset\(log\((\w+)\)\)", call.replace(" ", "")):
                offset = f"log({match.group(1)})"
                continue
            raise ValueError(
                f"formula term {call!r}: hmdiag builds columns, C(column) and offset(column) "
                "or offset(log(column)); compute other transforms as a column"
            )
        names = []
        written = ":".join(str(c.name) for c in components)
        for component in components:
            name = str(component.name)
            wrapped = re.fullmatch(r"C\((\w+)\)", name.replace(" ", ""))
            if wrapped or is_categorical(name):
                raise ValueError(
                    f"formula term {written}: interactions with a categorical column "
                    f"({wrapped.group(1) if wrapped else name}) are not supported; hmdiag builds "
                    "products of numeric columns"
                )
            if not isinstance(component, formulae.terms.variable.Variable):
                raise ValueError(f"formula term {written}: interactions take plain numeric columns")
            names.append(name)
        interactions.append(tuple(names))
    groups: dict[str, GroupTerm] = {}
    for index, bar in enumerate(_bar_terms(tree, expr)):
        factor = _factor_name(bar.right, expr, text)
        resolved = Resolver(bar.left).resolve()
        parts = getattr(resolved, "terms", [resolved])
        kinds = [type(p).__name__ for p in parts]
        has_intercept = "NegatedIntercept" not in kinds  # lme4: implicit unless 0 + / - 1
        slopes = []
        for part in parts:
            if type(part).__name__ in ("Intercept", "NegatedIntercept"):
                continue
            comps = part.components
            if len(comps) != 1 or not isinstance(comps[0], formulae.terms.variable.Variable):
                raise ValueError(
                    f"formula group term ({bar.left} | {factor}): varying slopes take plain "
                    "numeric columns"
                )
            slopes.append(comps[0].name)
        group = groups.setdefault(factor, GroupTerm(factor))
        if has_intercept and group.intercept and not slopes:
            raise ValueError(f"formula: the intercept of {factor} appears twice")
        correlated = has_intercept and bool(slopes) and not (index < len(bars) and bars[index])
        group.intercept |= has_intercept
        group.slopes += [s for s in slopes if s not in group.slopes]
        group.correlated |= correlated
    for group in groups.values():
        if not group.intercept:
            raise ValueError(
                f"formula: the slopes of {group.factor} come without its varying intercept; "
                f"hmdiag's group terms always have one: write (1 + slope | {group.factor}) or "
                f"add (1 | {group.factor})"
            )
    return ParsedFormula(
        response, intercept, predictors, interactions, list(groups.values()), offset
    )


def _response_name(description: Any, text: str) -> str:
    response = getattr(description, "response", None)
    term = getattr(response, "term", None)
    components = getattr(getattr(term, "term", term), "components", None) or []
    if len(components) != 1 or not hasattr(components[0], "name"):
        raise ValueError(f"formula {text!r}: the left of ~ must be one response column")
    return str(components[0].name)


def _bar_terms(node: Any, expr: Any) -> list[Any]:
    """The ``(... | factor)`` expressions of the formula's syntax tree, in textual order."""
    found: list[Any] = []

    def walk(item: Any) -> None:
        inner = getattr(item, "expression", None)
        if (
            isinstance(item, expr.Grouping)
            and isinstance(inner, expr.Binary)
            and inner.operator.lexeme == "|"
        ):
            found.append(inner)
            return
        for attr in ("left", "right", "expression", "args", "callee"):
            child = getattr(item, attr, None)
            for sub in child if isinstance(child, list) else [child]:
                if sub is not None and hasattr(sub, "__dict__"):
                    walk(sub)

    walk(node)
    return found


def _factor_name(node: Any, expr: Any, text: str) -> str:
    if isinstance(node, expr.Variable):
        return str(node.name.lexeme if hasattr(node.name, "lexeme") else node.name)
    raise ValueError(
        f"formula {text!r}: nested or combined grouping factors ((1 | a/b), (1 | a:b)) are not "
        "supported yet; add a column that holds the combined levels and group by it"
    )


def expand_formula(
    raw: dict[str, Any], categorical: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The long-form spec mapping of a spec with ``formula:`` (unchanged without one)."""
    if not isinstance(raw, dict) or "formula" not in raw:
        return raw
    text = raw["formula"]
    if not isinstance(text, str) or "~" not in text:
        raise ValueError("formula must be a string like 'y ~ x + (1 | g)'")
    clashing = [k for k in FORBIDDEN_WITH_FORMULA if k in raw]
    if clashing:
        raise ValueError(
            f"with formula: the formula gives the model's terms; remove {', '.join(clashing)}"
        )
    parsed = parse_formula(text, categorical)
    out = {k: v for k, v in raw.items() if k not in ("formula", "family", "priors", *OPTION_KEYS)}
    family = raw.get("family")
    if family is not None:
        if "likelihood" in raw:
            raise ValueError("give family or likelihood, not both")
        if str(family).lower() not in FAMILIES:
            raise ValueError(f"family {family!r} is not one of: {', '.join(FAMILIES)}")
        out["likelihood"] = FAMILIES[str(family).lower()]
    priors = dict(raw.get("priors") or {})
    out["response"] = parsed.response
    intercept_options = raw.get("intercept")
    if parsed.intercept:
        options = dict(intercept_options) if isinstance(intercept_options, dict) else {}
        if intercept_options is False:
            raise ValueError("the formula has an intercept; write 0 + ... to drop it")
        if "Intercept" in priors:
            options["prior"] = priors.pop("Intercept")
        out["intercept"] = options
    else:
        if isinstance(intercept_options, dict):
            raise ValueError("intercept options given, but the formula drops the intercept (0 +)")
        out["intercept"] = False
    predictor_options = _keyed(raw.get("predictors"), "predictors", "column")
    out["predictors"] = []
    for column, categorical_column in parsed.predictors:
        options = predictor_options.pop(column, {})
        if column in priors:
            options["prior"] = priors.pop(column)
        out["predictors"].append(
            {"column": column, **({"categorical": True} if categorical_column else {}), **options}
        )
    out["interactions"] = []
    for columns in parsed.interactions:
        entry: dict[str, Any] = {"columns": list(columns)}
        key = ":".join(columns)
        if key in priors:
            entry["prior"] = priors.pop(key)
        out["interactions"].append(entry)
    if parsed.offset:
        out["offset"] = parsed.offset
    group_options = _keyed(raw.get("groups"), "groups", "factor")
    out["groups"] = []
    for group in parsed.groups:
        options = group_options.pop(group.factor, {})
        slope_options = _keyed(
            options.pop("slopes", None), f"groups.{group.factor}.slopes", "column"
        )
        entry = {"factor": group.factor, **options}
        if f"1|{group.factor}" in priors:
            entry["scale"] = {**entry.get("scale", {}), "prior": priors.pop(f"1|{group.factor}")}
        slopes = []
        for column in group.slopes:
            slope = {"column": column, **slope_options.pop(column, {})}
            if f"{column}|{group.factor}" in priors:
                slope["scale"] = {
                    **slope.get("scale", {}),
                    "prior": priors.pop(f"{column}|{group.factor}"),
                }
            slopes.append(slope)
        if slope_options:
            raise ValueError(
                f"groups.{group.factor}.slopes: the formula has no slope {', '.join(slope_options)} "
                f"for {group.factor}"
            )
        if slopes:
            entry["slopes"] = slopes
        if group.correlated:
            entry.setdefault("correlated", True)
        out["groups"].append(entry)
    for what, left in (("predictors", predictor_options), ("groups", group_options)):
        if left:
            raise ValueError(f"{what}: the formula has no term for {', '.join(map(str, left))}")
    if priors:
        raise ValueError(
            f"priors: the formula has no term {', '.join(map(repr, priors))}; terms are "
            "Intercept, the column names, x:z for interactions, 1|FACTOR and COLUMN|FACTOR"
        )
    return out


def _keyed(options: Any, where: str, key: str) -> dict[str, dict[str, Any]]:
    """Options by term: a mapping ``{name: {...}}``, or a list of mappings with ``key``."""
    if options is None:
        return {}
    if isinstance(options, dict):
        return {str(k): dict(v or {}) for k, v in options.items()}
    if isinstance(options, list) and all(isinstance(o, dict) and key in o for o in options):
        return {str(o[key]): {k: v for k, v in o.items() if k != key} for o in options}
    raise ValueError(
        f"{where}: with formula, give options by term, e.g. {where}: {{NAME: {{...}}}}"
    )


def to_formula(spec: Any) -> dict[str, Any]:
    """A long-form spec (``ModelSpec``) as a formula spec mapping that expands back to it:
    the formula, then only the options that differ from the defaults. Used to write the
    formula twins of the example configs (configs/formula/)."""
    raw = spec.model_dump(mode="json", exclude_defaults=True)
    out: dict[str, Any] = {k: raw[k] for k in ("name", "description", "data") if k in raw}
    terms = ["1" if spec.intercept is not None else "0"]
    predictors = {}
    for p, dumped in zip(spec.predictors, raw.get("predictors", []), strict=True):
        terms.append(f"C({p.column})" if p.categorical else p.column)
        options = {k: v for k, v in dumped.items() if k not in ("column", "categorical")}
        if options:
            predictors[p.column] = options
    priors = {}
    for i, dumped in zip(spec.interactions, raw.get("interactions", []), strict=True):
        terms.append(":".join(i.columns))
        if "prior" in dumped:
            priors[":".join(i.columns)] = dumped["prior"]
        if "name" in dumped:
            raise ValueError("a named interaction has no formula twin")
    if spec.offset:
        terms.append(f"offset({spec.offset})")
    groups = {}
    for g, dumped in zip(spec.groups, raw.get("groups", []), strict=True):
        slopes = [s.column for s in g.slopes]
        bar = "|" if g.correlated else "||"
        terms.append(
            f"(1 + {' + '.join(slopes)} {bar} {g.factor})" if slopes else f"(1 | {g.factor})"
        )
        options = {k: v for k, v in dumped.items() if k not in ("factor", "correlated", "slopes")}
        slope_options = {
            s.column: {k: v for k, v in d.items() if k != "column"}
            for s, d in zip(g.slopes, dumped.get("slopes", []), strict=True)
        }
        slope_options = {k: v for k, v in slope_options.items() if v}
        if slope_options:
            options["slopes"] = slope_options
        if options:
            groups[g.factor] = options
    out["formula"] = f"{spec.response} ~ {' + '.join(terms)}"
    out["family"] = spec.likelihood
    for key in ("trials", "success", "link", "sigma", "nu", "alpha"):
        if key in raw:
            out[key] = raw[key]
    if "intercept" in raw and spec.intercept is not None:
        out["intercept"] = raw["intercept"]
    if predictors:
        out["predictors"] = predictors
    if priors:
        out["priors"] = priors
    if groups:
        out["groups"] = groups
    for key in ("sampler", "checks"):
        if key in raw:
            out[key] = raw[key]
    return out


def expand_spec_file(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """``expand_formula`` for the spec file at ``path``: string columns of its data are
    categorical; a formula problem becomes a ``SpecError`` naming the file and the term."""
    from hmdiag.errors import SpecError

    try:
        return expand_formula(raw, _string_columns(raw, path))
    except ValueError as exc:
        raise SpecError(str(path), [str(exc)]) from None


def _string_columns(raw: dict[str, Any], path: Path) -> Any:
    """Whether a data column holds anything but numbers (read once, on first use); False for
    every column when the file cannot be read (preparing the data reports that)."""
    import functools

    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    location = Path(str(data.get("path", "")))
    location = location if location.is_absolute() else path.parent / location

    @functools.cache
    def dtypes() -> dict[str, Any]:
        import pandas as pd

        try:
            return dict(pd.read_csv(location, nrows=2000).dtypes)
        except Exception:  # missing or unreadable: prepare_data names the problem later
            return {}

    def categorical(column: str) -> bool:
        import pandas as pd

        dtype = dtypes().get(column)
        return dtype is not None and not pd.api.types.is_numeric_dtype(dtype)

    return categorical
