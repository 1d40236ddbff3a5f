"""Posterior predictive statistics per group level (what bayesplot's ``ppc_stat_grouped``
draws, turned into a test).

A whole-data statistic can hide a misfit confined to some groups: a normal model with one
residual sd fits the pooled sd while a few subjects' trials vary three times as much. For each
grouping factor of the data and each statistic of the likelihood, every level with at least
``MIN_LEVEL_ROWS`` rows gets its own posterior predictive p-value. A level is extreme when its
p lies in the two-sided ``LEVEL_TAIL`` tail.

Testing hundreds of levels, some are extreme by chance. The number of extreme levels is
therefore compared with its chance count, Binomial(levels, ``LEVEL_TAIL``). That null is
conservative: posterior predictive p-values of a model that fits concentrate around 0.5
rather than being uniform (Meng 1994; Gelman et al., BDA3 section 6.3). So a binomial tail below
the family level, Bonferroni-divided over every factor x statistic tested, is a misfit beyond
chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A level is extreme when its posterior predictive p is below LEVEL_TAIL / 2 or above
# 1 - LEVEL_TAIL / 2.
LEVEL_TAIL = 0.01
# Levels with fewer rows are not tested (an sd or a max of 1-4 rows says little).
MIN_LEVEL_ROWS = 5
# The p-values need this many draws to resolve LEVEL_TAIL / 2 at all.
MIN_DRAWS_PER_TAIL = 2
# The family level shared by every factor x statistic tested (as the whole-data statistics).
GROUPED_FAMILY_LEVEL = 0.02
# Extreme levels named in the evidence, worst first.
MAX_LEVELS_NAMED = 5
# Replicate draws handled at once: bounds the extra memory to CHUNK x observations values.
CHUNK_DRAWS = 64


@dataclass(frozen=True)
class ExtremeLevel:
    """One group level whose statistic lies in a tail of its replicated distribution."""

    level: str
    rows: int
    observed: float
    replicated_low: float
    replicated_high: float
    p_value: float


@dataclass(frozen=True)
class GroupedCheck:
    """One statistic, per level of one factor: how many levels are extreme, against chance."""

    factor: str
    statistic: str
    levels: int
    n_extreme: int
    expected: float
    # Binomial(levels, LEVEL_TAIL) probability of n_extreme or more extreme levels.
    p_value: float
    # Bonferroni share of GROUPED_FAMILY_LEVEL for this test.
    level: float
    worst: list[ExtremeLevel] = field(default_factory=list)

    @property
    def extreme(self) -> bool:
        """Whether more levels are extreme than chance allows."""
        return self.p_value < self.level


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    from scipy.stats import binom

    return 1.0 if k <= 0 else float(binom.sf(k - 1, n, p))


def _per_level(name: str, values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The statistic of each level (columns sorted by level, ``starts`` its first column)."""
    if name in ("min", "max"):
        reduce = np.minimum if name == "min" else np.maximum
        return reduce.reduceat(values, starts, axis=-1)
    total = np.add.reduceat(values, starts, axis=-1)
    mean = total / sizes
    if name == "mean":
        return mean
    if name == "share_zeros":
        return np.add.reduceat((values == 0).astype(float), starts, axis=-1) / sizes
    squares = np.add.reduceat(values * values, starts, axis=-1)
    var = np.maximum(squares - sizes * mean * mean, 0.0) / (sizes - 1)
    if name == "sd":
        return np.sqrt(var)
    if name == "dispersion":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, var / mean, np.nan)
    raise ValueError(name)


def grouped_checks(
    observed: np.ndarray,
    replicated: np.ndarray,
    groups: dict[str, np.ndarray],
    statistics: list[str],
) -> list[GroupedCheck]:
    """Every factor x statistic with at least two testable levels (see the module)."""
    draws = replicated.shape[0]
    if draws < MIN_DRAWS_PER_TAIL / (LEVEL_TAIL / 2):
        return []
    plans = []
    for factor, labels in groups.items():
        labels = np.asarray(labels).astype(str)
        names, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
        keep = counts >= MIN_LEVEL_ROWS
        if keep.sum() < 2:
            continue
        rows = np.flatnonzero(keep[codes])
        order = rows[np.argsort(codes[rows], kind="stable")]
        sizes = counts[keep].astype(float)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        plans.append((factor, names[keep], order, starts, sizes))
    tests = len(plans) * len(statistics)
    out = []
    for factor, names, order, starts, sizes in plans:
        y = np.asarray(observed, dtype=float)[order][None, :]
        rep_stats = {s: [] for s in statistics}
        for lo in range(0, draws, CHUNK_DRAWS):
            chunk = np.asarray(replicated[lo : lo + CHUNK_DRAWS], dtype=float)[:, order]
            for s in statistics:
                rep_stats[s].append(_per_level(s, chunk, starts, sizes))
        for s in statistics:
            t_obs = _per_level(s, y, starts, sizes)[0]
            t_rep = np.concatenate(rep_stats[s], axis=0)
            finite = np.isfinite(t_obs) & np.isfinite(t_rep).all(axis=0)
            if finite.sum() < 2:
                continue
            t_obs, t_rep = t_obs[finite], t_rep[:, finite]
            p = np.mean(t_rep > t_obs, axis=0) + 0.5 * np.mean(t_rep == t_obs, axis=0)
            tail = np.minimum(p, 1 - p)
            hit = np.flatnonzero(tail < LEVEL_TAIL / 2)
            levels = int(finite.sum())
            # Most extreme first: by p, then (p is often 0 for several) by the distance in
            # replicated sds; ties by level name, so the list is the same every time.
            spread = t_rep.std(axis=0)
            distance = np.abs(t_obs - t_rep.mean(axis=0)) / np.where(spread > 0, spread, np.inf)
            kept_names, kept_sizes = names[finite], sizes[finite]
            worst = sorted(hit, key=lambda i: (tail[i], -distance[i], kept_names[i]))
            worst = worst[:MAX_LEVELS_NAMED]
            out.append(
                GroupedCheck(
                    factor=factor,
                    statistic=s,
                    levels=levels,
                    n_extreme=int(hit.size),
                    expected=levels * LEVEL_TAIL,
                    p_value=binomial_tail(int(hit.size), levels, LEVEL_TAIL),
                    level=GROUPED_FAMILY_LEVEL / tests,
                    worst=[
                        ExtremeLevel(
                            level=str(kept_names[i]),
                            rows=int(kept_sizes[i]),
                            observed=float(t_obs[i]),
                            replicated_low=float(np.quantile(t_rep[:, i], 0.005)),
                            replicated_high=float(np.quantile(t_rep[:, i], 0.995)),
                            p_value=float(p[i]),
                        )
                        for i in worst
                    ],
                )
            )
    return out
