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

from hmdiag.spec.table import categorical_test

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
    # the slopes whose column is categorical: one slope per non-reference level
    categorical: list[str] = field(default_factory=list)


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
        parser = Parser(Scanner(plain).scan())
        tree = parser.parse()
        if not parser.at_end():  # formulae stops at the first token it cannot place
            raise ValueError(f"unexpected {parser.peek().lexeme!r}")
        description = formulae.model_description(plain)
    except Exception as exc:  # formulae raises ScanError, ParseError, ResolverError, ...
        raise ValueError(f"formula {text!r} cannot be parsed: {exc}") from None
    bar_terms = _bar_terms(tree, expr)
    if len(bar_terms) != len(bars):
        raise ValueError(
            f"formula {text!r}: each | belongs in a group term in parentheses, (1 + x | g)"
        )
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
            found = re.fullmatch(r"offset\(\s*(log\(\s*([^()]+?)\s*\)|[^()]+?)\s*\)", call)
            if found:
                if offset is not None:
                    raise ValueError(f"formula {text!r}: give one offset() term")
                column = found.group(2) or found.group(1)
                offset = f"log({column})" if found.group(2) else column
                continue
            raise ValueError(
                f"formula term {call!r}: hmdiag builds columns, C(column) and offset(column) "
                "or offset(log(column)); compute other transforms as a column"
            )
        names = []
        by = []  # the categorical column, if any: a slope per level
        written = ":".join(str(c.name) for c in components)
        for component in components:
            name = str(component.name)
            wrapped = re.fullmatch(r"C\((\w+)\)", name.replace(" ", ""))
            if wrapped or is_categorical(name):
                by.append(wrapped.group(1) if wrapped else name)
                names.append(by[-1])
                continue
            if not isinstance(component, formulae.terms.variable.Variable):
                raise ValueError(f"formula term {written}: interactions take plain numeric columns")
            names.append(name)
        if len(by) > 1:
            raise ValueError(
                f"formula term {written}: an interaction takes at most one categorical column "
                f"({', '.join(by)} are)"
            )
        if by and (by[0], True) not in predictors:
            raise ValueError(
                f"formula term {written}: add the main effect C({by[0]}) (e.g. write "
                f"{written.replace(':', '*')}); hmdiag codes {by[0]}'s levels against its reference"
            )
        interactions.append(tuple(names))
    # Each (... | g) term is a block: its effects, and whether they are correlated.
    blocks: dict[str, list[tuple[bool, list[str], bool]]] = {}
    factor_slopes: set[str] = set()  # slope columns that are categorical (strings or C())
    for bar, double in zip(bar_terms, bars, strict=True):
        factors = _factor_names(bar.right, expr, text)
        resolved = Resolver(bar.left).resolve()
        parts = getattr(resolved, "terms", [resolved])
        kinds = [type(p).__name__ for p in parts]
        has_intercept = "NegatedIntercept" not in kinds  # lme4: implicit unless 0 + / - 1
        slopes = []
        for part in parts:
            if type(part).__name__ in ("Intercept", "NegatedIntercept"):
                continue
            comps = part.components
            wrapped = (
                re.fullmatch(r"C\((\w+)\)", str(comps[0].name).replace(" ", ""))
                if len(comps) == 1
                else None
            )
            if wrapped:
                factor_slopes.add(wrapped.group(1))
                slopes.append(wrapped.group(1))
                continue
            if len(comps) != 1 or not isinstance(comps[0], formulae.terms.variable.Variable):
                raise ValueError(
                    f"formula group term ({bar.left} | {' / '.join(factors)}): varying slopes "
                    "take plain columns or C(column)"
                )
            if is_categorical(comps[0].name):
                factor_slopes.add(comps[0].name)
            slopes.append(comps[0].name)
        # (1 | a/b) is (1 | a) + (1 | a:b): the same effects for each factor.
        for factor in factors:
            blocks.setdefault(factor, []).append((has_intercept, slopes, double))
    groups = [_group_term(factor, terms) for factor, terms in blocks.items()]
    for group in groups:
        group.categorical = [s for s in group.slopes if s in factor_slopes]
    return ParsedFormula(response, intercept, predictors, interactions, groups, offset)


def _group_term(factor: str, blocks: list[tuple[bool, list[str], bool]]) -> GroupTerm:
    """One factor's terms as hmdiag's group: a varying intercept, its slopes, and one
    correlation block (all effects in one ``|`` term) or none (``||``, or single effects in
    separate terms). lme4 allows more mixtures; those are refused, naming the factor."""
    intercepts = sum(has for has, _, _ in blocks)
    slopes = [s for _, block, _ in blocks for s in block]
    if intercepts == 0:
        raise ValueError(
            f"formula: the slopes of {factor} come without its varying intercept; hmdiag's "
            f"group terms always have one: write (1 + slope | {factor}) or add (1 | {factor})"
        )
    if intercepts > 1 or len(set(slopes)) != len(slopes):
        raise ValueError(f"formula: an effect of {factor} appears in two of its group terms")
    if len(blocks) == 1:
        _, block, double = blocks[0]
        return GroupTerm(factor, True, block, correlated=bool(block) and not double)
    if any(len(block) + has > 1 and not double for has, block, double in blocks):
        raise ValueError(
            f"formula: the terms of {factor} mix a correlated block with separate effects; "
            f"hmdiag has one correlation block per group: write (1 + {' + '.join(slopes)} | "
            f"{factor}) or (1 + {' + '.join(slopes)} || {factor})"
        )
    return GroupTerm(factor, True, slopes, correlated=False)


def _response_name(description: Any, text: str) -> str:
    from formulae.terms.variable import Variable

    response = getattr(description, "response", None)
    term = getattr(response, "term", None)
    components = getattr(getattr(term, "term", term), "components", None) or []
    if len(components) != 1 or not isinstance(components[0], Variable):
        raise ValueError(
            f"formula {text!r}: the left of ~ must be one response column (compute a "
            "transformed response as a column)"
        )
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


def _factor_names(node: Any, expr: Any, text: str) -> list[str]:
    """The grouping factors of a bar term's right side: ``g``; ``a:b`` (the combined levels
    of a and b, one factor); ``a/b`` (nested: ``a`` and ``a:b``)."""

    def name(item: Any) -> str:
        if isinstance(item, expr.Variable):
            return str(item.name.lexeme if hasattr(item.name, "lexeme") else item.name)
        if isinstance(item, expr.Binary) and item.operator.lexeme == ":":
            return f"{name(item.left)}:{name(item.right)}"
        raise ValueError(
            f"formula {text!r}: a grouping factor is a column, a:b (combined levels) or a/b "
            "(b nested in a)"
        )

    if isinstance(node, expr.Binary) and node.operator.lexeme == "/":
        outer = _factor_names(node.left, expr, text)
        return [*outer, f"{outer[-1]}:{name(node.right)}"]
    return [name(node)]


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
    if intercept_options is not None and not isinstance(intercept_options, dict | bool):
        raise ValueError(
            f"intercept: with formula, a mapping of options ({{name, prior}}), got "
            f"{intercept_options!r}"
        )
    if parsed.intercept:
        if intercept_options is False:
            raise ValueError("the formula has an intercept; write 0 + ... to drop it")
        options = dict(intercept_options) if isinstance(intercept_options, dict) else {}
        _prior_once(options, priors, "Intercept", "intercept")
        out["intercept"] = options
    else:
        if intercept_options not in (None, False):
            raise ValueError("intercept options given, but the formula drops the intercept (0 +)")
        out["intercept"] = False
    predictor_options = _keyed(raw.get("predictors"), "predictors", "column")
    out["predictors"] = []
    for column, categorical_column in parsed.predictors:
        where = f"predictors.{column}"
        options = _checked_options(predictor_options.pop(column, {}), where)
        _prior_once(options, priors, column, where)
        out["predictors"].append(
            {**options, "column": column, **({"categorical": True} if categorical_column else {})}
        )
    out["interactions"] = []
    for columns in parsed.interactions:
        entry: dict[str, Any] = {"columns": list(columns)}
        _prior_once(entry, priors, ":".join(columns), "interactions")
        out["interactions"].append(entry)
    if parsed.offset:
        out["offset"] = parsed.offset
    group_options = _keyed(raw.get("groups"), "groups", "factor")
    out["groups"] = []
    for group in parsed.groups:
        where = f"groups.{group.factor}"
        options = group_options.pop(group.factor, {})
        slope_options = _keyed(options.pop("slopes", None), f"{where}.slopes", "column")
        entry = {**_checked_options(options, where), "factor": group.factor}
        scale = dict(entry.get("scale", {}))
        _prior_once(scale, priors, f"1|{group.factor}", f"{where}.scale")
        if scale:
            entry["scale"] = scale
        slopes = []
        for column in group.slopes:
            slope_where = f"{where}.slopes.{column}"
            slope = {
                **_checked_options(slope_options.pop(column, {}), slope_where),
                "column": column,
                **({"categorical": True} if column in group.categorical else {}),
            }
            slope_scale = dict(slope.get("scale", {}))
            _prior_once(slope_scale, priors, f"{column}|{group.factor}", f"{slope_where}.scale")
            if slope_scale:
                slope["scale"] = slope_scale
            slopes.append(slope)
        if slope_options:
            raise ValueError(
                f"groups.{group.factor}.slopes: the formula has no slope {', '.join(slope_options)} "
                f"for {group.factor}"
            )
        if slopes:
            entry["slopes"] = slopes
        if group.correlated:
            entry["correlated"] = True
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


# Keys the formula decides; options may not set them.
STRUCTURE_OPTION_KEYS = ("column", "columns", "factor", "categorical", "correlated", "slopes")


def _keyed(options: Any, where: str, key: str) -> dict[str, dict[str, Any]]:
    """Options by term: a mapping ``{name: {...}}``, or a list of mappings with ``key``."""
    if options is None:
        return {}
    if isinstance(options, list) and all(isinstance(o, dict) and key in o for o in options):
        options = {o[key]: {k: v for k, v in o.items() if k != key} for o in options}
    if not isinstance(options, dict):
        raise ValueError(
            f"{where}: with formula, give options by term, e.g. {where}: {{NAME: {{...}}}}"
        )
    out = {}
    for name, value in options.items():
        if value is not None and not isinstance(value, dict):
            raise ValueError(
                f"{where}.{name}: options are a mapping (e.g. {{prior: ...}}), got {value!r}"
            )
        out[str(name)] = dict(value or {})
    return out


def _checked_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Term options, refusing keys the formula decides (the term's column or factor, whether
    it is categorical or correlated) and a scale that is not a mapping."""
    fixed = [k for k in options if k in STRUCTURE_OPTION_KEYS]
    if fixed:
        raise ValueError(
            f"{where}: {', '.join(fixed)} comes from the formula; remove it from the options"
        )
    if "scale" in options and not isinstance(options["scale"], dict):
        raise ValueError(
            f"{where}.scale: a mapping (e.g. {{prior: ...}}), got {options['scale']!r}"
        )
    return options


def _prior_once(options: dict[str, Any], priors: dict[str, Any], term: str, where: str) -> None:
    """Move ``priors[term]`` into ``options`` (refusing a second prior for the term)."""
    if term not in priors:
        return
    if "prior" in options:
        raise ValueError(f"{where}: a prior here and priors: {term!r} too; keep one")
    options["prior"] = priors.pop(term)


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
        slopes = [f"C({s.column})" if s.categorical else s.column for s in g.slopes]
        bar = "|" if g.correlated else "||"
        terms.append(
            f"(1 + {' + '.join(slopes)} {bar} {g.factor})" if slopes else f"(1 | {g.factor})"
        )
        options = {k: v for k, v in dumped.items() if k not in ("factor", "correlated", "slopes")}
        slope_options = {
            s.column: {k: v for k, v in d.items() if k not in ("column", "categorical")}
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
        return expand_formula(raw, categorical_test(raw, path))
    except ValueError as exc:
        raise SpecError(str(path), [str(exc)]) from None
