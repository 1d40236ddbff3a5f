"""Wall time per phase of a command, so `fit --json` and `make bench` can say where time goes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# The phases of `hmdiag fit`, in the order they run. PyMC's own NUTS and the JAX backends
# compile inside their sampling call, so for them "compile" is part of "sample".
FIT_PHASES = (
    "import",
    "build",
    "compile",
    "sample",
    "postprocess",
    "model_fit",
    "save",
    "diagnose",
)


@dataclass
class PhaseTimes:
    """Seconds spent in each named phase; a phase entered twice accumulates."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block as phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def ordered(self) -> dict[str, float]:
        """Known phases in pipeline order (zero where skipped), then any others."""
        known = {name: self.seconds.get(name, 0.0) for name in FIT_PHASES}
        extra = {k: v for k, v in self.seconds.items() if k not in known}
        return {**known, **extra}
