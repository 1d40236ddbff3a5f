"""In-process compile reuse: the same model structure fitted twice (as doctor attempts do)."""

from __future__ import annotations

import time
import warnings

warnings.simplefilter("ignore")

from pathlib import Path  # noqa: E402

from hmdiag.spec import load_spec, with_sampler_overrides  # noqa: E402
from hmdiag.workflows.fit import fit  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "bangladesh" / "mme4.yaml"


def main() -> None:
    """Print one line per backend: first fit vs a second fit with only target_accept changed."""
    loaded = load_spec(CONFIG)
    for backend in ("nutpie", "pymc"):
        times = []
        for target in (0.95, 0.99):
            start = time.perf_counter()
            fit(with_sampler_overrides(loaded, backend=backend, target_accept=target))
            times.append(time.perf_counter() - start)
        reused = (
            "the built model and the numba-compiled sampler are reused"
            if backend == "nutpie"
            else "the built model is reused; PyMC recompiles its NUTS step, cheaply from PyTensor's disk cache"
        )
        print(
            f"{backend}: two fits of mme4 in one process (target_accept 0.95 then 0.99): "
            f"first {times[0]:.1f} s, second {times[1]:.1f} s (ratio {times[1] / times[0]:.2f}; {reused})"
        )


if __name__ == "__main__":
    main()
