"""The catalog's shared pieces: thresholds, the ``Pathology`` record, and evidence helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hmdiag.diagnose.blocks import CORR_BOUNDARY_R as CORR_BOUNDARY_R
from hmdiag.diagnose.blocks import CORR_BOUNDARY_SHARE as CORR_BOUNDARY_SHARE
from hmdiag.diagnose.checks import TARGET_ACCEPT_LADDER, Advice, CheckResult
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.dialects import setting, target_accept_name
from hmdiag.diagnose.evidence import Correlation

# A non-centered term whose widest effect sd is at most this share of its scale has its effects
# pinned by the data: centered mixes better (the ridge's carrier term, the doctor's recentering).
PINNED_RATIO = 0.5
# Two-sample KS coefficient at the 5% level: a hotspot must beat c * sqrt((n + m) / (n m)).
KS_C_ALPHA = 1.358
# ridge: |posterior correlation| at least this, with a failed r_hat / ESS / tree-depth check.
RIDGE_CORRELATION = 0.95
# boundary: the lowest of ten equal bins on [0, q95] of a scale's draws holds at least this
# share of the fullest bin, i.e. the posterior's mode is at 0 (a half-normal: 1.0; a lognormal
# with its mode inside the range: about 0.4).
BOUNDARY_ZERO_BIN = 0.8
# boundary: the scale (or its effects) must rank among this many divergence hotspots.
BOUNDARY_HOTSPOT_RANK = 3
# boundary of a correlated block: CORR_BOUNDARY_SHARE of a correlation's draws beyond
# |r| = CORR_BOUNDARY_R (defined in hmdiag.diagnose.blocks, which measures them; the LKJ prior
# puts at most 5% of a correlation's mass there).
# prior: power-scaling sensitivity threshold of priorsense (Kallioinen et al. 2024).
SENSITIVITY_THRESHOLD = 0.05
# prior-data conflict: the posterior mean sits this many prior sds from the prior's center.
CONFLICT_PRIOR_Z = 1.5
# prior-data conflict however little the prior moves the estimate: the posterior mean sits
# where the prior puts almost none of its mass (beyond 3 sds of a normal: 0.27%), the data
# in the prior's tail (Evans & Moshonov 2006).
CONFLICT_TAIL_Z = 3.0
# chains disagree: a chain's mean this many pooled within-chain sds from the others' median.
CHAINS_APART_SD = 3.0
# boundary, by mixing: the scale (or its Cholesky row) has the lowest ESS, at most this share of
# the median parameter's ESS. A share near 1 means every parameter mixes slowly, i.e. the
# chains are short; an ESS estimate's own noise is far smaller than a factor of 4
# (Vehtari et al. 2021, section 3).
ISOLATED_ESS_RATIO = 0.25
# stuck chain: its sd below this share of the median chain sd.
STUCK_SD_RATIO = 0.2
# tree-depth saturation: at least this share of transitions hit the maximum depth.
TREEDEPTH_SATURATION = 0.01

SAMPLING_CHECKS = ("r_hat", "ess_bulk", "ess_tail", "tree_depth")


TITLES = {
    "funnel": "funnel",
    "ridge": "ridge (non-identification)",
    "boundary": "scale at its boundary",
    "prior_dominated": "prior-dominated estimate",
    "prior_data_conflict": "prior-data conflict",
    "stuck_chain": "stuck chain",
    "multimodal": "several modes",
    "treedepth_saturation": "tree-depth saturation",
    "influential_observations": "influential observations",
    "overdispersion": "overdispersion",
    "misfit": "model misfit",
}


@dataclass(frozen=True)
class Pathology:
    """One named way the run fails, the numbers it was detected from, and its remedies."""

    kind: str
    where: str
    evidence: str
    meaning: str
    numbers: dict[str, Any] = field(default_factory=dict)
    remedies: list[Advice] = field(default_factory=list)
    # Checks this pathology accounts for (generic advice for them is then not given).
    explains: tuple[str, ...] = ()
    # False when no sampler setting can fix it (the model or the data must change).
    sampler_fixable: bool = True

    @property
    def title(self) -> str:
        """The catalog name for people (``prior-dominated estimate``)."""
        return TITLES.get(self.kind, self.kind.replace("_", " "))


def smaller_steps(d: Diagnosis, reason: str) -> list[Advice]:
    """The top target_accept rung as a remedy, unless the run already sampled with it."""
    top = TARGET_ACCEPT_LADDER[-1]
    if d.target_accept is not None and d.target_accept >= top - 1e-9:
        return []
    return [
        Advice(
            action=f"Raise {target_accept_name(d.dialect)} to {top:g} "
            f"({setting(d.dialect, 'target_accept', top)})",
            reason=reason,
            remedy="raise_target_accept",
        )
    ]


def adapts_correlations(d: Diagnosis) -> bool:
    """Whether the run's metric already adapts to correlations (dense, or nutpie's low rank)."""
    return d.mass_matrix in ("dense", "low_rank")


def dense_advice(d: Diagnosis, reason: str) -> Advice:
    """The dense-metric remedy, with the evidence for it, in the run's tool's terms."""
    return Advice(
        action=f"Use a dense mass matrix ({setting(d.dialect, 'dense')}) so NUTS adapts to "
        "the correlation",
        reason=reason,
        remedy="dense_mass_matrix",
    )


def ks_critical(n_divergent: int, n_total: int) -> float:
    """The two-sample KS distance a divergence hotspot must reach to be more than chance (5%)."""
    n, m = n_divergent, n_total - n_divergent
    if n <= 0 or m <= 0:
        return 1.0
    return KS_C_ALPHA * math.sqrt((n + m) / (n * m))


def pinned_ratio(d: Diagnosis, term: Any) -> float | None:
    """The widest posterior sd of a term's effects over the mean of its scale.

    Well below 1, the data pin every level's effect more tightly than the effects spread:
    the likelihood dominates, and the centered form mixes better than the non-centered one.
    """
    sds = [p.sd for p in d.parameters if p.variable == term.effect and math.isfinite(p.sd)]
    scale = next((p.mean for p in d.parameters if p.name == term.scale), None)
    if not sds or not scale or scale <= 0:
        return None
    return max(sds) / scale


def failed_checks(checks: list[CheckResult]) -> set[str]:
    """Names of the checks that failed."""
    return {c.name for c in checks if c.status == "fail"}


def term_of(d: Diagnosis, name: str) -> Any | None:
    """The group term a variable or a ``mean(effect)`` summary belongs to."""
    bare = name[5:-1] if name.startswith("mean(") else name
    return next((t for t in d.group_terms if bare in (t.effect, t.scale, t.offset)), None)


def pair_text(c: Correlation) -> str:
    """```a` and `b` (r = -0.98)`` for evidence text."""
    return f"`{c.first}` and `{c.second}` (r = {c.r:+.2f})"
