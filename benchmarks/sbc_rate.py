"""SBC throughput as a whole process (#27): `hmdiag sbc` on the pooled eight schools, 100
simulations on 2 Dask workers, each simulation built and compiled afresh (HMDIAG_SBC_FRESH=1,
the old path) against one compiled study per worker. Goal: >= 5 simulations per second."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HMDIAG = shutil.which("hmdiag", path=str(Path(sys.executable).parent)) or "hmdiag"
CONFIG = ROOT / "configs" / "examples" / "eight_schools_pooled.yaml"
SIMS, WORKERS, GOAL = 100, 2, 5.0


def run(fresh: bool) -> float:
    env = dict(os.environ, HMDIAG_SBC_FRESH="1" if fresh else "0")
    cmd = [HMDIAG, "sbc", str(CONFIG), "--sims", str(SIMS), "--workers", str(WORKERS), "-q"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode in (0, 1), done.stderr
    return seconds


def main() -> None:
    """Print one line: before and after, simulations per second against the goal."""
    reused = run(fresh=False)
    fresh = run(fresh=True)
    rate = SIMS / reused
    print(
        f"`hmdiag sbc` eight_schools_pooled, {SIMS} simulations on {WORKERS} workers, whole "
        f"process: each simulation compiled afresh {fresh:.1f} s ({SIMS / fresh:.1f}/s); one "
        f"compiled study per worker {reused:.1f} s (**{rate:.1f}/s**, goal >= {GOAL:g}/s: "
        f"{'met' if rate >= GOAL else 'missed'})"
    )


if __name__ == "__main__":
    main()
