"""hmdiag.diagnose.kernels against arviz-stats' array layer, timed in one process.

    python benchmarks/kernels_bench.py [--params 2000] [--big 10000] [--repeat 3]

Times arviz-stats' ``array_stats`` (ESS bulk, ESS tail, rank R-hat: a Python loop over
parameters) and the vectorized kernels on 4 chains x 1000 draws x ``--params`` parameters,
printing seconds and ratios, then the kernels alone on ``--big`` parameters (all summary
diagnostics at once). Nothing is asserted: numbers are reported. Wall time depends on what
else the machine runs, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
from arviz_stats.base import array_stats

from hmdiag.diagnose import kernels

CHAINS, DRAWS = 4, 1000


def best_of(func: Callable[[], object], repeat: int, clock: str = "wall") -> tuple[float, object]:
    """Fastest time of ``repeat`` runs (wall, or this process's CPU), and the last result."""
    timer = time.perf_counter if clock == "wall" else time.process_time
    times, result = [], None
    for _ in range(repeat):
        start = timer()
        result = func()
        times.append(timer() - start)
    return min(times), result


def draws(n_params: int, seed: int) -> np.ndarray:
    """Mostly independent draws with some autocorrelated parameters, (param, chain, draw)."""
    rng = np.random.default_rng(seed)
    ary = rng.standard_normal((n_params, CHAINS, DRAWS))
    sticky = ary[: n_params // 10]
    for t in range(1, DRAWS):  # AR(1), phi = 0.9, for a tenth of the parameters
        sticky[..., t] += 0.9 * sticky[..., t - 1]
    return ary


def max_rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.nanmax(np.abs(got - want) / np.abs(want)))


def compare(n_params: int, repeat: int) -> None:
    ary = draws(n_params, seed=1)
    tail_prob = kernels.DEFAULT_TAIL_PROB
    cases = [
        (
            "ess bulk",
            lambda: array_stats.ess(ary, method="bulk"),
            lambda w: kernels.ess(ary, method="bulk", workers=w),
        ),
        (
            "ess tail",
            lambda: array_stats.ess(ary, method="tail", prob=tail_prob),
            lambda w: kernels.ess(ary, method="tail", prob=tail_prob, workers=w),
        ),
        (
            "rhat rank",
            lambda: array_stats.rhat(ary, method="rank"),
            lambda w: kernels.rhat(ary, method="rank", workers=w),
        ),
    ]
    print(f"\n{CHAINS} chains x {DRAWS} draws x {n_params} parameters")
    print(
        f"{'':12s}{'arviz-stats':>12s}{'kernels 1T':>12s}{'kernels':>10s}{'ratio':>8s}  max rel diff"
    )
    total_ref = total_ours = 0.0
    for name, ref, ours in cases:
        t_ref, want = best_of(ref, 1)
        t_one, _ = best_of(lambda ours=ours: ours(1), repeat)
        t_all, got = best_of(lambda ours=ours: ours(None), repeat)
        total_ref += t_ref
        total_ours += t_all
        diff = max_rel_diff(np.asarray(got), np.asarray(want))
        print(
            f"{name:12s}{t_ref:11.2f}s{t_one:11.3f}s{t_all:9.3f}s{t_ref / t_all:7.0f}x  {diff:.1e}"
        )
    print(
        f"{'together':12s}{total_ref:11.2f}s{'':12s}{total_ours:9.3f}s{total_ref / total_ours:7.0f}x"
    )


def big(n_params: int, repeat: int) -> None:
    ary = draws(n_params, seed=2)
    print(f"\n{CHAINS} chains x {DRAWS} draws x {n_params} parameters, kernels only")
    for workers in (1, None):
        label = "1 thread" if workers == 1 else f"{_cpus()} threads"
        t_sum, _ = best_of(lambda w=workers: kernels.summary_stats(ary, workers=w), repeat)
        c_sum, _ = best_of(lambda w=workers: kernels.summary_stats(ary, workers=w), 1, "cpu")
        parts = {
            "ess bulk": lambda w=workers: kernels.ess(ary, method="bulk", workers=w),
            "ess tail": lambda w=workers: kernels.ess(ary, method="tail", workers=w),
            "rhat rank": lambda w=workers: kernels.rhat(ary, workers=w),
            "mcse mean": lambda w=workers: kernels.mcse(ary, method="mean", workers=w),
            "mcse sd": lambda w=workers: kernels.mcse(ary, method="sd", workers=w),
        }
        t_parts = {name: best_of(func, repeat)[0] for name, func in parts.items()}
        separate = sum(t_parts.values())
        detail = ", ".join(f"{name} {t:.2f}s" for name, t in t_parts.items())
        print(
            f"  {label}: summary_stats {t_sum:.2f}s wall, {c_sum:.2f}s CPU"
            f" (separately {separate:.2f}s wall: {detail})"
        )


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=2000)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"CPUs available: {_cpus()}, load average: {os.getloadavg()[0]:.2f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        compare(args.params, args.repeat)
        big(args.big, args.repeat)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
