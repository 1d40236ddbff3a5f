"""The package's layout rules, read from the source with ``ast``: stages import downward only,
there are no import cycles, no source file is over 500 lines, and the README's code map
names every stage folder.

Stages, lowest first (a module may import its own stage and any stage below it):

    spec -> model -> runs, sampling -> diagnose -> workflows -> render -> cli, api

``runs`` and ``sampling`` share a floor but do not import each other. ``render`` imports
no workflow: it formats the result objects it is handed. The foundation modules
(``_version``, ``_datatree``, ``errors``, ``_lazy``, ``_views``) import no stage and may be imported by all.
``render`` may name a workflow's result type under ``TYPE_CHECKING``, for annotations only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hmdiag"
README = PACKAGE.parents[1] / "README.md"
MAX_LINES = 500

FOUNDATION = {
    "hmdiag._version",
    "hmdiag._datatree",
    "hmdiag.errors",
    "hmdiag._lazy",
    "hmdiag._views",
}
# The package itself re-exports the notebook functions, and ``python -m hmdiag`` runs the CLI.
TOP = {"hmdiag": "api", "hmdiag.__main__": "cli"}
RANK = {
    "spec": 1,
    "model": 2,
    "runs": 3,
    "sampling": 3,
    "diagnose": 4,
    "workflows": 5,
    "render": 6,
    "cli": 7,
    "api": 7,
}
STAGES = [name for name in RANK if name != "api"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str | None:
    if module in FOUNDATION:
        return None
    return TOP.get(module) or module.split(".")[1]


def resolve(name: str) -> str | None:
    """The hmdiag module an imported dotted name lives in (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def typing_only_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """Every hmdiag module ``module`` imports, anywhere in the file (function bodies and
    ``TYPE_CHECKING`` blocks included: a deferred import is still a dependency), with its
    line and whether it is for annotations only."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = typing_only_lines(tree)
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if not target.startswith("hmdiag"):
                continue
            resolved = resolve(target)
            if resolved is not None and resolved != module:
                found.append((resolved, node.lineno, node.lineno in typing_only))
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_the_stages_are_folders_in_the_package() -> None:
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    assert (PACKAGE / "api.py").is_file()
    loose = sorted(
        m for m in MODULES if m.count(".") == 1 and m not in FOUNDATION and stage_of(m) not in RANK
    )
    assert loose == [], f"modules outside every stage folder: {loose}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_only(module: str) -> None:
    stage = stage_of(module)
    wrong = []
    for target, line, typing_only in GRAPH[module]:
        target_stage = stage_of(target)
        if target_stage is None:
            continue
        if stage is None:
            wrong.append(f"line {line}: foundation module imports {target}")
            continue
        if target_stage == stage:
            continue
        if target_stage == "render" and stage not in {"cli", "api"}:
            wrong.append(f"line {line}: {target} (only cli and api import render)")
        elif stage == "render" and target_stage == "workflows" and not typing_only:
            wrong.append(f"line {line}: {target} (render imports no workflow)")
        elif RANK[target_stage] >= RANK[stage]:
            wrong.append(f"line {line}: {target} is not below {stage}")
    assert wrong == [], f"{MODULES[module].relative_to(PACKAGE.parent)}: " + "; ".join(wrong)


def find_cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle a depth-first walk meets, as the modules along it, first one repeated."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        trail.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, trail)
        trail.pop()
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [])
    return cycles


def test_there_are_no_import_cycles() -> None:
    # A package's __init__ may import its submodules; a submodule importing its package back
    # is the cycle that breaks at import time, so every edge counts.
    edges = {m: sorted({t for t, _, _ in GRAPH[m]}) for m in MODULES}
    cycles = find_cycles(edges)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": ["b", "c"], "b": ["c"], "c": []}) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_source_file_is_over_500_lines(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(PACKAGE.parent)}: {lines} lines"


def test_the_readme_code_map_names_every_stage_folder() -> None:
    text = README.read_text()
    match = re.search(r"^## Code map\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "README.md has no '## Code map' section"
    section = match.group(1)
    listed = set(re.findall(r"^[-*]\s+`([a-z_]+)/`", section, re.M))
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert listed == folders, f"code map lists {sorted(listed)}, tree has {sorted(folders)}"
    assert "api.py" in section
    assert "down" in section.lower()
