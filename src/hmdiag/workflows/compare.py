"""Several runs side by side: verdicts, sampler efficiency, shared parameters and PSIS-LOO."""

from __future__ import annotations

import gc
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmdiag import _lazy, _views
from hmdiag._datatree import has_group
from hmdiag.diagnose.checks import CheckResult
from hmdiag.diagnose.model_fit import psis_loo
from hmdiag.diagnose.report import RunReport

PARETO_K_BAD = 0.7


@dataclass(frozen=True)
class LoadedRun:
    """A run (read from disk, or given in memory) with its report."""

    label: str
    idata: Any
    report: RunReport


@dataclass(frozen=True)
class RunColumn:
    """One run's headline numbers."""

    label: str
    verdict: str
    divergences: int | None
    max_rhat: float | None
    min_ess_bulk: float | None
    min_ess_tail: float | None
    seconds: float | None
    ess_per_second: float | None
    failed_checks: list[str]


@dataclass(frozen=True)
class ParameterCell:
    """One parameter in one run (``None`` where the run lacks it)."""

    mean: float
    sd: float
    hdi_low: float
    hdi_high: float
    ess_bulk: float
    ess_ratio: float | None


@dataclass(frozen=True)
class ParameterRow:
    """A parameter matched by name across runs (``a[1]`` of a centered and a non-centered run)."""

    name: str
    cells: list[ParameterCell | None]


@dataclass(frozen=True)
class LooRow:
    """One run's PSIS-LOO result from arviz-stats ``compare``."""

    label: str
    rank: int
    elpd_loo: float
    se: float
    elpd_diff: float
    dse: float
    p_loo: float
    weight: float
    max_pareto_k: float
    bad_pareto_k: int
    warning: bool
    checks_passed: bool = True
    failed_checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """Everything ``hmdiag compare`` shows."""

    labels: list[str]
    runs: list[RunColumn]
    parameters: list[ParameterRow]
    loo: list[LooRow] = field(default_factory=list)
    loo_skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pareto_k_warnings: list[str] = field(default_factory=list)
    # The regression gates of `compare --baseline` (hmdiag.workflows.regression), one per run.
    gates: list[Any] = field(default_factory=list)
    # Each run's report, when the Python API made the comparison (for its HTML view).
    reports: list[Any] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``hmdiag compare --json`` prints."""
        return _views.view("comparison.dict", self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the HTML report's comparison, then each run's section."""
        return _views.view("run.html", list(self.reports), self)


def unique_labels(labels: list[str]) -> list[str]:
    """Make run labels unique by suffixing repeats (``mme4``, ``mme4#2``)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _column(report: RunReport) -> RunColumn:
    d = report.diagnosis

    def finite(attr: str) -> list[float]:
        return [getattr(p, attr) for p in d.parameters if math.isfinite(getattr(p, attr))]

    rhat, bulk, tail = finite("r_hat"), finite("ess_bulk"), finite("ess_tail")
    return RunColumn(
        label=d.label,
        verdict=report.verdict.label,
        divergences=d.divergences_total,
        max_rhat=max(rhat) if rhat else None,
        min_ess_bulk=min(bulk) if bulk else None,
        min_ess_tail=min(tail) if tail else None,
        seconds=d.sampling_seconds,
        ess_per_second=d.min_ess_per_second,
        failed_checks=[c.name for c in report.verdict.failed()],
    )


def _parameter_rows(reports: list[RunReport]) -> list[ParameterRow]:
    by_run = [{p.name: p for p in r.diagnosis.parameters} for r in reports]
    order: dict[str, None] = {}
    for table in by_run:
        order |= dict.fromkeys(table)
    shared = [n for n in order if sum(n in t for t in by_run) >= min(2, len(by_run))]
    rows = []
    for name in shared:
        first = by_run[0].get(name)
        cells: list[ParameterCell | None] = []
        for table in by_run:
            p = table.get(name)
            if p is None:
                cells.append(None)
                continue
            ratio = (
                p.ess_bulk / first.ess_bulk if first is not None and first.ess_bulk > 0 else None
            )
            cells.append(ParameterCell(p.mean, p.sd, p.hdi_low, p.hdi_high, p.ess_bulk, ratio))
        rows.append(ParameterRow(name, cells))
    return rows


def _observed_data_signature(idata: Any) -> tuple[Any, ...] | None:
    """The run's observed data (names and values), or None without an observed_data group."""
    if not has_group(idata, "observed_data"):
        return None
    data = idata["observed_data"]
    names = sorted(str(v) for v in data.data_vars)
    return tuple((n, np.asarray(data[n]).tobytes()) for n in names)


def _observed_signature(idata: Any) -> tuple[Any, ...] | None:
    if not has_group(idata, "log_likelihood"):
        return None
    names = sorted(str(v) for v in idata.log_likelihood.data_vars)
    if has_group(idata, "observed_data"):
        values = tuple(
            np.asarray(idata.observed_data[n]).tobytes() for n in names if n in idata.observed_data
        )
    else:
        values = ()
    shapes = tuple(idata.log_likelihood[n].shape[2:] for n in names)
    return (tuple(names), shapes, values)


def _loo(runs: list[LoadedRun]) -> tuple[list[LooRow], str | None]:
    if len(runs) < 2:
        return [], "PSIS-LOO comparison needs at least two runs"
    from hmdiag.workflows.fit import recompute_log_likelihood

    observed = [_observed_data_signature(r.idata) for r in runs]
    if None not in observed and len(set(observed)) > 1:
        # Known before any log-likelihood is computed (a minute per run at 70k rows).
        return [], "PSIS-LOO skipped: the runs' log-likelihoods are not for the same observations"
    signatures = []
    loos = {}
    # One run at a time: a recomputed pointwise log-likelihood (draws x observations, GBs at
    # tens of thousands of rows) is dropped as soon as its LOO is known.
    for run in runs:
        recomputed = not has_group(run.idata, "log_likelihood")
        # Runs keep only the per-draw total by default; LOO needs the pointwise values.
        why = recompute_log_likelihood(run.idata, run.report.info)
        if why is not None:
            return [], f"PSIS-LOO skipped for {run.label}: {why}"
        signature = _observed_signature(run.idata)
        if signature is None:
            return [], f"PSIS-LOO skipped: no log_likelihood group in {run.label}"
        signatures.append(signature)
        loos[run.label] = psis_loo(run.idata)
        if recomputed:
            del run.idata["log_likelihood"]
            # A DataTree node sits in a parent/child reference cycle: without a collection
            # its array (2.35 GB for InstEval) outlives the deletion, and the next run's
            # recomputed array comes on top of it (5.4 GB peak instead of 3.2 GiB).
            gc.collect()
    if len(set(signatures)) > 1:
        return [], "PSIS-LOO skipped: the runs' log-likelihoods are not for the same observations"
    reports = {r.label: r.report for r in runs}
    azs = _lazy.arviz_stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = azs.compare(loos, round_to="none")
    rows = []
    for label, row in table.iterrows():
        loo = loos[label]
        k = np.asarray(loo.pareto_k)
        rows.append(
            LooRow(
                label=str(label),
                rank=int(row["rank"]),
                elpd_loo=float(row["elpd"]),
                se=float(row["se"]),
                elpd_diff=float(row["elpd_diff"]),
                dse=float(row["dse"]),
                p_loo=float(row["p"]),
                weight=float(row["weight"]),
                max_pareto_k=float(np.nanmax(k)),
                bad_pareto_k=int(np.sum(k > PARETO_K_BAD)),
                warning=bool(loo.warning),
                checks_passed=reports[str(label)].verdict.passed,
                failed_checks=[c.name for c in reports[str(label)].verdict.failed()],
            )
        )
    return rows, None


def failed_check_summary(check: CheckResult) -> str:
    """A failed check in a few words: ``298 divergences``, ``r_hat 1.038 > 1.01``."""
    v, t = check.value, check.threshold
    if v is None:
        return check.name
    if check.name == "divergences":
        more = f" > {t:g}" if t else ""
        return f"{v:.0f} divergence{'' if v == 1 else 's'}{more}"
    if check.name == "tree_depth":
        more = f" > {t:g}" if t else ""
        return f"{v:.0f} max-tree-depth hit{'' if v == 1 else 's'}{more}"
    if check.name == "r_hat":
        return f"r_hat {v:.3f} > {t:g}" if t is not None else f"r_hat {v:.3f}"
    if check.name in ("ess_bulk", "ess_tail"):
        return f"{check.name} {v:.0f} < {t:g}" if t is not None else f"{check.name} {v:.0f}"
    if check.name == "e_bfmi":
        return f"E-BFMI {v:.2f} < {t:g}" if t is not None else f"E-BFMI {v:.2f}"
    return f"{check.name} {v:g}"


def _ranking_warnings(loo: list[LooRow], reports: dict[str, RunReport]) -> list[str]:
    """One warning per ranked run that failed its own checks: its elpd cannot be trusted."""
    if not loo:
        return []
    top = min(loo, key=lambda r: r.rank)
    clean = sorted((r for r in loo if r.checks_passed), key=lambda r: r.rank)
    out = []
    for row in sorted(loo, key=lambda r: r.rank):
        if row.checks_passed:
            continue
        details = "; ".join(failed_check_summary(c) for c in reports[row.label].verdict.failed())
        where = (
            f"{row.label} is ranked first but failed its checks"
            if row is top
            else f"{row.label} (rank {row.rank}) failed its checks"
        )
        message = (
            f"{where} ({details}): its elpd_loo estimate is not trustworthy; "
            f"do not use this ranking to pick {row.label} until it samples cleanly"
        )
        if row is top and clean:
            message += f" (best-ranked run that passed its checks: {clean[0].label})"
        out.append(message)
    return out


def _pareto_k_warnings(loo: list[LooRow]) -> list[str]:
    return [
        f"{r.label}: {r.bad_pareto_k} observation(s) with Pareto k > {PARETO_K_BAD:g}; "
        "its LOO estimate is unreliable"
        for r in loo
        if r.bad_pareto_k
    ]


def compare_runs(runs: list[LoadedRun], *, loo: bool = True) -> Comparison:
    """Side-by-side comparison; parameters matched by their ArviZ label. ``loo=False`` skips
    PSIS-LOO (minutes at tens of thousands of observations) for outputs that do not show it."""
    reports = [r.report for r in runs]
    loo_rows, skipped = _loo(runs) if loo else ([], "PSIS-LOO not computed for this output")
    by_label = {r.label: r.report for r in runs}
    return Comparison(
        labels=[r.label for r in runs],
        runs=[_column(r) for r in reports],
        parameters=_parameter_rows(reports),
        loo=loo_rows,
        loo_skipped=skipped,
        notes=[f"{r.diagnosis.label}: {note}" for r in reports for note in r.diagnosis.notes],
        warnings=_ranking_warnings(loo_rows, by_label),
        pareto_k_warnings=_pareto_k_warnings(loo_rows),
    )


def load_runs(
    runs: list[Any],
    *,
    labels: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    var_names: list[str] | None = None,
    hdi_prob: float | None = None,
) -> list[LoadedRun]:
    """Load and assess several runs, paths or in memory (``hmdiag.runs.open_run``); labelled
    by ``labels``, else spec name, else file name, made unique."""
    from dataclasses import replace

    from hmdiag.diagnose.report import assess_loaded
    from hmdiag.runs import open_run, read_info

    loaded = []
    for i, run in enumerate(runs):
        idata, name, source = open_run(run)
        info = read_info(idata, name)
        if labels is not None:
            info = replace(info, label=labels[i])
        loaded.append((source, idata, info))
    unique = unique_labels([info.label for _, _, info in loaded])
    results = []
    for (source, idata, info), label in zip(loaded, unique, strict=True):
        info = replace(info, label=label)
        report = assess_loaded(
            idata,
            info,
            source=source,
            overrides=overrides,
            var_names=var_names,
            hdi_prob=hdi_prob,
        )
        results.append(LoadedRun(label=label, idata=idata, report=report))
    return results
