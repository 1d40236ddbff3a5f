"""Correlated blocks (an LKJ-Cholesky covariance): the per-term scales and correlations inside.

A correlated term ``(1 + x | g)`` is sampled through one packed Cholesky factor ``L`` of its
covariance; the scales a funnel forms around are not free variables of their own. This module
finds, in a run's posterior, each block's per-term scales and its correlation matrix under the
names the run stores:

- hmdiag (``_correlated_effects``): the packed ``chol_<stem>``, the deterministics
  ``corr_<stem>`` and the term's scales ``sigma_<stem>`` / ``sigma_<stem>_<column>`` (the group
  term's own scale name, then ``<scale>_<column>`` for every slope, the default names);
- PyMC's ``LKJCholeskyCov(..., store_in_trace=True)`` (its default), which nutpie stores under
  the same names since it samples the PyMC model: the packed ``<name>``, ``<name>_stds`` and
  ``<name>_corr``;
- only the packed factor ``<name>`` (its transform ``cholesky``, or named ``chol_*``): the scales
  are then derived as the row norms of ``L``. ``Sigma = L L^T``, so ``Sigma_ii = sum_j L_ij^2``
  and ``sd_i = ||L_i.||``; the correlations are ``(L L^T)_ij / (sd_i sd_j)``. PyMC packs the
  lower triangle row by row (``np.tril_indices``: ``L00, L10, L11, L20, ...``).

Pure measurements, no judgment: ``hmdiag.diagnose.pathologies`` judges them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_DIMS = ("chain", "draw")
# corr boundary: a correlation is "at +-1" beyond this |r| ...
CORR_BOUNDARY_R = 0.95
# ... in at least this share of the draws. Under the LKJ(eta) prior a correlation of a d x d
# matrix has the marginal Beta(eta - 1 + d/2, eta - 1 + d/2) on (-1, 1) (Lewandowski, Kurowicka
# and Joe 2009): uniform for d = 2, eta = 1, which puts 5% of its mass beyond |r| = 0.95, and
# less for any larger eta or d. Half the draws there is ten times the most the prior allows.
CORR_BOUNDARY_SHARE = 0.5


@dataclass(frozen=True)
class Block:
    """One correlated block and where its pieces are in the posterior."""

    # The hmdiag group factor; None for a model made elsewhere.
    factor: str | None
    # The packed Cholesky variable, where the run stores it.
    packed: str | None
    # The per-term scales, by label (a variable name, or ``<name>_stds[i]``), in term order.
    scales: tuple[str, ...]
    # The correlation matrix variable, where stored.
    corr: str | None
    # True when the scales are derived from the packed factor (row norms of L).
    derived: bool = False


@dataclass(frozen=True)
class CorrelationEdge:
    """One off-diagonal correlation of a block and how much of it lies at +-1."""

    parameter: str
    block: str
    factor: str | None
    median: float
    # Share of draws with |r| > CORR_BOUNDARY_R.
    near_one: float


def triangular_size(k: int) -> int | None:
    """``n`` with ``n (n + 1) / 2 == k``, or None."""
    n = int((math.isqrt(8 * k + 1) - 1) // 2)
    return n if n * (n + 1) // 2 == k and n > 0 else None


def unpack_cholesky(packed: np.ndarray) -> np.ndarray:
    """(..., n(n+1)/2) packed lower triangles, row by row, to (..., n, n) factors."""
    packed = np.asarray(packed, dtype=float)
    n = triangular_size(packed.shape[-1])
    if n is None:
        raise ValueError(f"{packed.shape[-1]} values are no packed lower triangle")
    out = np.zeros((*packed.shape[:-1], n, n))
    rows, cols = np.tril_indices(n)
    out[..., rows, cols] = packed
    return out


def cholesky_scales(packed: np.ndarray) -> np.ndarray:
    """The standard deviations of ``L L^T``: the row norms of the packed factor ``L``."""
    return np.sqrt(np.sum(unpack_cholesky(packed) ** 2, axis=-1))


def cholesky_correlations(packed: np.ndarray) -> np.ndarray:
    """The correlation matrices of ``L L^T``."""
    factor = unpack_cholesky(packed)
    cov = factor @ np.swapaxes(factor, -1, -2)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return cov / (sd[..., :, None] * sd[..., None, :])


def _draws(posterior: Any, var: str) -> np.ndarray:
    """(chain, draw, ...) values."""
    array = posterior[var]
    return np.asarray(array.transpose(*SAMPLE_DIMS, ...).values, dtype=float)


def _is_packed(posterior: Any, var: str) -> bool:
    dims = [d for d in posterior[var].dims if d not in SAMPLE_DIMS]
    return len(dims) == 1 and (triangular_size(posterior[var].sizes[dims[0]]) or 0) >= 2


def find_blocks(
    posterior: Any, group_terms: list[Any], transforms: dict[str, str] | None = None
) -> list[Block]:
    """Every correlated block the run stores, hmdiag's terms first."""
    names = {str(v) for v in posterior.data_vars}
    transforms = transforms or {}
    blocks: list[Block] = []
    claimed: set[str] = set()
    for term in group_terms:
        if not getattr(term, "correlated", False):
            continue
        stem = term.factor.replace(":", "_")
        packed, corr = f"chol_{stem}", f"corr_{stem}"
        claimed |= {packed, corr}
        columns: list[str] = []
        if corr in names:
            dim = next(d for d in posterior[corr].dims if d not in SAMPLE_DIMS)
            columns = [str(c) for c in posterior[corr][dim].values][1:]
        scales = [term.scale, *(f"{term.scale}_{c}" for c in columns)] if term.scale else []
        if scales and all(s in names for s in scales):
            blocks.append(
                Block(
                    term.factor,
                    packed if packed in names else None,
                    tuple(scales),
                    corr if corr in names else None,
                )
            )
        elif packed in names and _is_packed(posterior, packed):
            blocks.append(_derived(posterior, packed, term.factor, corr if corr in names else None))
    for var in sorted(names - claimed):
        if var.endswith("__") or not _is_packed(posterior, var):
            continue
        stds, corr = f"{var}_stds", f"{var}_corr"
        packed_like = transforms.get(var) == "cholesky" or var.startswith("chol") or stds in names
        if not packed_like:
            continue
        if stds in names:
            size = _draws(posterior, stds).shape[-1]
            labels = tuple(f"{stds}[{i}]" for i in range(size))
            blocks.append(Block(None, var, labels, corr if corr in names else None))
        else:
            blocks.append(_derived(posterior, var, None, corr if corr in names else None))
    return blocks


def _derived(posterior: Any, packed: str, factor: str | None, corr: str | None) -> Block:
    n = triangular_size(_draws(posterior, packed).shape[-1]) or 0
    labels = tuple(f"sd({packed})[{i}]" for i in range(n))
    return Block(factor, packed, labels, corr, derived=True)


def block_scale_draws(posterior: Any, block: Block) -> dict[str, tuple[str, np.ndarray]]:
    """Each per-term scale of a block: label -> (variable it belongs to, (chain, draw) draws)."""
    if block.derived and block.packed:
        values = cholesky_scales(_draws(posterior, block.packed))
        return {label: (block.packed, values[..., i]) for i, label in enumerate(block.scales)}
    out = {}
    for i, label in enumerate(block.scales):
        var = label.split("[", 1)[0]
        values = _draws(posterior, var)
        out[label] = (
            var,
            values if values.ndim == 2 else values.reshape(*values.shape[:2], -1)[..., i],
        )
    return out


def block_correlations(posterior: Any, block: Block) -> list[CorrelationEdge]:
    """The off-diagonal correlations of a block (upper triangle), stored or derived."""
    if block.corr is not None:
        values = _draws(posterior, block.corr)
        name = block.corr
        array = posterior[block.corr]
        dims = [d for d in array.dims if d not in SAMPLE_DIMS]
        coords = [[str(c) for c in array[d].values] for d in dims]
    elif block.packed is not None:
        values = cholesky_correlations(_draws(posterior, block.packed))
        name = f"corr({block.packed})"
        coords = [[str(i) for i in range(values.shape[-1])]] * 2
    else:
        return []
    n = values.shape[-1]
    if values.ndim != 4 or values.shape[-2] != n:
        return []
    edges = []
    for i, j in zip(*np.triu_indices(n, k=1), strict=True):
        r = values[..., i, j].reshape(-1)
        r = r[np.isfinite(r)]
        if r.size == 0:
            continue
        edges.append(
            CorrelationEdge(
                parameter=f"{name}[{coords[0][i]}, {coords[1][j]}]",
                block=block.packed or name,
                factor=block.factor,
                median=float(np.median(r)),
                near_one=float(np.mean(np.abs(r) > CORR_BOUNDARY_R)),
            )
        )
    return edges
