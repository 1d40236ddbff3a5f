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
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft as sp_fft
from scipy import special, stats

__all__ = [
    "DEFAULT_TAIL_PROB",
    "ESS_METHODS",
    "MCSE_METHODS",
    "RHAT_METHODS",
    "SUMMARY_KEYS",
    "ess",
    "hdi",
    "mcse",
    "rhat",
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
SUMMARY_KEYS = ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat")

# arviz-stats' default rcParams["stats.ci_prob"], which its ``ess(method="tail")`` and
# ``summary`` use when no prob is given: tail ESS is then min(ESS(q=0.11), ESS(q=0.89)).
# (ArviZ 0.x and the Vehtari et al. paper use 0.05/0.95; pass prob=0.05 for that.)
DEFAULT_TAIL_PROB = 0.89

_BLOM_C = 3 / 8
# Low key bits given to positions when sorting (rows of up to 2**20 values keep >= 44 value
# bits); longer rows use a plain argsort.
_MAX_INDEX_BITS = 20
_RESOLUTION = np.finfo(float).resolution
_MIN_DRAWS = 4
# Lags computed directly, in stages, before falling back to the FFT: for independent draws
# Geyer's truncation pair lies beyond lag 6 for ~1/4 of the parameters, beyond 20 for ~1/1000.
_DIRECT_LAGS = (6, 20)
# Parameters per work chunk: about this many values (1 MiB arrays), small enough that a chunk's
# temporaries fit within the allocator's primed trim threshold (see _prime_allocator).
_CHUNK_VALUES = 1 << 17
# The MCSE-quantile interval (+-1 sd of a normal), as arviz-stats hard-codes it.
_MCSE_QUANTILE_PROBS = np.array([0.1586553, 0.8413447])

_Chunk = dict[str, NDArray[np.float64]]


# --- public API ------------------------------------------------------------------------------


def rhat(
    ary: ArrayLike,
    *,
    chain_axis: int | None = -2,
    draw_axis: int = -1,
    method: str = "rank",
    workers: int | None = None,
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

    Returns
    -------
    ndarray
        One value per parameter (shape of the non-chain, non-draw axes). NaN where there are
        fewer than 2 chains or 4 draws, or the parameter has any NaN draw; as in arviz-stats,
        NaN too for a constant parameter (0/0), and huge values (up to inf) when each chain is
        stuck at its own value.
    """
    method = _check_method(method, RHAT_METHODS)
    return _per_parameter(ary, chain_axis, draw_axis, 2, workers, lambda x: _rhat_chunk(x, method))


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
    workers : int, optional
        Threads to use; defaults to the CPUs available to this process.

    Returns
    -------
    dict of str to ndarray
        Each array has one value per parameter. Degenerate parameters get NaN where the
        corresponding function above returns NaN; ``mean`` and ``sd`` are plain NumPy values.
    """
    probs = tuple(sorted((tail_prob, 1 - tail_prob)))
    x, lead, has_nan = _prepare(ary, chain_axis, draw_axis)
    results = _map_chunks(lambda c: _summary_chunk(c, probs), x, workers)
    out = {}
    for key in SUMMARY_KEYS:
        value = np.concatenate([r[key] for r in results])
        value[has_nan] = np.nan
        out[key] = value.reshape(lead)
    return out


def hdi(
    ary: ArrayLike, prob: float, *, chain_axis: int | None = -2, draw_axis: int = -1
) -> NDArray[np.float64]:
    """Highest density interval of every parameter: the narrowest interval of sorted draws.

    arviz-stats' ``hdi(method="nearest")`` (its default) for all parameters at once: of the
    intervals ``[x[i], x[i + k]]`` with ``k = min(floor(prob * n), n - 1)`` over the sorted
    draws, the first narrowest. Returns ``(..., 2)``; NaN bounds for parameters with a NaN draw.
    """
    values = np.asarray(ary, dtype=float)
    axes = [draw_axis] if chain_axis is None else [chain_axis, draw_axis]
    axes = [a % values.ndim for a in axes]
    values = np.moveaxis(values, axes, list(range(values.ndim - len(axes), values.ndim)))
    lead = values.shape[: values.ndim - len(axes)]
    flat = values.reshape(*lead, -1)
    n = flat.shape[-1]
    if n < 2:
        raise ValueError("hdi needs at least 2 draws")
    ordered = np.sort(flat, axis=-1)
    k = min(int(np.floor(prob * n)), n - 1)
    widths = ordered[..., k:] - ordered[..., : n - k]
    start = np.argmin(widths, axis=-1)[..., None]
    bounds = np.concatenate(
        [
            np.take_along_axis(ordered, start, axis=-1),
            np.take_along_axis(ordered, start + k, axis=-1),
        ],
        axis=-1,
    )
    bounds[np.isnan(flat).any(axis=-1)] = np.nan
    return bounds


# --- batching --------------------------------------------------------------------------------


def _check_method(method: str, valid: tuple[str, ...]) -> str:
    method = method.lower()
    if method not in valid:
        raise ValueError(f"Requested method '{method}' but it must be one of {list(valid)}")
    return method


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare(
    ary: ArrayLike, chain_axis: int | None, draw_axis: int
) -> tuple[NDArray[np.float64], tuple[int, ...], NDArray[np.bool_]]:
    """(param, chain, draw) float64 view or copy, the parameter shape, and NaN parameters.

    NaN parameters are zeroed so the kernels run quietly; callers set their results to NaN.
    """
    x = np.asarray(ary, dtype=float)
    if chain_axis is None:
        x = x[np.newaxis]
        chain_axis = 0
        draw_axis = draw_axis + 1 if draw_axis >= 0 else draw_axis
    x = np.moveaxis(x, [chain_axis, draw_axis], [-2, -1])
    lead = x.shape[:-2]
    x = np.ascontiguousarray(x.reshape(int(np.prod(lead)), *x.shape[-2:]))
    has_nan = np.isnan(x).any(axis=(1, 2))
    if has_nan.any():
        x = x.copy()
        x[has_nan] = 0.0
    return x, lead, has_nan


def _map_chunks(
    func: Callable[[NDArray[np.float64]], Any], x: NDArray[np.float64], workers: int | None
) -> list[Any]:
    """``func`` over chunks of parameters, on a thread pool (NumPy releases the GIL)."""
    n_par, n_chain, n_draw = x.shape
    per_chunk = max(1, _CHUNK_VALUES // max(1, n_chain * n_draw))
    chunks = [x[i : i + per_chunk] for i in range(0, n_par, per_chunk)] or [x]

    def guarded(chunk: NDArray[np.float64]) -> Any:
        # errstate is per thread; 0/0 for constant parameters is expected (NaN, as arviz-stats).
        with np.errstate(divide="ignore", invalid="ignore"):
            return func(chunk)

    _prime_allocator()
    n_workers = min(len(chunks), workers or _available_cpus())
    if n_workers <= 1:
        return [guarded(c) for c in chunks]
    with ThreadPoolExecutor(n_workers) as pool:
        return list(pool.map(guarded, chunks))


@lru_cache(maxsize=1)
def _prime_allocator() -> None:
    """Free one 16 MiB block so that glibc keeps the chunks' temporaries for reuse.

    glibc hands freed memory back to the OS once twice its mmap threshold (initially 128 KiB)
    is free, and raises that threshold only when a large mmapped block is freed. Without this,
    every chunk's temporaries are fresh pages: over a million page faults for 10,000
    parameters, ~40% of the run time in a VM. Other allocators ignore it.
    """
    np.empty(2 << 20)


def _per_parameter(
    ary: ArrayLike,
    chain_axis: int | None,
    draw_axis: int,
    min_chains: int,
    workers: int | None,
    func: Callable[[NDArray[np.float64]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """One diagnostic: NaN for arviz-stats' invalid inputs, ``func`` chunk-wise elsewhere."""
    x, lead, has_nan = _prepare(ary, chain_axis, draw_axis)
    if x.shape[1] < min_chains or x.shape[2] < _MIN_DRAWS:
        return np.full(lead, np.nan)
    out = np.concatenate(_map_chunks(func, x, workers))
    out[has_nan] = np.nan
    return out.reshape(lead)


# --- chunk kernels: x is (param, chain, draw) float64, NaN-free ------------------------------


def _rhat_chunk(x: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    if method == "identity":
        return _rhat_core(x)
    split = _split_chains(x)
    if method == "split":
        return _rhat_core(split)
    order, values = _sort_rows(split)
    if method == "z_scale":
        return _rhat_core(_z_from_sorted(order, values, split.shape))
    folded = _rhat_core(_folded_z(order, values, split.shape))
    if method == "folded":
        return folded
    bulk = _rhat_core(_z_from_sorted(order, values, split.shape))
    # Python's max(bulk, tail) as arviz-stats uses it: NaN bulk wins, NaN tail loses.
    return np.where(folded > bulk, folded, bulk)


def _ess_chunk(
    x: NDArray[np.float64], method: str, relative: bool, prob: float | Sequence[float] | None
) -> NDArray[np.float64]:
    if method == "identity":
        return _ess_core(x, relative)
    if method == "mean":
        return _ess_core(_split_chains(x), relative)
    if method == "sd":
        centered = x - _flat(x).mean(axis=-1)[:, None, None]
        return _ess_core(_split_chains(centered**2), relative)
    if method in ("bulk", "z_scale"):
        split = _split_chains(x)
        order, values = _sort_rows(split)
        z = _z_from_sorted(order, values, split.shape)
        return _ess_core(z, relative, constant=_all_tied(values))
    if method == "folded":
        split = _split_chains(x)
        return _ess_core(_folded_z(*_sort_rows(split), split.shape), relative)
    if method == "mad":
        dist = np.abs(x - np.median(_flat(x), axis=-1)[:, None, None])
        below = (dist <= np.median(_flat(dist), axis=-1)[:, None, None]).astype(float)
        split = _split_chains(below)
        return _ess_core(_z_from_sorted(*_sort_rows(split), split.shape), relative)
    if method == "local":
        low, high = _quantiles(x, prob)
        inside = (low[:, None, None] <= x) & (x <= high[:, None, None])
        return _ess_core(_split_chains(inside.astype(float)), relative)
    if method == "tail":
        low, high = (_ess_quantile(x, q, relative) for q in prob)
        # Python's min(low, high) as arviz-stats uses it.
        return np.where(high < low, high, low)
    return _ess_quantile(x, 0.5 if method == "median" else prob, relative)


def _mcse_chunk(x: NDArray[np.float64], method: str, prob: float | None) -> NDArray[np.float64]:
    flat = _flat(x)
    if method == "mean":
        return flat.std(axis=-1, ddof=1) / np.sqrt(_ess_core(_split_chains(x), False))
    if method == "sd":
        return _mcse_sd(x, flat.mean(axis=-1))
    ess_q = _ess_quantile(x, prob, False)
    return _mcse_quantile_from_sorted(np.sort(flat, axis=-1), ess_q, prob)


def _summary_chunk(x: NDArray[np.float64], probs: tuple[float, float]) -> _Chunk:
    n_par, n_chain, n_draw = x.shape
    flat = _flat(x)
    nan = np.full(n_par, np.nan)
    mean = flat.mean(axis=-1) if flat.shape[-1] else nan
    sd = flat.std(axis=-1, ddof=1) if flat.shape[-1] >= 2 else nan
    out = {"mean": mean, "sd": sd}
    if n_draw < _MIN_DRAWS:
        return dict.fromkeys(SUMMARY_KEYS, nan) | out

    split = _split_chains(x)
    order, values = _sort_rows(split)
    z_bulk = _z_from_sorted(order, values, split.shape)
    out["ess_bulk"] = _ess_core(z_bulk, False, constant=_all_tied(values))
    if n_chain >= 2:
        bulk = _rhat_core(z_bulk)
        tail = _rhat_core(_folded_z(order, values, split.shape))
        out["r_hat"] = np.where(tail > bulk, tail, bulk)
    else:
        out["r_hat"] = nan

    # An odd draw count drops each chain's middle draw from the split; quantiles use them all.
    full_sorted = values if n_draw % 2 == 0 else np.sort(flat, axis=-1)
    low, high = (
        _ess_core(
            _split_chains((x <= _quantile_sorted(full_sorted, q)[:, None, None]).astype(float)),
            False,
        )
        for q in probs
    )
    out["ess_tail"] = np.where(high < low, high, low)
    constant = (values[:, -1] - values[:, 0]) < _RESOLUTION  # arviz-stats' max - min test
    out["mcse_mean"] = sd / np.sqrt(_ess_core(split, False, constant=constant))
    out["mcse_sd"] = _mcse_sd(x, mean)
    return out


# --- building blocks -------------------------------------------------------------------------


def _flat(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2])


def _split_chains(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each chain cut into its first and second half (an odd middle draw is dropped).

    arviz-stats stacks all first halves, then all second halves; every statistic here is
    symmetric in the chains, so the halves are left in place (a free reshape for even draws).
    Only the summation order of chain means differs, which moves results by rounding only.
    """
    n_par, n_chain, n_draw = x.shape
    half = n_draw // 2
    if n_draw % 2:
        x = np.concatenate((x[..., :half], x[..., half + 1 :]), axis=-1)
    return x.reshape(n_par, 2 * n_chain, half)


def _sort_rows(y: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each parameter's argsort as indices into ``y.ravel()``, and the sorted values.

    Sorting int64 keys that carry the position in their low bits is ~1.5x faster than
    ``argsort``. The keys lose those low bits of the value, so values within ~1e-12 relative
    of each other may come out of order; such rows (rare) are redone with ``argsort``.
    """
    flat = np.ascontiguousarray(_flat(y))
    size = flat.shape[1]
    offsets = _row_offsets(flat.shape)
    bits = max(1, (size - 1).bit_length())
    if bits > _MAX_INDEX_BITS:
        order = np.argsort(flat, axis=-1) + offsets
        return order, np.take(flat, order)
    signed = flat.view(np.int64)
    # Order-preserving float -> int map: flip the magnitude bits of negative numbers.
    keys = signed ^ ((signed >> 63) & np.int64(0x7FFF_FFFF_FFFF_FFFF))
    keys &= np.int64(-(1 << bits))
    keys |= np.arange(size)
    keys.sort(axis=-1)
    keys &= np.int64((1 << bits) - 1)
    order = keys.view(np.intp)
    order += offsets
    values = np.take(flat, order)
    unsorted = np.flatnonzero((values[:, 1:] < values[:, :-1]).any(axis=-1))
    if unsorted.size:
        redo = np.argsort(flat[unsorted], axis=-1) + offsets[unsorted]
        order[unsorted] = redo
        values[unsorted] = np.take(flat, redo)
    return order, values


def _row_offsets(shape: tuple[int, ...]) -> NDArray[np.intp]:
    return np.arange(0, shape[0] * shape[1], shape[1])[:, None]


@lru_cache(maxsize=32)
def _z_table(size: int) -> NDArray[np.float64]:
    """Normal scores of every possible average rank 1, 1.5, ..., size, at index 2 * rank - 2.

    Same expression as arviz-stats' ``_backtransform_ranks`` and ``norm.ppf`` (= ``ndtri``).
    """
    ranks = np.arange(2 * size - 1) / 2 + 1.0
    table = special.ndtri((ranks - _BLOM_C) / (size - 2 * _BLOM_C + 1))
    table.flags.writeable = False
    return table


def _z_from_sorted(
    order: NDArray[np.intp], values: NDArray[np.float64], shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """Rank normal scores (arviz-stats' ``_z_scale``) put back in the original positions.

    ``order`` holds flat indices (see ``_sort_rows``). Ties get the score of their average
    rank, as ``rankdata(method="average")``; they are usually few, so they are patched in
    after the tie-free scores.
    """
    size = values.shape[-1]
    table = _z_table(size)
    z = np.empty(values.size)
    np.put(z, order, table[::2])  # repeats the row of scores for every parameter
    tied = values[:, 1:] == values[:, :-1]
    if tied.any():
        rows, cols = np.nonzero(tied)
        # Each run of consecutive equal neighbours [first, last) covers positions first..last.
        flat = rows * size + cols
        starts = np.ones(flat.size, dtype=bool)
        starts[1:] = flat[1:] != flat[:-1] + 1
        ends = np.ones(flat.size, dtype=bool)
        ends[:-1] = starts[1:]
        run = np.cumsum(starts) - 1
        first, last = cols[starts], cols[ends] + 1
        score = table[first + last]
        sorted_pos = np.concatenate((flat, rows[ends] * size + last))
        z[order.ravel()[sorted_pos]] = np.concatenate((score[run], score))
    return z.reshape(shape)


def _all_tied(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows of sorted values that are all equal: their normal scores are constant."""
    return values[:, 0] == values[:, -1]


def _folded_z(
    order: NDArray[np.intp], values: NDArray[np.float64], shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """Normal scores of ``abs(y - median(y))`` from y's sort.

    Seen in sorted order the distances fall then rise, two sorted runs that a stable sort
    merges in about linear time, instead of a second full sort.
    """
    size = values.shape[-1]
    # size is always even (2 * chains * half draws); np.median of the middle pair, as arviz.
    median = np.median(values[:, size // 2 - 1 : size // 2 + 1], axis=-1)
    dist = np.abs(values - median[:, None])
    order2 = np.argsort(dist, axis=-1, kind="stable")
    order2 += _row_offsets(dist.shape)
    return _z_from_sorted(np.take(order, order2), np.take(dist, order2), shape)


def _rhat_core(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """arviz-stats' ``_rhat`` over (param, chain, draw)."""
    n_draw = y.shape[-1]
    chain_mean = y.mean(axis=-1)
    chain_var = y.var(axis=-1, ddof=1)
    between = n_draw * chain_mean.var(axis=-1, ddof=1)
    within = chain_var.mean(axis=-1)
    return np.sqrt((between / within + n_draw - 1) / n_draw)


def _ess_core(
    y: NDArray[np.float64], relative: bool, constant: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """arviz-stats' ``_ess`` over (param, chain, draw).

    ``constant``: arviz-stats' ``max - min < resolution`` test, when the caller knows it.
    """
    _, n_chain, n_draw = y.shape
    size = n_chain * n_draw
    if constant is None:
        flat = _flat(y)
        constant = (flat.max(axis=-1) - flat.min(axis=-1)) < _RESOLUTION
    chain_mean = y.mean(axis=-1)
    centered = y - chain_mean[..., None]

    # Lags are added in stages, each only for the parameters whose truncation point is still
    # beyond them: a few direct lags settle most well-mixing parameters, the FFT the rest.
    n_lags = min(n_draw, _DIRECT_LAGS[0])
    acov = _acov_direct(centered, 0, n_lags)
    mean_var = acov[..., 0].mean(axis=-1) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += chain_mean.var(axis=-1, ddof=1)

    out, resolved = _geyer(acov.mean(axis=-2), mean_var, var_plus, n_draw, size, relative)
    todo = np.flatnonzero(~resolved)
    acov = acov[todo]
    for stage_lags in (*_DIRECT_LAGS[1:], None):
        if not todo.size:
            break
        sub = centered[todo]
        if stage_lags is None or stage_lags >= n_draw:
            acov = _acov_fft(sub)
        else:
            acov = np.concatenate((acov, _acov_direct(sub, n_lags, stage_lags)), axis=-1)
            n_lags = stage_lags
        ess_sub, resolved = _geyer(
            acov.mean(axis=-2), mean_var[todo], var_plus[todo], n_draw, size, relative
        )
        out[todo] = ess_sub
        todo, acov = todo[~resolved], acov[~resolved]
    out[constant] = size
    return out


def _acov_direct(centered: NDArray[np.float64], start: int, stop: int) -> NDArray[np.float64]:
    """Autocovariance at lags start..stop-1 by direct sums (biased: divided by n)."""
    n_draw = centered.shape[-1]
    acov = np.empty((*centered.shape[:-1], stop - start))
    for i, lag in enumerate(range(start, stop)):
        np.vecdot(centered[..., : n_draw - lag], centered[..., lag:], out=acov[..., i])
    acov /= n_draw
    return acov


def _acov_fft(centered: NDArray[np.float64]) -> NDArray[np.float64]:
    """Autocovariance at every lag via a zero-padded FFT, as arviz-stats' ``autocov``."""
    n_draw = centered.shape[-1]
    # real=True gives the 2-3-5 sizes of scipy.fftpack.next_fast_len, which arviz-stats uses.
    n_fft = sp_fft.next_fast_len(2 * n_draw, real=True)
    spec = np.fft.rfft(centered, n=n_fft, axis=-1)
    power = spec.real**2 + spec.imag**2
    return np.fft.irfft(power, n=n_fft, axis=-1)[..., :n_draw] / n_draw


def _geyer(
    acov_mean: NDArray[np.float64],
    mean_var: NDArray[np.float64],
    var_plus: NDArray[np.float64],
    n_draw: int,
    size: int,
    relative: bool,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """ESS from the chain-averaged autocovariances at the first lags.

    Returns the ESS and whether each parameter's truncation point was within the given lags
    (rows where it was not hold garbage and must be redone with more lags).

    arviz-stats' loop, restated on pairs P_j = rho[2j] + rho[2j+1] (rho[0] := 1): it stops at
    the first j with P_j <= 0 (or NaN) or 2j + 1 >= n_draw - 3; with that J, the pairs before J
    enter as their running minimum (the monotone sequence), plus rho[2J] if pair J was kept
    (J >= 1 and P_J >= 0) or rho[2J] > 0; the result is NaN exactly when rho[1] is NaN.
    """
    n_par, n_lags = acov_mean.shape
    last_pair = max(0, (n_draw - 3) // 2)
    n_pairs = min(last_pair + 1, n_lags // 2)
    rho = 1.0 - (mean_var[:, None] - acov_mean[:, : 2 * n_pairs]) / var_plus[:, None]
    rho[:, 0] = 1.0
    pairs = rho[:, 0::2] + rho[:, 1::2]
    stop = ~(pairs > 0)
    if n_pairs == last_pair + 1:
        stop[:, last_pair] = True
    resolved = stop.any(axis=-1)
    cut = stop.argmax(axis=-1)

    monotone = np.minimum.accumulate(pairs, axis=-1)
    head = np.where(np.arange(n_pairs) < cut[:, None], monotone, 0.0).sum(axis=-1)
    rows = np.arange(n_par)
    even = rho[rows, 2 * cut]
    kept = ((cut >= 1) & (pairs[rows, cut] >= 0)) | (even > 0)
    tau = -1.0 + 2.0 * head + np.where(kept, even, 0.0)
    tau = np.maximum(tau, 1 / np.log10(size))
    out = (1.0 if relative else size) / tau
    out[np.isnan(rho[:, 1])] = np.nan
    return out, resolved


def _quantile_sorted(sorted_values: NDArray[np.float64], prob: float) -> NDArray[np.float64]:
    """``np.quantile(row, prob)`` (linear) of every row of an already sorted array."""
    n = sorted_values.shape[-1]
    virtual = (n - 1) * np.float64(prob)
    if virtual >= n - 1:
        return sorted_values[:, -1].copy()
    if virtual < 0:
        return sorted_values[:, 0].copy()
    below = int(np.floor(virtual))
    gamma = virtual - np.floor(virtual)
    lo, hi = sorted_values[:, below], sorted_values[:, below + 1]
    # numpy's _lerp, including its switch to the upper end for gamma >= 0.5
    diff = hi - lo
    if gamma >= 0.5:
        return hi - diff * (1 - gamma)
    return lo + diff * gamma


def _quantiles(x: NDArray[np.float64], prob: float | Sequence[float]) -> NDArray[np.float64]:
    """np.quantile over each parameter's draws, quantile axis first."""
    return np.quantile(_flat(x), prob, axis=-1)


def _ess_quantile(x: NDArray[np.float64], prob: float, relative: bool) -> NDArray[np.float64]:
    below = (x <= _quantiles(x, prob)[:, None, None]).astype(float)
    return _ess_core(_split_chains(below), relative)


def _mcse_sd(x: NDArray[np.float64], mean: NDArray[np.float64]) -> NDArray[np.float64]:
    """arviz-stats' ``_mcse_sd``: delta method on the variance, ESS of the squared deviations."""
    sims_c = x - mean[:, None, None]
    sq = sims_c**2
    ess_sq = _ess_core(_split_chains(sq), False)
    evar = _flat(sq).mean(axis=-1)
    # sq * sq rather than arviz-stats' sims_c**4: pow() is ~50x slower. They differ by rounding,
    # which the difference below amplifies only for nearly two-point symmetric draws.
    varvar = (_flat(sq * sq).mean(axis=-1) - evar**2) / ess_sq
    return np.sqrt(varvar / evar / 4)


def _mcse_quantile_from_sorted(
    sorted_values: NDArray[np.float64], ess_q: NDArray[np.float64], prob: float
) -> NDArray[np.float64]:
    """arviz-stats' ``_mcse_quantile`` (non-circular) from each row's sorted draws."""
    size = sorted_values.shape[-1]
    ppf = stats.beta.ppf(
        _MCSE_QUANTILE_PROBS, (ess_q * prob + 1)[:, None], (ess_q * (1 - prob) + 1)[:, None]
    )
    ppf_size = ppf * size - 1
    lo = np.floor(np.fmax(ppf_size[:, 0], 0)).astype(np.intp)
    hi = np.ceil(np.fmin(ppf_size[:, 1], size - 1)).astype(np.intp)
    rows = np.arange(sorted_values.shape[0])
    return (sorted_values[rows, hi] - sorted_values[rows, lo]) / 2
