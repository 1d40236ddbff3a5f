"""The spec a doctor writes: its YAML text, with the data path made relative to where it is
written, and a short diff of its settings against the original."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from hmdiag.spec import LoadedSpec, ModelSpec, spec_to_yaml


def fixed_spec_text(
    original: LoadedSpec, fixed: ModelSpec, target: Path, changes: list[str]
) -> str:
    """YAML of the fixed spec, with data.path rewritten relative to where it is written."""
    data_path = original.data_path.resolve()
    if not original.spec.data.path.is_absolute():
        data_path = Path(os.path.relpath(data_path, target.resolve().parent))
    raw_spec = fixed.model_copy(update={"data": fixed.data.model_copy(update={"path": data_path})})
    header = [
        f"# Written by hmdiag doctor from {original.path.name}.",
        *[f"# change: {c}" for c in changes],
    ]
    return "\n".join(header) + "\n" + spec_to_yaml(raw_spec)


def spec_diff(original: ModelSpec, fixed: ModelSpec, name_a: str, name_b: str) -> str:
    """A short unified diff of the two specs' settings (defaults omitted)."""
    a = spec_to_yaml(original).splitlines()
    b = spec_to_yaml(fixed).splitlines()
    return "\n".join(difflib.unified_diff(a, b, fromfile=name_a, tofile=name_b, lineterm="", n=1))
