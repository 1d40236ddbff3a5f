"""The case registry of the diagnosis benchmark, and the helpers its generators share.

``GENERATORS[name] = (expected entry or None, how the data are made, repairable, build)``;
``build()`` returns ``(spec without name/data, columns)``, simulated from a fixed seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Built = tuple[dict[str, Any], dict[str, Any]]
GENERATORS: dict[str, tuple[str | None, str, bool, Callable[[], Built]]] = {}


def case(name: str, expected: str | None, generator: str, repairable: bool) -> Callable:
    def register(build: Callable[[], Built]) -> Callable[[], Built]:
        GENERATORS[name] = (expected, generator, repairable, build)
        return build

    return register


def labels(prefix: str, index: np.ndarray) -> list[str]:
    return [f"{prefix}{i + 1}" for i in index]


def sampler(seed: int, **more: Any) -> dict[str, Any]:
    return {"seed": seed, **more}


def group(factor: str, param: str = "non_centered", prior: str = "halfnormal(1)", **more: Any):
    return {
        "factor": factor,
        "pooling": "partial",
        "parameterization": param,
        "scale": {"prior": prior},
        **more,
    }
