"""ESS per second of each sampler backend on the real-size case, on the machine it runs on.

The JAX backends (numpyro, blackjax) vectorize the chains on JAX's default device, so this is
the benchmark to run on a GPU machine; nutpie runs beside them on the same machine's CPUs as the
baseline. The case is `make bench-scale`'s: configs/scale/insteval.yaml (73,421 rows, 4,128
group effects, 4 chains x 1000 draws + 1000 tune).

    python benchmarks/accelerator.py --json-out acc.json     # measure (each fit its own process)
    python benchmarks/accelerator.py --render acc.json       # write its section of results.md

`make bench-accelerator` does both. The measurements kept in the repository are
benchmarks/accelerator.json (from a GPU machine); nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import fit, spec_with, write_section

BEGIN, END = "<!-- bench-accelerator: begin -->", "<!-- bench-accelerator: end -->"
BACKENDS = ("numpyro", "blackjax", "nutpie")
# Estimates printed beside each backend's efficiency, to show they sampled the same posterior.
ESTIMATES = ("intercept", "sigma", "sigma_s", "sigma_d", "sigma_dept")


def machine_facts() -> dict:
    """What the numbers were measured on: CPU count, GPU name, JAX devices, versions."""
    from importlib.metadata import PackageNotFoundError, version

    facts: dict = {"cpus": os.cpu_count(), "machine": platform.machine(), "versions": {}}
    for name in ("jax", "jaxlib", "numpyro", "blackjax", "nutpie", "pymc", "pytensor", "numba"):
        with contextlib.suppress(PackageNotFoundError):
            facts["versions"][name] = version(name)
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        facts["gpus"] = smi.stdout.strip().splitlines()
    try:
        import jax

        facts["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception as exc:  # any JAX start-up failure is a fact about the machine
        facts["jax_devices"] = [f"unavailable: {exc!r:.200}"]
    return facts


def measure(backends: list[str], timeout: float, **sampler: int) -> dict:
    """Fit the case once per backend, each in its own process, and collect efficiency."""
    tmp = Path(tempfile.mkdtemp(prefix="hmdiag-accel-"))
    rows = []
    for backend in backends:
        spec = spec_with(tmp, backend=backend, **sampler)
        print(f"fitting with {backend} ...", flush=True)
        try:
            f = fit(spec, tmp / f"{backend}.nc", timeout=timeout)
        except SystemExit as exc:  # a backend that fails is reported, the others still run
            killed = "(-9)" in str(exc)
            error = f"killed after {timeout:.0f} s" if killed else str(exc)[-1500:]
            rows.append({"backend": backend, "error": error})
            print(f"  {backend} failed: {str(exc)[-600:]}", flush=True)
            continue
        sample = f["timing"]["sample"]
        row = {
            "backend": backend,
            "device": f["device"],
            "wall": round(f["wall"], 2),
            "timing": f["timing"],
            "peak_mb": round(f["peak_mb"]),
            "min_ess_bulk": round(f["min_ess_bulk"], 1),
            "min_ess_bulk_per_s": round(f["min_ess_bulk"] / sample, 2),
            "max_rhat": round(f["max_rhat"], 4),
            "divergences": f["divergences"],
            "verdict": f["verdict"],
            "estimates": {
                k: round(f["params"][k]["mean"], 4) for k in ESTIMATES if k in f["params"]
            },
        }
        rows.append(row)
        print(f"  {json.dumps(row)}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "rows": rows,
    }


def render(results: dict) -> str:
    """The accelerator section of benchmarks/results.md."""
    m = results["machine"]
    # nvidia-smi -L: "GPU 0: NVIDIA H200 (UUID: GPU-...)" -> "NVIDIA H200"
    gpus = "; ".join(g.split(": ", 1)[-1].split(" (UUID")[0] for g in m.get("gpus", [])) or "none"
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        BEGIN,
        "## Backends on an accelerator (`benchmarks/accelerator.py`)",
        "",
        f"Measured {results['measured']} on a lent machine: {m['cpus']} CPUs, GPU {gpus}; "
        f"{versions}. Same case as bench-scale (InstEval, 4 chains x 1000 draws + 1000 tune). "
        "numpyro and blackjax run the 4 chains vectorized on JAX's default device; nutpie runs "
        "them on the same machine's CPUs. Timings compare only within this table.",
        "",
        "| backend | device | sampling s | fit wall s | min ESS_bulk | min ESS_bulk / s | max r_hat "
        "| divergences | " + " | ".join(ESTIMATES) + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(ESTIMATES),
    ]
    for r in results["rows"]:
        if "error" in r:
            first = r["error"].strip().splitlines()[-1][:160] if r["error"].strip() else "failed"
            lines.append(f"| {r['backend']} | failed: {first} |" + " |" * (6 + len(ESTIMATES)))
            continue
        est = " | ".join(f"{r['estimates'].get(k, float('nan')):.4f}" for k in ESTIMATES)
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['timing']['sample']:.1f} | {r['wall']:.1f} "
            f"| {r['min_ess_bulk']:.0f} | {r['min_ess_bulk_per_s']:.2f} | {r['max_rhat']:.3f} "
            f"| {r['divergences']} | {est} |"
        )
    done = [r for r in results["rows"] if "error" not in r]
    cpu = [r for r in done if r["device"] == "cpu"]
    accelerated = [r for r in done if r["device"] != "cpu"]
    if cpu and accelerated:
        best = max(accelerated, key=lambda r: r["min_ess_bulk_per_s"])
        ratio = best["min_ess_bulk_per_s"] / cpu[0]["min_ess_bulk_per_s"]
        lines += [
            "",
            f"Best accelerated backend: {best['backend']} at {ratio:.2f}x nutpie's minimum bulk "
            "ESS per second on the same machine's CPUs. For the JAX backends the sampling time is "
            "PyMC's `sampling_time`, which includes JAX's compilation of the sampler.",
        ]
    if results.get("note"):
        lines += ["", results["note"]]
    lines += [
        "",
        "lme4 `lmer` (maximum likelihood) fits the same model in the bench-scale section's time "
        "on that section's machine; R is not installed on the lent GPU machine.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per fit")
    parser.add_argument("--draws", type=int, help="override the spec (a quick smoke run)")
    parser.add_argument("--tune", type=int, help="override the spec (a quick smoke run)")
    parser.add_argument("--json-out", type=Path, help="measure and write the results here")
    parser.add_argument("--render", type=Path, help="write results.md's section from this JSON")
    args = parser.parse_args()
    if args.json_out is None and args.render is None:
        parser.error("give --json-out (measure), --render (write results.md) or both")
    if args.json_out is not None:
        sampler = {k: v for k, v in (("draws", args.draws), ("tune", args.tune)) if v}
        results = measure(args.backends, args.timeout, **sampler)
        args.json_out.write_text(json.dumps(results, indent=1) + "\n")
    if args.render is not None:
        section = render(json.loads(args.render.read_text()))
        write_section(section, BEGIN, END)
        print(section)


if __name__ == "__main__":
    main()
