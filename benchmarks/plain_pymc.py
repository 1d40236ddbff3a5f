"""The script a user would write instead of hmdiag: the reference post's model in plain PyMC 6.

PyMC 6's ``pm.sample`` samples with nutpie by default and returns a DataTree; ArviZ 1.x
summarizes it (with the HDI hmdiag reports, not ArviZ 1.x's default ETI).

Usage: python benchmarks/plain_pymc.py {mme0,mme4} [--chains N]
Prints the wall time (import to summary) as the last line: ``wall_seconds=...``.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

warnings.simplefilter("ignore")

import arviz as az  # noqa: E402
import pandas as pd  # noqa: E402
import pymc as pm  # noqa: E402


def main() -> None:
    """Fit mme0 (centered) or mme4 (non-centered) as the reference post does, then summarize."""
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["mme0", "mme4"])
    parser.add_argument("--chains", type=int, default=None, help="default: PyMC's own default")
    args = parser.parse_args()
    frame = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "bangladesh.csv")
    frame = frame[frame["district"] <= 3]
    district = frame["district"].to_numpy() - 1
    with pm.Model():
        a_bar = pm.Normal("a_bar", 0.0, 1.5)
        if args.model == "mme0":
            sigma = pm.Exponential("sigma", 1.0)
            a = pm.Normal("a", a_bar, sigma, shape=3)
            target_accept = 0.8
        else:
            sigma = pm.HalfNormal("sigma", 0.5)
            z = pm.Normal("z", 0.0, 1.0, shape=3)
            a = pm.Deterministic("a", a_bar + z * sigma)
            target_accept = 0.99
        pm.Bernoulli(
            "c", p=pm.math.invlogit(a[district]), observed=frame["use_contraception"].to_numpy()
        )
        idata = pm.sample(
            chains=args.chains, target_accept=target_accept, random_seed=19, progressbar=False
        )
    print(az.summary(idata, ci_prob=0.89, ci_kind="hdi"))
    print(f"wall_seconds={time.perf_counter() - START:.3f}")


if __name__ == "__main__":
    main()
