"""The per-chunk workers behind each public kernel: one block of parameters at a time, laid out
(parameter, chain, draw)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from hmdiag.diagnose.kernels._blocks import (
    _RESOLUTION,
    _all_tied,
    _ess_core,
    _ess_quantile,
    _flat,
    _folded_z,
    _hdi_sorted,
    _mcse_quantile_from_sorted,
    _mcse_sd,
    _quantile_sorted,
    _quantiles,
    _rhat_core,
    _sort_rows,
    _split_chains,
    _subset_separation,
    _z_from_sorted,
)

SUMMARY_KEYS = ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat")


_MIN_DRAWS = 4


_Chunk = dict[str, NDArray[np.float64]]


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


def _summary_chunk(
    x: NDArray[np.float64],
    probs: tuple[float, float],
    hdi_prob: float | None = None,
    separate: tuple[NDArray[np.bool_], Callable[[NDArray[np.float64]], NDArray[np.float64]] | None]
    | None = None,
) -> _Chunk:
    n_par, n_chain, n_draw = x.shape
    flat = _flat(x)
    nan = np.full(n_par, np.nan)
    mean = flat.mean(axis=-1) if flat.shape[-1] else nan
    sd = flat.std(axis=-1, ddof=1) if flat.shape[-1] >= 2 else nan
    out = {"mean": mean, "sd": sd}
    if n_draw < _MIN_DRAWS:
        if separate is not None:
            ks, below = _subset_separation(flat, np.sort(flat, axis=-1), *separate)
            out |= {"subset_ks": ks, "subset_median_quantile": below}
        if hdi_prob is not None:
            bounds = (
                _hdi_sorted(np.sort(flat, axis=-1), hdi_prob)
                if flat.shape[-1] >= 2
                else np.full((n_par, 2), np.nan)
            )
            out |= {"hdi_low": bounds[:, 0], "hdi_high": bounds[:, 1]}
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
    if separate is not None:
        ks, below = _subset_separation(flat, full_sorted, *separate)
        out |= {"subset_ks": ks, "subset_median_quantile": below}
    if hdi_prob is not None:
        bounds = _hdi_sorted(full_sorted, hdi_prob)
        out["hdi_low"], out["hdi_high"] = bounds[:, 0], bounds[:, 1]
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
