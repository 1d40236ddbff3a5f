"""`make bench-scale`: hmdiag on a real-size multilevel model, against lme4 on the same data.

The case is lme4's InstEval (data/insteval.csv, 73,421 ratings; crossed student, lecturer and
department intercepts and a department `service` slope, all non-centered: 4,128 group effects;
configs/scale/insteval.yaml). It fits the spec with nutpie's diagonal and low-rank mass
matrices, checks and compares the runs, writes the HTML report, times `check` on a synthetic
run of 10,002 parameters, and fits the same model with lme4's `lmer` when R has lme4.
Every command runs as its own process; peak memory is that process's maximum resident set.

Writes its section of benchmarks/results.md (between the bench-scale markers; `make bench`
keeps it). Nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `python -m hmdiag`: the same imports as the entry point, and it also runs from a source tree.
HMDIAG = [sys.executable, "-m", "hmdiag"]
SPEC = ROOT / "configs" / "scale" / "insteval.yaml"
RESULTS = ROOT / "benchmarks" / "results.md"
BEGIN, END = "<!-- bench-scale: begin -->", "<!-- bench-scale: end -->"
OVERHEAD_PHASES = ("build", "compile", "postprocess", "save", "diagnose")
LMER = """
library(lme4)
d <- read.csv("{csv}")
for (c in c("s", "d", "dept")) d[[c]] <- factor(d[[c]])
t <- system.time(m <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept) + (0 + service | dept),
                           data = d, REML = FALSE))
vc <- as.data.frame(VarCorr(m))
cat(sprintf("seconds %.2f\\n", t[["elapsed"]]))
cat(sprintf("fixef %s %.5f\\n", names(fixef(m)), fixef(m)), sep = "")
cat(sprintf("sd %s %s %.5f\\n", vc$grp, ifelse(is.na(vc$var1), "-", vc$var1), vc$sdcor), sep = "")
"""


def measured(
    cmd: list[str], timeout: float | None = None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, peak RSS (MB) and the result of one command in its own process; killed
    after ``timeout`` seconds (return code -9)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill) if timeout else None
        if killer:
            killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        if killer:
            killer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return seconds, usage.ru_maxrss / 1024, result


def spec_with(tmp: Path, **sampler: object) -> Path:
    """The InstEval spec with sampler settings changed (the data path made absolute)."""
    import yaml

    raw = yaml.safe_load(SPEC.read_text())
    raw["data"]["path"] = str((SPEC.parent / raw["data"]["path"]).resolve())
    raw["sampler"] = {**raw["sampler"], **sampler}
    path = tmp / f"insteval-{'-'.join(f'{k}{v}' for k, v in sampler.items()) or 'default'}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def fit(spec: Path, out: Path, timeout: float | None = None) -> dict:
    """`hmdiag fit --json` in its own process: wall, peak memory, timing and efficiency."""
    seconds, peak, result = measured(
        [*HMDIAG, "fit", str(spec), "--out", str(out), "--force", "--json"], timeout
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"fit failed ({result.returncode}): {result.stderr[-2000:]}")
    doc = json.loads(result.stdout)
    params = {p["name"]: p for p in doc["parameters"]}
    timing = doc["timing"]
    overhead = sum(timing.get(k, 0.0) for k in OVERHEAD_PHASES)
    return {
        "wall": seconds,
        "peak_mb": peak,
        "timing": timing,
        "device": doc["sampling"].get("device"),
        "overhead": overhead,
        "file_mb": out.stat().st_size / 1e6,
        "verdict": doc["verdict"],
        "min_ess_bulk": min(p["ess_bulk"] for p in doc["parameters"]),
        "n_parameters": len(doc["parameters"]),
        "divergences": doc["divergences"]["total"],
        "max_rhat": max(p["r_hat"] for p in doc["parameters"]),
        "params": params,
        "first_line": result.stderr.splitlines()[0] if result.stderr else "",
        "model_fit": doc.get("model_fit") or {},
    }


def synthetic_check(tmp: Path) -> tuple[float, float, float]:
    """`check` on 4 x 1000 draws of 10,002 parameters: in-process seconds beyond imports,
    end-to-end seconds and peak MB."""
    code = f"""
import time, warnings
warnings.simplefilter("ignore")
import numpy as np, xarray as xr
rng = np.random.default_rng(0)
post = xr.Dataset({{"theta": (("chain", "draw", "i"), rng.normal(size=(4, 1000, 10000))),
                   "mu": (("chain", "draw"), rng.normal(size=(4, 1000))),
                   "tau": (("chain", "draw"), np.exp(rng.normal(size=(4, 1000))))}})
stats = xr.Dataset({{"diverging": (("chain", "draw"), rng.random((4, 1000)) < 0.01),
                    "energy": (("chain", "draw"), rng.normal(size=(4, 1000))),
                    "tree_depth": (("chain", "draw"), rng.integers(2, 6, size=(4, 1000))),
                    "acceptance_rate": (("chain", "draw"), rng.uniform(0.6, 1, size=(4, 1000))),
                    "step_size": (("chain", "draw"), np.full((4, 1000), 0.3))}})
xr.DataTree.from_dict({{"posterior": post, "sample_stats": stats}}).to_netcdf("{tmp}/p10k.nc")
from hmdiag.diagnose.report import assess_loaded
from hmdiag.runs import load_run, read_info
import arviz_stats, h5netcdf  # imported on first use inside check; imports are not timed
start = time.perf_counter()
idata = load_run("{tmp}/p10k.nc")
assess_loaded(idata, read_info(idata, "p10k"))
print(time.perf_counter() - start)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    in_process = float(result.stdout.strip().splitlines()[-1])
    seconds, peak, checked = measured([*HMDIAG, "check", str(tmp / "p10k.nc"), "--json"])
    assert checked.returncode in (0, 1), checked.stderr
    return in_process, seconds, peak


def lmer(tmp: Path) -> dict | None:
    """lme4's maximum-likelihood fit of the same model, when R and lme4 are installed."""
    if shutil.which("Rscript") is None:
        return None
    script = tmp / "lmer.R"
    script.write_text(LMER.format(csv=ROOT / "data" / "insteval.csv"))
    result = subprocess.run(["Rscript", str(script)], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    out: dict = {"fixef": {}, "sd": {}}
    for line in result.stdout.splitlines():
        kind, *rest = line.split()
        if kind == "seconds":
            out["seconds"] = float(rest[0])
        elif kind == "fixef":
            out["fixef"][rest[0]] = float(rest[1])
        elif kind == "sd":
            out["sd"][(rest[0], rest[1])] = float(rest[2])
    return out


def write_section(section: str, begin: str, end: str) -> None:
    """Replace the part of benchmarks/results.md between ``begin`` and ``end`` with
    ``section`` (which carries both markers), or append it; the rest of the file stays."""
    text = RESULTS.read_text() if RESULTS.exists() else "# hmdiag benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-low-rank",
        action="store_true",
        help="fit the diagonal run only: no low-rank fit (about 10 minutes) and no compare",
    )
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hmdiag-scale-"))
    started = time.perf_counter()
    runs = {"diag": (spec_with(tmp), tmp / "insteval-diag.nc")}
    if not args.no_low_rank:
        runs["low_rank"] = (spec_with(tmp, mass_matrix="low_rank"), tmp / "insteval-lowrank.nc")
    fits = {name: fit(spec, out) for name, (spec, out) in runs.items()}
    diag_run = runs["diag"][1]
    check_s, check_mb, checked = measured([*HMDIAG, "check", str(diag_run), "--json"])
    assert checked.returncode in (0, 1), checked.stderr
    compare_row = "not run (--no-low-rank) | |"
    loo = []
    if len(runs) > 1:
        compare_s, compare_mb, compared = measured(
            [*HMDIAG, "compare", *(str(out) for _, out in runs.values()), "--json"]
        )
        assert compared.returncode in (0, 1), compared.stderr
        loo = json.loads(compared.stdout).get("loo") or []
        compare_row = f"{compare_s:.1f} s, {compare_mb / 1024:.2f} GB | |"
    report_s, _, reported = measured(
        [*HMDIAG, "report", str(diag_run), "--out", str(tmp / "report.html"), "--force"]
    )
    assert reported.returncode in (0, 1), reported.stderr
    html_mb = (tmp / "report.html").stat().st_size / 1e6
    text_lines = len(measured([*HMDIAG, "check", str(diag_run)])[2].stdout.splitlines())
    synth_in, synth_s, synth_mb = synthetic_check(tmp)
    lme4 = lmer(tmp)

    diag = fits["diag"]
    t = diag["timing"]
    lines = [
        BEGIN,
        "## Real size: lme4 InstEval (`make bench-scale`)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-scale` in "
        f"{time.perf_counter() - started:.0f} s on {os.cpu_count()} cores "
        f"({platform.machine()}). `configs/scale/insteval.yaml`: 73,421 rows, "
        f"{diag['n_parameters']:,} parameters in the tables, 4 chains x 1000 draws (+1000 tune), "
        "nutpie. Every command is its own process; memory is its peak resident set.",
        "",
        "| step | hmdiag | goal |",
        "|---|---|---|",
        f"| `hmdiag fit`, wall | {diag['wall']:.1f} s, of which {t['sample']:.1f} s sampling | |",
        f"| non-sampling overhead (build + compile + postprocess + save + diagnose) | "
        f"{diag['overhead']:.1f} s = **{diag['overhead'] / t['sample']:.0%}** of sampling | <= 25% |",
        f"| fit peak memory | **{diag['peak_mb'] / 1024:.2f} GB** | <= 1.5 GB |",
        f"| run file | **{diag['file_mb']:.0f} MB** | <= 150 MB |",
        f"| `hmdiag check` on that run, end to end | **{check_s:.1f} s**, {check_mb / 1024:.2f} GB | <= 5 s, <= 0.5 GB |",
        "| model fit at the fit (PSIS-LOO Pareto k + posterior predictive checks, in the "
        "fit's peak above) | "
        + (
            f"{t.get('model_fit', 0.0):.1f} s on {diag['model_fit'].get('draws_note', '?')}; "
            f"max k {diag['model_fit'].get('max_k') or float('nan'):.3g} |"
            if diag["model_fit"]
            else "not measured |"
        )
        + " |",
        f"| `hmdiag compare` of the two runs (PSIS-LOO recomputed from spec and data) | "
        f"{compare_row}",
        f"| `hmdiag report` (HTML) | {report_s:.1f} s, file {html_mb:.2f} MB | < 5 MB |",
        f"| `hmdiag check` terminal output | {text_lines} lines | readable |",
        f"| `check` on 4 x 1000 draws x 10,002 parameters (synthetic) | "
        f"{synth_in:.2f} s beyond imports; {synth_s:.1f} s end to end, {synth_mb / 1024:.2f} GB | <= 3 s beyond imports |",
        "| lme4 `lmer` (ML), same model, same machine | "
        + (f"{lme4['seconds']:.1f} s |" if lme4 else "not run (no R with lme4) |")
        + " |",
        "",
        "Per-phase seconds of the diagonal fit (`fit --json` `timing`): "
        + ", ".join(f"{k} {v:.2f}" for k, v in t.items())
        + f". First line of the fit: `{diag['first_line']}`.",
        "",
        "### Sampling efficiency at this size",
        "",
        "| backend | mass matrix | sampling s | min ESS_bulk | min ESS_bulk / s | max r_hat | divergences | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in fits.items():
        s = f["timing"]["sample"]
        lines.append(
            f"| nutpie | {name} | {s:.1f} | {f['min_ess_bulk']:.0f} | {f['min_ess_bulk'] / s:.1f} "
            f"| {f['max_rhat']:.3f} | {f['divergences']} | {f['verdict']} |"
        )
    lines.append(
        "| numpyro / blackjax | diag | see the accelerator section | | | | | measured on a GPU "
        "machine by benchmarks/accelerator.py; on 2 CPU cores they sample mme4 10x slower "
        "than nutpie (table above) |"
    )
    if lme4:
        lines += [
            "",
            "### Against lme4 (posterior mean, diagonal run; lmer maximum likelihood)",
            "",
            "| quantity | hmdiag | lmer |",
            "|---|---|---|",
        ]
        p = diag["params"]
        pairs = [
            ("intercept", lme4["fixef"].get("(Intercept)")),
            ("b_service", lme4["fixef"].get("service")),
            ("sigma_s", lme4["sd"].get(("s", "(Intercept)"))),
            ("sigma_d", lme4["sd"].get(("d", "(Intercept)"))),
            ("sigma_dept", lme4["sd"].get(("dept", "(Intercept)"))),
            ("sigma_dept_service", lme4["sd"].get(("dept.1", "service"))),
            ("sigma", lme4["sd"].get(("Residual", "-"))),
        ]
        for name, ml in pairs:
            if name in p and ml is not None:
                lines.append(f"| {name} | {p[name]['mean']:.4f} | {ml:.4f} |")
    if loo:
        lines += [
            "",
            "PSIS-LOO from `compare`: "
            + "; ".join(f"{r['label']} elpd {r['elpd_loo']:.1f} (se {r['se']:.1f})" for r in loo)
            + ".",
        ]
    lines.append(END)
    section = "\n".join(lines)
    write_section(section, BEGIN, END)
    print(section)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
