"""Chains that disagree: a stuck chain, or several modes."""

from __future__ import annotations

import math

from hmdiag.diagnose.checks import Advice
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.dialects import setting
from hmdiag.diagnose.pathologies._base import CHAINS_APART_SD, STUCK_SD_RATIO, Pathology


def chains(d: Diagnosis, failed: set[str]) -> list[Pathology]:
    """Chains that disagree: one stuck, or each in its own mode."""
    if "r_hat" not in failed:
        return []
    for spread in d.evidence.chain_spreads:
        means, sds = spread.means, spread.sds
        within = math.sqrt(sum(s * s for s in sds) / len(sds)) if sds else 0.0
        if within <= 0 or len(means) < 2:
            continue
        center = sorted(means)[len(means) // 2]
        apart = [(c, (m - center) / within) for c, m in enumerate(means)]
        outliers = [(c, z) for c, z in apart if abs(z) >= CHAINS_APART_SD]
        if not outliers:
            continue
        median_sd = sorted(sds)[len(sds) // 2]
        stuck = [c for c, _ in outliers if sds[c] < STUCK_SD_RATIO * median_sd]
        chains = ", ".join(f"chain {c} ({z:+.1f} sd)" for c, z in outliers)
        numbers = {
            "parameter": spread.parameter,
            "r_hat": spread.r_hat,
            "chain_means": means,
            "chain_sds": sds,
            "outlying_chains": [c for c, _ in outliers],
            "stuck_chains": stuck,
        }
        if stuck:
            return [
                Pathology(
                    kind="stuck_chain",
                    where=f"`{spread.parameter}`, chain {', '.join(map(str, stuck))}",
                    evidence=f"r_hat {spread.r_hat:.3f}; {chains} from the other chains; "
                    f"chain {stuck[0]} barely moves (sd {sds[stuck[0]]:.3g} against a median "
                    f"{median_sd:.3g})",
                    meaning="a chain stopped moving during warm-up (a bad starting point or a "
                    "step size adapted to a tiny region)",
                    numbers=numbers,
                    remedies=[
                        Advice(
                            action="Give warm-up more steps "
                            f"({setting(d.dialect, 'tune', 2000)}) or change "
                            "the seed, and see whether the chain joins the others",
                            reason=f"chain {stuck[0]} of `{spread.parameter}` is stuck",
                            remedy="more_tune",
                        )
                    ],
                    explains=tuple(sorted(failed & {"r_hat", "ess_bulk", "ess_tail"})),
                )
            ]
        return [
            Pathology(
                kind="multimodal",
                where=f"`{spread.parameter}`",
                evidence=f"r_hat {spread.r_hat:.3f}; {chains} from the other chains, each "
                "moving normally within its own region",
                meaning="the chains explore different modes of the posterior; no sampler setting "
                "makes one run visit them in the right proportions",
                numbers=numbers,
                remedies=[
                    Advice(
                        action="Change the model so one mode remains: a prior that rules the "
                        "others out, a different likelihood, or a parameter that is identified",
                        reason="chain means "
                        + ", ".join(f"{m:.3g}" for m in means)
                        + f" for `{spread.parameter}`",
                        remedy="rethink_model",
                        target=spread.parameter,
                    )
                ],
                explains=tuple(sorted(failed & {"r_hat", "ess_bulk", "ess_tail", "divergences"})),
                sampler_fixable=False,
            )
        ]
    return []
