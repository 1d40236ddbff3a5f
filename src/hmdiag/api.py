"""hmdiag from Python, for notebooks: the CLI's pipeline, returning the objects it renders.

``fit`` and ``check`` return a ``RunReport`` (``hmdiag.diagnose.report``), ``compare`` a
``Comparison`` and ``doctor`` a ``DoctorResult``. In Jupyter each shows itself as the HTML
report's tables (``_repr_html_``); ``.to_dict()`` gives the document the CLI prints with
``--json``. The run itself is ``report.run`` (an ``xarray.DataTree``).

Nothing here prints, and nothing is written unless a path is given (``out=``, ``runs_dir=``).
Bad input raises ``hmdiag.errors.HmdiagError`` with the CLI's message and hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hmdiag.errors import HmdiagError


def _threshold_overrides(thresholds: dict[str, Any] | None) -> dict[str, Any]:
    import math

    from hmdiag.diagnose.checks import Thresholds

    unknown = sorted(set(thresholds or {}) - set(Thresholds.__dataclass_fields__))
    if unknown:
        valid = ", ".join(Thresholds.__dataclass_fields__)
        raise HmdiagError(f"unknown threshold {unknown[0]!r}", f"thresholds are: {valid}")
    for key, value in (thresholds or {}).items():
        if key == "fail_on_misfit":
            if not isinstance(value, bool):
                raise HmdiagError(f"threshold fail_on_misfit must be True or False, got {value!r}")
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise HmdiagError(f"threshold {key} must be a number >= 0, got {value!r}")
    return dict(thresholds or {})


def _names(var_names: Sequence[str] | str | None) -> list[str] | None:
    """``var_names`` as a list; a single name may be given as a string."""
    if var_names is None:
        return None
    return [var_names] if isinstance(var_names, str) else list(var_names) or None


def _hdi_prob(value: float | None) -> float | None:
    if value is not None and not (isinstance(value, int | float) and 0 < value < 1):
        raise HmdiagError(f"hdi_prob must be between 0 and 1, got {value!r}")
    return value


def fit(
    spec: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = False,
    thresholds: dict[str, Any] | None = None,
    **sampler: Any,
) -> Any:
    """Sample a YAML spec and diagnose the run, as ``hmdiag fit`` does.

    ``sampler`` overrides the spec's sampler settings (``draws``, ``tune``, ``chains``,
    ``cores``, ``target_accept``, ``seed``, ``backend``); ``thresholds`` overrides its checks
    (``max_rhat``, ``min_ess_per_chain``, ...). ``out`` saves the run there (refusing to
    replace a file unless ``force``). Returns the ``RunReport``, with the run as ``.run``.
    """
    import warnings

    from hmdiag.diagnose.report import assess, thresholds_from_checks
    from hmdiag.runs import save_run
    from hmdiag.runs.files import check_output_path
    from hmdiag.spec import load_spec, with_sampler_overrides
    from hmdiag.workflows.fit import fit as run_fit

    loaded = with_sampler_overrides(load_spec(Path(spec)), **sampler)
    if out is not None:
        check_output_path(Path(out), force=force)
    limits = thresholds_from_checks(loaded.spec.checks).with_overrides(
        **_threshold_overrides(thresholds)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_fit(loaded)
        if out is not None:
            save_run(result.idata, Path(out), force=force)
        report = assess(
            result.idata,
            result.info,
            limits,
            source=str(out) if out is not None else None,
            hdi_prob=loaded.spec.checks.hdi_prob,
        )
    return replace(report, run=result.idata)


def check(
    run: Any,
    *,
    label: str | None = None,
    var_names: Sequence[str] | None = None,
    hdi_prob: float | None = None,
    thresholds: dict[str, Any] | None = None,
) -> Any:
    """Diagnose a run, as ``hmdiag check`` does.

    ``run`` is a path (NetCDF, zarr, CmdStan CSV, a glob of CSV chains) or an object in
    memory: an ``xarray.DataTree`` (PyMC 6, nutpie), an ArviZ 0.x ``InferenceData``, a
    cmdstanpy ``CmdStanMCMC`` or a numpyro ``MCMC``. ``label`` names it in the report
    (default: the spec's name, else the file's). Returns the ``RunReport``.
    """
    import warnings

    from hmdiag.diagnose.report import assess_loaded
    from hmdiag.runs import open_run, read_info

    overrides, names, prob = (
        _threshold_overrides(thresholds),
        _names(var_names),
        _hdi_prob(hdi_prob),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, name, source = open_run(run, label)
        info = read_info(idata, name)
        if label is not None:
            info = replace(info, label=label)
        if info.source_tool == "cmdstan":
            # In Python, CmdStan's settings are cmdstanpy's arguments (adapt_delta=...).
            info = replace(info, source_tool="cmdstanpy")
        from hmdiag.workflows.fit import model_fit_for_run

        report = assess_loaded(
            idata,
            info,
            source=source,
            overrides=overrides,
            var_names=names,
            hdi_prob=prob,
            model_fit=model_fit_for_run(idata, info),
        )
    return replace(report, run=idata)


def compare(
    *runs: Any,
    labels: Sequence[str] | None = None,
    var_names: Sequence[str] | None = None,
    hdi_prob: float | None = None,
    baseline: Any | None = None,
    fail_on_shift: float | None = None,
    fail_on_ess_drop: float | None = None,
) -> Any:
    """Put runs side by side, as ``hmdiag compare`` does (PSIS-LOO included when the runs
    carry or can recompute their log-likelihood). Each run is anything ``check`` takes.
    Returns the ``Comparison``; ``.reports`` holds each run's ``RunReport``.

    ``baseline`` (a run): each run is also gated against it, as ``compare --baseline``;
    ``.gates`` holds one ``RegressionGate`` per run (``.passed``, ``.failures``), with
    ``fail_on_shift`` / ``fail_on_ess_drop`` or the runs' ``checks: baseline_shift`` /
    ``ess_drop`` as limits."""
    import warnings

    from hmdiag.workflows.compare import compare_runs, load_runs
    from hmdiag.workflows.regression import gate_thresholds, regression_gate

    if baseline is not None:
        runs = (baseline, *runs)
        if labels is not None:
            labels = ["baseline", *labels]
    if len(runs) < 2:
        raise HmdiagError("compare needs at least two runs", "e.g. hmdiag.compare(run_a, run_b)")
    if labels is not None and len(labels) != len(runs):
        raise HmdiagError(f"{len(labels)} labels for {len(runs)} runs", "give one label per run")
    names, prob = _names(var_names), _hdi_prob(hdi_prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_runs(
            list(runs), labels=list(labels) if labels else None, var_names=names, hdi_prob=prob
        )
        comparison = compare_runs(loaded)
        if baseline is not None:
            gates = []
            for r in loaded[1:]:
                shift, drop = gate_thresholds(r.report, fail_on_shift, fail_on_ess_drop)
                gates.append(
                    regression_gate(
                        loaded[0].report, r.report, fail_on_shift=shift, fail_on_ess_drop=drop
                    )
                )
            comparison = replace(comparison, gates=gates)
    return replace(comparison, reports=[r.report for r in loaded])


def doctor(
    spec: str | Path,
    *,
    max_attempts: int = 5,
    runs_dir: str | Path | None = None,
    force: bool = False,
    backend: str | None = None,
) -> Any:
    """Fit, diagnose and repair, as ``hmdiag doctor`` does; returns the ``DoctorResult``
    (``.fixed`` is the passing attempt, with its spec, or None). ``runs_dir`` keeps each
    attempt's run (``force`` replaces earlier ones); the fixed spec is not written
    (``hmdiag.spec.written.fixed_spec_text`` gives its YAML)."""
    import warnings

    from hmdiag.runs.files import check_output_path
    from hmdiag.spec import load_spec, with_sampler_overrides
    from hmdiag.workflows import doctor as repairs

    if not 1 <= max_attempts <= 10:
        raise HmdiagError(f"max_attempts must be between 1 and 10, got {max_attempts}")
    from hmdiag.model.data import prepare_data

    loaded = with_sampler_overrides(load_spec(Path(spec)), backend=backend)
    name = loaded.spec.name
    paths = {
        k: Path(runs_dir) / f"{name}-attempt{k}.nc" if runs_dir is not None else None
        for k in range(1, max_attempts + 1)
    }
    # Everything that can be refused is refused before the first fit, as the CLI does.
    for target in paths.values():
        if target is not None:
            check_output_path(target, force=force, flag="runs_dir")
    prepare_data(loaded)

    step = repairs.fit_attempt(paths, force=force, keep_runs=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return repairs.run_doctor(loaded, step, max_attempts=max_attempts)
