"""Write the formula twin of every spec in configs/ (bangladesh, examples, pathologies,
scale) into configs/formula/<folder>/: the same model written as a `formula:` plus the
options that differ from the defaults. tests/test_formula.py checks that each twin expands to
exactly its original spec and model graph, and samples identical draws.

    python configs/formula/build.py
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hmdiag.spec import load_spec
from hmdiag.spec.formula import to_formula

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent
FOLDERS = ("bangladesh", "examples", "pathologies", "scale")


def main() -> None:
    for folder in FOLDERS:
        (HERE / folder).mkdir(exist_ok=True)
        for source in sorted((CONFIGS / folder).glob("*.yaml")):
            loaded = load_spec(source)
            twin = to_formula(loaded.spec)
            target = HERE / folder / source.name
            data = loaded.data_path.resolve()
            twin["data"]["path"] = os.path.relpath(data, target.parent)
            header = (
                f"# Formula twin of configs/{folder}/{source.name}: the same model "
                "(tests/test_formula.py).\n"
            )
            text = yaml.safe_dump(twin, sort_keys=False, width=100, allow_unicode=True)
            target.write_text(header + text)
            print(f"wrote {target.relative_to(CONFIGS.parent)}")


if __name__ == "__main__":
    main()
