"""Vectorized MCMC convergence diagnostics (R-hat, ESS, MCSE) over ``(..., chain, draw)`` arrays.

Why this exists: arviz-stats 1.x computes these one parameter at a time (its ``make_ufunc``
wrapper walks ``np.ndindex`` over the leading axes and calls a 2-D function per element), which
takes seconds for thousands of parameters. Here every step (ranks, normal scores, split chains,
autocovariances, Geyer's truncation) works on all parameters at once, in cache-sized chunks of
parameters that a thread pool spreads over the CPUs (NumPy releases the GIL in the heavy parts).

The algorithms mirror arviz-stats' ``base/diagnostics.py`` step for step (its tie handling, the
``1 / log10(n)`` floor on the autocorrelation time, the "improve estimation" last even lag, the
split-draw count returned for constant input, NaN for too few chains or draws or any NaN draw),
and ``tests/test_kernels.py`` checks them against ``arviz_stats.base.array_stats`` to 1e-8
relative (they typically agree to ~1e-15). The shortcuts below change results by rounding only:

* rank normal scores come from one ``ndtri`` table per sample size (average ranks, ties
  included, are multiples of 1/2), and the ranks from one sort of position-tagged integer keys;
* autocovariances are first summed directly for a few lags, which settles Geyer's truncation for
  well-mixing parameters; only parameters whose truncation lies beyond go through the FFT;
* split half-chains stay next to each other instead of all first halves first (all statistics
  are symmetric in the chains; only summation order changes).

Computation is in float64 whatever the input dtype; for float32 input arviz-stats carries
float32 rounding into its ranks and folded distances, so results differ from it by up to ~1e-4.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hmdiag.diagnose.kernels._blocks import _flat, _hdi_sorted, _subset_separation
from hmdiag.diagnose.kernels._chunks import (
    _MIN_DRAWS,
    SUMMARY_KEYS,
    _ess_chunk,
    _mcse_chunk,
    _rhat_chunk,
    _summary_chunk,
)
from hmdiag.diagnose.kernels._memory import _prime_allocator, release_memory

__all__ = [
    "DEFAULT_TAIL_PROB",
    "ESS_METHODS",
    "MCSE_METHODS",
    "RHAT_METHODS",
    "SUMMARY_KEYS",
    "ess",
    "hdi",
    "mcse",
    "release_memory",
    "rhat",
    "subset_separation",
    "summary_stats",
]

RHAT_METHODS = ("rank", "folded", "z_scale", "split", "identity")
ESS_METHODS = (
    "bulk",
    "tail",
    "mean",
    "sd",
    "quantile",
    "local",
    "median",
    "mad",
    "z_scale",
    "folded",
    "identity",
)
MCSE_METHODS = ("mean", "sd", "median", "quantile")

# arviz-stats' default rcParams["stats.ci_prob"], which its ``ess(method="tail")`` and
# ``summary`` use when no prob is given: tail ESS is then min(ESS(q=0.11), ESS(q=0.89)).
# (ArviZ 0.x and the Vehtari et al. paper use 0.05/0.95; pass prob=0.05 for that.)
DEFAULT_TAIL_PROB = 0.89

# Parameters per work chunk: about this many values (2 MiB arrays), small enough that a chunk's
# temporaries fit within the allocator's primed trim threshold (see _prime_allocator). Measured
# on 2 cores for 10,000 parameters x 4,000 draws (summary_stats, median of 3): 1 << 17 2.05 s,
# 1 << 18 1.71 s, 1 << 19 2.27 s (page faults: 0.03 M, 0.03 M, 0.96 M), 1 << 20 2.05 s.
_CHUNK_VALUES = 1 << 18


# --- public API ------------------------------------------------------------------------------


def rhat(
    ary: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    method: str = "rank",
    workers: int | None = None,
    split_one_chain: bool = False,
) -> NDArray[np.float64]:
    """Potential scale reduction factor (R-hat) of every parameter at once.

    Parameters
    ----------
    ary : array_like
        Draws with a chain and a draw axis; all other axes are parameters.
    chain_axis, draw_axis : int
        Positions of the chain and draw axes. ``chain_axis=None`` means a single chain.
    method : {"rank", "folded", "z_scale", "split", "identity"}
        "rank" (default) is the rank-normalized split R-hat of Vehtari et al. (2021): the larger
        of the bulk (z-scaled) and tail (folded, z-scaled) split R-hats.
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.
    split_one_chain : bool
        Compute the split R-hat of a single chain from its two halves, as Stan does (arviz-stats
        returns NaN for one chain). Only the split methods ("rank", "folded", "z_scale",
        "split") can.

    Returns
    -------
    ndarray
        One value per parameter (shape of the non-chain, non-draw axes). NaN where there are
        fewer than 2 chains (without ``split_one_chain``) or 4 draws, or the parameter has any NaN draw; as in arviz-stats,
        NaN too for a constant parameter (0/0), and huge values (up to inf) when each chain is
        stuck at its own value.
    """
    method = _check_method(method, RHAT_METHODS)
    min_chains = 1 if split_one_chain and method != "identity" else 2
    return _per_parameter(
        ary, chain_axis, draw_axis, min_chains, workers, lambda x: _rhat_chunk(x, method)
    )


def ess(
    ary: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    method: str = "bulk",
    relative: bool = False,
    prob: float | Sequence[float] | None = None,
    workers: int | None = None,
) -> NDArray[np.float64]:
    """Effective sample size of every parameter at once.

    Parameters
    ----------
    ary : array_like
        Draws with a chain and a draw axis; all other axes are parameters.
    chain_axis, draw_axis : int
        Positions of the chain and draw axes. ``chain_axis=None`` means a single chain.
    method : str
        One of "bulk" (default), "tail", "mean", "sd", "quantile", "local", "median", "mad",
        "z_scale", "folded", "identity", with arviz-stats' meanings.
    relative : bool
        Divide by the number of draws (ESS per draw).
    prob : float or (float, float), optional
        "tail": ``p`` gives min(ESS at quantile p, ESS at 1 - p); a pair gives the two quantiles
        directly; default ``DEFAULT_TAIL_PROB`` (0.89, arviz-stats' default). "quantile": the
        quantile (required). "local": the (lower, upper) pair of quantiles (required).
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.

    Returns
    -------
    ndarray
        One value per parameter. NaN where there are fewer than 4 draws or any NaN draw. A
        constant input (after the method's transformation) gives the number of split draws,
        as in arviz-stats.
    """
    method = _check_method(method, ESS_METHODS)
    if method == "tail":
        if prob is None:
            prob = DEFAULT_TAIL_PROB
        probs = tuple(prob) if isinstance(prob, Sequence) else tuple(sorted((prob, 1 - prob)))
        if len(probs) != 2:
            raise ValueError("prob for method='tail' must be a float or a (low, high) pair")
        prob = probs
    elif method in ("quantile", "local"):
        if prob is None:
            raise TypeError(f"prob is required for method={method!r}")
        if method == "local" and (not isinstance(prob, Sequence) or len(prob) != 2):
            raise ValueError("Prob argument in ess local must be upper and lower bound")
    return _per_parameter(
        ary, chain_axis, draw_axis, 1, workers, lambda x: _ess_chunk(x, method, relative, prob)
    )


def mcse(
    ary: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    method: str = "mean",
    prob: float | None = None,
    workers: int | None = None,
) -> NDArray[np.float64]:
    """Monte Carlo standard error of every parameter at once.

    Parameters
    ----------
    ary : array_like
        Draws with a chain and a draw axis; all other axes are parameters.
    chain_axis, draw_axis : int
        Positions of the chain and draw axes. ``chain_axis=None`` means a single chain.
    method : {"mean", "sd", "median", "quantile"}
        The estimand whose Monte Carlo error is wanted.
    prob : float, optional
        The quantile, required for ``method="quantile"``.
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.

    Returns
    -------
    ndarray
        One value per parameter. NaN where there are fewer than 4 draws or any NaN draw.
    """
    method = _check_method(method, MCSE_METHODS)
    if method == "median":
        method, prob = "quantile", 0.5
    elif method == "quantile" and prob is None:
        raise TypeError("prob is required for method='quantile'")
    return _per_parameter(
        ary, chain_axis, draw_axis, 1, workers, lambda x: _mcse_chunk(x, method, prob)
    )


def summary_stats(
    ary: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    tail_prob: float = DEFAULT_TAIL_PROB,
    hdi_prob: float | None = None,
    subset: ArrayLike | None = None,
    subset_transform: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
    workers: int | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Mean, sd and the convergence diagnostics of every parameter, sharing the work.

    The values are those of arviz-stats' ``summary(kind="all", round_to="none")`` columns:
    ``mean``, ``sd`` (ddof=1), ``mcse_mean``, ``mcse_sd``, ``ess_bulk``, ``ess_tail``
    (with ``tail_prob`` as in :func:`ess`) and ``r_hat`` (rank). One sort of the split draws
    gives the bulk ranks, the median, the tail quantiles and (merged into distance order) the
    folded ranks.

    Parameters
    ----------
    ary : array_like
        Draws with a chain and a draw axis; all other axes are parameters.
    chain_axis, draw_axis : int
        Positions of the chain and draw axes. ``chain_axis=None`` means a single chain.
    tail_prob : float
        See ``prob`` of :func:`ess` for ``method="tail"``.
    hdi_prob : float, optional
        Also return the bounds of :func:`hdi` at this probability, as ``hdi_low`` and
        ``hdi_high``, from the same sort (one pass over the draws instead of two).
    subset, subset_transform :
        Also return :func:`subset_separation`'s ``ks`` and ``median_quantile`` for this
        subset of draws, as ``subset_ks`` and ``subset_median_quantile``, from the same sort.
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.

    Returns
    -------
    dict of str to ndarray
        Each array has one value per parameter. Degenerate parameters get NaN where the
        corresponding function above returns NaN; ``mean`` and ``sd`` are plain NumPy values.
    """
    probs = tuple(sorted((tail_prob, 1 - tail_prob)))
    x, lead = _prepare(ary, chain_axis, draw_axis)
    separate = None if subset is None else (_check_subset(subset, x.shape), subset_transform)
    results, has_nan = _map_chunks(
        lambda c: _summary_chunk(c, probs, hdi_prob, separate), x, workers
    )
    out = {}
    keys = SUMMARY_KEYS + (("hdi_low", "hdi_high") if hdi_prob is not None else ())
    keys += ("subset_ks", "subset_median_quantile") if separate is not None else ()
    for key in keys:
        value = np.concatenate([r[key] for r in results])
        value[has_nan] = np.nan
        out[key] = value.reshape(lead)
    return out


def subset_separation(
    ary: ArrayLike,
    subset: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    transform: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
    workers: int | None = None,
) -> dict[str, NDArray[np.float64]]:
    """How far a subset of the draws (the divergent ones, say) sits from the others, for
    every parameter at once.

    Parameters
    ----------
    ary : array_like
        Draws with a chain and a draw axis; all other axes are parameters.
    subset : array_like of bool
        One flag per draw, over the chain and draw axes in that order (``chains * draws``
        values, chain-major); at least one draw in and one out.
    chain_axis, draw_axis : int
        Positions of the chain and draw axes. ``chain_axis=None`` means a single chain.
    transform : callable, optional
        An increasing elementwise map (``np.log``) to the scale the median is taken on; the
        KS distance does not depend on it.
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.

    Returns
    -------
    dict of str to ndarray
        ``ks``: the two-sample Kolmogorov-Smirnov distance between the subset and the other
        draws (scipy's ``ks_2samp(...).statistic``); ``median_quantile``: the share of the
        other draws at or below the subset's median. NaN for a parameter with a non-finite
        draw or a single value.
    """
    x, lead = _prepare(ary, chain_axis, draw_axis)
    mask = _check_subset(subset, x.shape)

    def chunk(c: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        flat = _flat(c)
        return _subset_separation(flat, np.sort(flat, axis=-1), mask, transform)

    results, has_nan = _map_chunks(chunk, x, workers)
    out = {}
    for i, key in enumerate(("ks", "median_quantile")):
        value = np.concatenate([r[i] for r in results])
        value[has_nan] = np.nan
        out[key] = value.reshape(lead)
    return out


def _check_subset(subset: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    mask = np.asarray(subset, dtype=bool).reshape(-1)
    if mask.size != shape[1] * shape[2]:
        raise ValueError(f"subset has {mask.size} flags for {shape[1] * shape[2]} draws")
    if not 0 < int(mask.sum()) < mask.size:
        raise ValueError("subset must hold at least one draw and leave out at least one")
    return mask


def hdi(
    ary: ArrayLike,
    prob: float,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    workers: int | None = None,
) -> NDArray[np.float64]:
    """Highest density interval of every parameter: the narrowest interval of sorted draws.

    arviz-stats' ``hdi(method="nearest")`` (its default) for all parameters at once: of the
    intervals ``[x[i], x[i + k]]`` with ``k = min(floor(prob * n), n - 1)`` over the sorted
    draws, the first narrowest. Returns ``(..., 2)``; NaN bounds for parameters with a NaN draw.
    """
    if chain_axis is None:
        values = np.asarray(ary, dtype=float)
        if values.shape[draw_axis] < 2:
            raise ValueError("hdi needs at least 2 draws")
    x, lead = _prepare(ary, chain_axis, draw_axis)
    if x.shape[1] * x.shape[2] < 2:
        raise ValueError("hdi needs at least 2 draws")
    results, has_nan = _map_chunks(
        lambda c: _hdi_sorted(np.sort(_flat(c), axis=-1), prob), x, workers
    )
    bounds = np.concatenate(results)
    bounds[has_nan] = np.nan
    return bounds.reshape(*lead, 2)


# --- batching --------------------------------------------------------------------------------


def _check_method(method: str, valid: tuple[str, ...]) -> str:
    method = method.lower()
    if method not in valid:
        raise ValueError(f"Requested method '{method}' but it must be one of {list(valid)}")
    return method


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare(
    ary: ArrayLike, chain_axis: int | None, draw_axis: int
) -> tuple[NDArray[Any], tuple[int, ...]]:
    """A (param, chain, draw) view of the draws (a copy only where the axes demand one) and
    the parameter shape. ``_map_chunks`` makes each chunk contiguous float64 in its worker."""
    x = np.asarray(ary)
    if chain_axis is None:
        x = x[np.newaxis]
        chain_axis = 0
        draw_axis = draw_axis + 1 if draw_axis >= 0 else draw_axis
    x = np.moveaxis(x, [chain_axis, draw_axis], [-2, -1])
    lead = x.shape[:-2]
    return x.reshape(int(np.prod(lead)), *x.shape[-2:]), lead


def _map_chunks(
    func: Callable[[NDArray[np.float64]], Any], x: NDArray[Any], workers: int | None
) -> tuple[list[Any], NDArray[np.bool_]]:
    """``func`` over chunks of parameters, on a thread pool (NumPy releases the GIL); and
    which parameters have a NaN draw.

    Each worker copies its chunk into contiguous float64 (the transpose from the stored
    (chain, draw, param) layout happens there, in parallel) and zeroes NaN parameters so the
    kernels run quietly; callers set those parameters' results to NaN.
    """
    n_par, n_chain, n_draw = x.shape
    per_chunk = max(1, _CHUNK_VALUES // max(1, n_chain * n_draw))
    chunks = [x[i : i + per_chunk] for i in range(0, n_par, per_chunk)] or [x]

    def guarded(chunk: NDArray[Any]) -> tuple[Any, NDArray[np.bool_]]:
        contiguous = np.ascontiguousarray(chunk, dtype=float)
        has_nan = np.isnan(contiguous).any(axis=(1, 2))
        if has_nan.any():
            contiguous = contiguous.copy() if contiguous is chunk else contiguous
            contiguous[has_nan] = 0.0
        # errstate is per thread; 0/0 for constant parameters is expected (NaN, as arviz-stats).
        with np.errstate(divide="ignore", invalid="ignore"):
            return func(contiguous), has_nan

    _prime_allocator()
    n_workers = min(len(chunks), workers or available_cpus())
    if n_workers <= 1:
        pairs = [guarded(c) for c in chunks]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            pairs = list(pool.map(guarded, chunks))
    return [r for r, _ in pairs], np.concatenate([h for _, h in pairs])


def _per_parameter(
    ary: ArrayLike,
    chain_axis: int | None,
    draw_axis: int,
    min_chains: int,
    workers: int | None,
    func: Callable[[NDArray[np.float64]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """One diagnostic: NaN for arviz-stats' invalid inputs, ``func`` chunk-wise elsewhere."""
    x, lead = _prepare(ary, chain_axis, draw_axis)
    if x.shape[1] < min_chains or x.shape[2] < _MIN_DRAWS:
        return np.full(lead, np.nan)
    results, has_nan = _map_chunks(func, x, workers)
    out = np.concatenate(results)
    out[has_nan] = np.nan
    return out.reshape(lead)


# --- chunk kernels: x is (param, chain, draw) float64, NaN-free ------------------------------
