"""Building blocks of ``hmdiag.diagnose.kernels``: ranks, normal scores, split chains, autocovariance
and Geyer's truncation, each over ``(param, chain, draw)`` or ``(param, n)`` float64 arrays.

They mirror arviz-stats' ``base/diagnostics.py`` and ``base/core.py`` step for step; the package
docstring says where they take shortcuts that change results by rounding only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sp_fft
from scipy import special, stats

_BLOM_C = 3 / 8
# Low key bits given to positions when sorting (rows of up to 2**20 values keep >= 44 value
# bits); longer rows use a plain argsort.
_MAX_INDEX_BITS = 20
_RESOLUTION = np.finfo(float).resolution
# Lags computed directly, in stages, before falling back to the FFT: for independent draws
# Geyer's truncation pair lies beyond lag 6 for ~1/4 of the parameters, beyond 20 for ~1/1000.
_DIRECT_LAGS = (6, 20)
# The MCSE-quantile interval (+-1 sd of a normal), as arviz-stats hard-codes it.
_MCSE_QUANTILE_PROBS = np.array([0.1586553, 0.8413447])


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


def _hdi_sorted(ordered: NDArray[np.float64], prob: float) -> NDArray[np.float64]:
    """(param, 2) narrowest intervals holding ``prob`` of each row of sorted draws (the first
    narrowest, as arviz-stats' ``hdi(method="nearest")``)."""
    n = ordered.shape[-1]
    k = min(int(np.floor(prob * n)), n - 1)
    widths = ordered[:, k:] - ordered[:, : n - k]
    start = np.argmin(widths, axis=-1)[:, None]
    return np.concatenate(
        [
            np.take_along_axis(ordered, start, axis=-1),
            np.take_along_axis(ordered, start + k, axis=-1),
        ],
        axis=-1,
    )


def _searchsorted_rows(
    sorted_rows: NDArray[np.float64], queries: NDArray[np.float64], right: NDArray[np.bool_]
) -> NDArray[np.intp]:
    """``np.searchsorted`` row by row (it takes one sorted array per call): the insertion
    points of each row's ``queries`` (rows, q) in that row of ``sorted_rows`` (rows, n), on
    the right of equal values where ``right`` (q,) is set, else on the left; by one binary
    search over all rows and queries at once."""
    n_rows, n = sorted_rows.shape
    flat = np.ascontiguousarray(sorted_rows).ravel()
    base = (np.arange(n_rows) * n)[:, None]
    lo = np.zeros(queries.shape, dtype=np.intp)
    hi = np.full(queries.shape, n, dtype=np.intp)
    for _ in range(n.bit_length() + 1):
        mid = (lo + hi) >> 1
        value = flat.take(base + np.minimum(mid, n - 1))
        after = (lo < hi) & np.where(right, value <= queries, value < queries)
        lo = np.where(after, mid + 1, lo)
        hi = np.where(after, hi, np.minimum(hi, mid))
    return lo


def _subset_separation(
    flat: NDArray[np.float64],
    ordered: NDArray[np.float64],
    subset: NDArray[np.bool_],
    transform: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """KS distance between ``flat[:, subset]`` and the other draws, and the share of the
    others at or below the subset's median (on ``transform``'s scale), per row; NaN for rows
    with a non-finite draw or a single value. ``ordered`` is ``flat`` sorted along rows.

    Between two values of the smaller group its CDF is flat and the other group's rises, so
    the largest CDF gap lies at a value of the smaller group (after its run of ties) or just
    before one: only the smaller group is sorted apart, and the other group's CDF at its
    values comes from a binary search in ``ordered``. ``transform`` (increasing) is applied to
    sorted values, which it keeps sorted.
    """
    usable = np.isfinite(ordered[:, 0]) & np.isfinite(ordered[:, -1])
    usable &= ordered[:, -1] > ordered[:, 0]

    def scaled(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values if transform is None else transform(values)

    pooled = scaled(ordered)
    small = subset if 2 * int(subset.sum()) <= subset.size else ~subset
    a, b = int(small.sum()), int((~small).sum())
    values = scaled(np.sort(flat[:, small], axis=1))
    inside = values if small is subset else scaled(np.sort(flat[:, subset], axis=1))
    m = inside.shape[1]
    median = (inside[:, (m - 1) // 2] + inside[:, m // 2]) / 2
    # One search for all three: pooled counts <= each value, < each value, <= the median.
    queries = np.concatenate((values, values, median[:, None]), axis=1)
    right = np.repeat(np.array([True, False, True]), [a, a, 1])
    counts = _searchsorted_rows(pooled, queries, right)
    j = np.arange(1, a + 1)
    # F_small is j / a at the last member of a run of ties and (j - 1) / a just before its
    # first; scipy's ks_2samp compares the CDFs at every pooled value, which comes to this.
    at = np.abs(j / a - (counts[:, :a] - j) / b)
    before = np.abs((j - 1) / a - (counts[:, a : 2 * a] - (j - 1)) / b)
    run_ends = np.ones(values.shape, dtype=bool)
    run_ends[:, :-1] = values[:, 1:] != values[:, :-1]
    run_starts = np.ones(values.shape, dtype=bool)
    run_starts[:, 1:] = run_ends[:, :-1]
    ks = np.maximum(
        np.where(run_ends, at, 0.0).max(axis=1), np.where(run_starts, before, 0.0).max(axis=1)
    )
    below = counts[:, -1] - np.count_nonzero(inside <= median[:, None], axis=1)
    share = below / (subset.size - m)
    return np.where(usable, ks, np.nan), np.where(usable, share, np.nan)
