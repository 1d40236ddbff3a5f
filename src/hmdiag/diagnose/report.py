"""A diagnosed and judged run, and its versioned machine-readable form (JSON schema v1)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hmdiag import _views
from hmdiag._version import __version__
from hmdiag.diagnose.checks import Thresholds
from hmdiag.diagnose.diagnosis import Diagnosis
from hmdiag.diagnose.model_fit import ModelFit
from hmdiag.diagnose.pathologies import Pathology
from hmdiag.diagnose.summary import TAIL_ESS_CI_PROB
from hmdiag.diagnose.verdict import Verdict
from hmdiag.runs import RunInfo

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunReport:
    """What every renderer draws: the measurements, the judgment and where they came from."""

    source: str | None
    info: RunInfo
    diagnosis: Diagnosis
    verdict: Verdict
    thresholds: Thresholds
    # The run itself (an xarray.DataTree) when the Python API made the report; not compared.
    run: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``--json`` prints (schema ``check-v1``)."""
        return report_to_dict(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the HTML report's section for this run, without plots."""
        return _views.view("run.html", [self])

    def with_timing(self, timing: dict[str, float]) -> RunReport:
        """The same report with the command's phase times (save and diagnose included)."""
        from dataclasses import replace

        rounded = {k: round(v, 4) for k, v in timing.items()}
        return replace(self, info=replace(self.info, timing=rounded))


def json_ready(value: Any) -> Any:
    """JSON-safe values: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_to_dict(report: RunReport) -> dict[str, Any]:
    """The documented JSON document for one run (see README, "JSON output")."""
    d, v, info = report.diagnosis, report.verdict, report.info
    chains = d.chain_stats
    return json_ready(
        {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "hmdiag", "version": __version__},
            "run": {
                "label": d.label,
                "file": report.source,
                "spec_name": info.spec_name,
                "seed": info.seed,
                "backend": info.backend,
                "data_sha256": info.data_sha256,
            },
            "verdict": v.label,
            # Checks that could not be computed: a pass did not see them.
            "not_assessed": v.not_assessed,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "passed": c.passed,
                    "value": c.value,
                    "threshold": c.threshold,
                    "message": c.message,
                    "worst": c.worst,
                }
                for c in v.checks
            ],
            "thresholds": asdict(report.thresholds),
            "divergences": {
                "total": d.divergences_total,
                "per_chain": [c.divergences for c in chains]
                if d.divergences_total is not None
                else None,
                "fraction": d.divergence_fraction,
            },
            "tree_depth": {
                "hits_total": d.treedepth_hits_total,
                "per_chain": [c.treedepth_hits for c in chains]
                if d.treedepth_hits_total is not None
                else None,
                "max_treedepth": d.max_treedepth,
                "max_treedepth_assumed": d.max_treedepth_assumed,
            },
            "e_bfmi": {"per_chain": [c.bfmi for c in chains]},
            "acceptance": {"per_chain": [c.mean_accept for c in chains], "target": d.target_accept},
            "step_size": {"per_chain": [c.step_size for c in chains]},
            "parameters": [asdict(p) for p in d.parameters],
            "hdi_prob": d.hdi_prob,
            # What hmdiag computes where ArviZ 1.x defaults differ (ETI, tail ESS at 0.11/0.89).
            "definitions": {
                "interval": "hdi",
                "ess_tail_quantiles": [round(1 - TAIL_ESS_CI_PROB, 6), TAIL_ESS_CI_PROB],
            },
            "divergence_hotspots": [asdict(h) for h in d.hotspots],
            "advice": [asdict(a) for a in v.advice],
            "pathologies": [pathology_to_dict(p) for p in v.pathologies],
            "model_fit": model_fit_to_dict(d.model_fit),
            "sampling": {
                "sampler": d.sampler,
                "device": d.device,
                "chains": d.chains,
                "draws": d.draws,
                "seconds": d.sampling_seconds,
                "min_ess_bulk_per_second": d.min_ess_per_second,
            },
            "timing": info.timing or None,
            "hidden_variables": d.hidden_variables,
            "notes": d.notes,
        }
    )


def model_fit_to_dict(fit: ModelFit | None) -> dict[str, Any]:
    """The ``model_fit`` section of the JSON document (``assessed`` false with its reason)."""
    if fit is None or not fit.assessed:
        reason = fit.reason if fit is not None else "not measured"
        return {"assessed": False, "reason": reason}
    return {"assessed": True, **fit.to_dict(), "reason": fit.reason or None}


def pathology_to_dict(p: Pathology) -> dict[str, Any]:
    """One catalog finding for JSON: kind, where, evidence text and numbers, remedies."""
    return {
        "kind": p.kind,
        "title": p.title,
        "where": p.where,
        "evidence": p.evidence,
        "meaning": p.meaning,
        "numbers": p.numbers,
        "explains": list(p.explains),
        "sampler_fixable": p.sampler_fixable,
        "remedies": [asdict(a) for a in p.remedies],
    }


def thresholds_from_spec_text(text: str | None) -> tuple[Thresholds, float | None]:
    """Thresholds (and HDI prob) from a stored spec's ``checks:`` section, else defaults."""
    if not text:
        return Thresholds(), None
    import yaml

    from hmdiag.spec.settings import ChecksSpec

    try:
        raw = yaml.safe_load(text)
        checks = ChecksSpec.model_validate((raw or {}).get("checks") or {})
    except Exception:  # a foreign or damaged spec text must not stop a check
        return Thresholds(), None
    return thresholds_from_checks(checks), checks.hdi_prob


def thresholds_from_checks(checks: Any) -> Thresholds:
    """Thresholds from a validated ``ChecksSpec``."""
    return Thresholds(
        max_rhat=checks.max_rhat,
        min_ess_per_chain=checks.min_ess_per_chain,
        max_divergences=checks.max_divergences,
        max_treedepth_hits=checks.max_treedepth_hits,
        min_bfmi=checks.min_bfmi,
        fail_on_misfit=checks.fail_on_misfit,
    )


def assess(
    idata: Any,
    info: RunInfo,
    thresholds: Thresholds,
    *,
    source: str | None = None,
    var_names: list[str] | None = None,
    hdi_prob: float = 0.89,
    model_fit: ModelFit | None = None,
) -> RunReport:
    """Diagnose and judge one run (``model_fit``: see ``diagnose``)."""
    from hmdiag.diagnose.diagnosis import diagnose
    from hmdiag.diagnose.verdict import judge

    diagnosis = diagnose(idata, info, var_names=var_names, hdi_prob=hdi_prob, model_fit=model_fit)
    return RunReport(
        source=source,
        info=info,
        diagnosis=diagnosis,
        verdict=judge(diagnosis, thresholds),
        thresholds=thresholds,
    )


def assess_loaded(
    idata: Any,
    info: RunInfo,
    *,
    source: str | None = None,
    overrides: dict[str, Any] | None = None,
    var_names: list[str] | None = None,
    hdi_prob: float | None = None,
    model_fit: ModelFit | None = None,
) -> RunReport:
    """Assess a loaded run with thresholds from its stored spec plus ``overrides``."""
    from dataclasses import replace

    # The phase times stored in a run describe its fit, not this command: `check` reports none.
    info = replace(info, timing={})
    base, spec_hdi = thresholds_from_spec_text(info.spec_text)
    thresholds = base.with_overrides(**(overrides or {}))
    prob = hdi_prob if hdi_prob is not None else (spec_hdi or 0.89)
    return assess(
        idata,
        info,
        thresholds,
        source=source,
        var_names=var_names,
        hdi_prob=prob,
        model_fit=model_fit,
    )
