"""One spec or one run: validate, fit, check and the prior predictive check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hmdiag.cli.app import EXIT_FAILED, EXIT_OK, app, emit_report, guarded, quiet_warnings
from hmdiag.cli.options import (
    AllOpt,
    BackendOpt,
    ConfigArg,
    FailOnMisfitOpt,
    FormatOpt,
    HdiOpt,
    JsonOpt,
    MarkdownOpt,
    MaxDepthOpt,
    MaxDivOpt,
    MaxRhatOpt,
    MinBfmiOpt,
    MinEssOpt,
    OutputFormat,
    QuietOpt,
    VarOpt,
    output_format,
    threshold_overrides,
    validated_hdi_prob,
)
from hmdiag.errors import HmdiagError


@app.command()
@guarded
def validate(
    configs: Annotated[
        list[Path], typer.Argument(help="YAML model specs (one or more).", metavar="CONFIG")
    ],
    quiet: QuietOpt = False,
) -> None:
    """Check specs and their data without sampling; print each model's structure.

    Exit 0 when every spec is valid, 2 when any is not (each message names the file, the key
    and what would be valid). Several files make it a pre-commit hook.
    """
    from hmdiag.render import terminal

    console = terminal.make_console()
    errors = terminal.make_console(stderr=True)
    invalid = 0
    for config in configs:
        try:
            loaded, structure = _validated_structure(config)
        except HmdiagError as exc:
            if len(configs) == 1:
                raise
            invalid += 1
            terminal.render_error(errors, exc)
            continue
        if quiet:
            terminal.render_message(console, f"{config}: valid", style="green")
            continue
        terminal.render_structure(console, structure, loaded.data_path)
        if loaded.formula is not None:
            from hmdiag.spec import spec_to_yaml

            terminal.render_message(console, f"long form of formula: {loaded.formula}")
            terminal.render_message(console, spec_to_yaml(loaded.spec).rstrip("\n"))
    if invalid:
        raise typer.Exit(2)


def _validated_structure(config: Path) -> tuple[Any, Any]:
    """A loaded spec and its model structure as validate prints it."""
    from hmdiag.model.data import prepare_data
    from hmdiag.model.structure import describe
    from hmdiag.spec import load_spec

    loaded = load_spec(config)
    data = prepare_data(loaded)
    if loaded.spec.model is not None:
        from hmdiag.model.structure import describe_python
        from hmdiag.workflows.fit import cached_model

        with quiet_warnings():
            return loaded, describe_python(loaded.spec, data, cached_model(loaded, data))
    return loaded, describe(loaded.spec, data)


@app.command()
@guarded
def init(
    data: Annotated[Path, typer.Argument(help="The data file (CSV).", metavar="DATA")],
    formula: Annotated[
        str, typer.Option("--formula", "-f", help="lme4/brms formula, e.g. 'y ~ x + (1 | g)'.")
    ],
    family: Annotated[
        str | None,
        typer.Option(
            help="Likelihood (bernoulli, binomial, poisson, negative_binomial, "
            "gaussian/normal, student_t). [default: from the response's values]"
        ),
    ] = None,
    trials: Annotated[
        str | None, typer.Option(help="binomial: the column with each row's number of trials.")
    ] = None,
    success: Annotated[
        str | None,
        typer.Option(help="bernoulli: the response value that counts as a success (1)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The spec's name. [default: DATA's]")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write it. [default: NAME.yaml]")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a commented starter spec for DATA and a formula: its long form, priors scaled to
    the data, non-centered where groups have few rows per level.

    Exit 0 written (and valid), 2 on bad input or an existing file without --force.
    """
    import re

    from hmdiag.render import terminal
    from hmdiag.runs.files import check_output_path, write_atomically
    from hmdiag.spec import load_spec
    from hmdiag.spec.starter import starter_spec

    # A parameter name: letters, digits and _, not starting with a digit.
    stem = re.sub(r"\W+", "_", name or data.stem).strip("_") or "model"
    stem = f"model_{stem}" if stem[0].isdigit() else stem
    target = out or Path(f"{stem}.yaml")
    check_output_path(target, force=force)
    text = starter_spec(
        data, formula, family=family, name=stem, spec_path=target, trials=trials, success=success
    )

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        load_spec(tmp)  # validated beside the target (same relative data path) before it lands

    write_atomically(target, write, force=force, suffix=".yaml")
    console = terminal.make_console()
    if not quiet:
        terminal.render_message(console, text.rstrip("\n"))
    terminal.render_message(console, f"wrote {target}", style="green")


@app.command()
@guarded
def fit(
    config: ConfigArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to save the run. [default: runs/<name>.nc]"),
    ] = None,
    draws: Annotated[int | None, typer.Option(help="Draws per chain (overrides the spec).")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain.")] = None,
    chains: Annotated[int | None, typer.Option(help="Number of chains.")] = None,
    cores: Annotated[
        int | None, typer.Option(help="Chains run in parallel on this many cores.")
    ] = None,
    target_accept: Annotated[
        float | None, typer.Option("--target-accept", help="NUTS target acceptance, 0 < x < 1.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (stored in the run).")] = None,
    backend: BackendOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run file.")] = False,
    quiet: QuietOpt = False,
    ppc: Annotated[
        bool, typer.Option("--ppc", help="Also store the posterior predictive (plot --kind ppc).")
    ] = False,
    loglik: Annotated[
        bool,
        typer.Option(
            "--loglik",
            help="Store the pointwise log-likelihood (draws x observations). Without it the run "
            "keeps the per-draw total, and compare/report recompute it from the spec and data.",
        ),
    ] = False,
    derived: Annotated[
        bool | None,
        typer.Option(
            "--derived/--no-derived",
            help="Store every derived variable (non-centered group effects, correlations) or "
            "none. [default: those with at most 1000 values per draw]",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    show_all: AllOpt = False,
    var: VarOpt = None,
    max_rhat: MaxRhatOpt = None,
    min_ess: MinEssOpt = None,
    max_divergences: MaxDivOpt = None,
    max_treedepth_hits: MaxDepthOpt = None,
    min_bfmi: MinBfmiOpt = None,
    fail_on_misfit: FailOnMisfitOpt = None,
) -> None:
    """Sample a spec with NUTS, save the run (NetCDF) and diagnose it.

    Exit 0 healthy, 1 sampled but a check failed, 2 bad input.
    """
    from hmdiag.diagnose.report import thresholds_from_checks
    from hmdiag.model.data import prepare_data, rows_read
    from hmdiag.render import terminal
    from hmdiag.runs.files import check_output_path
    from hmdiag.spec import load_spec, with_sampler_overrides

    output = output_format(fmt, as_json, as_markdown)
    loaded = with_sampler_overrides(
        load_spec(config),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        target_accept=target_accept,
        seed=seed,
        backend=backend,
    )
    spec = loaded.spec
    out_path = out or Path("runs") / f"{spec.name}.nc"
    check_output_path(out_path, force=force)
    thresholds = thresholds_from_checks(spec.checks).with_overrides(
        **threshold_overrides(
            max_rhat, min_ess, max_divergences, max_treedepth_hits, min_bfmi, fail_on_misfit
        )
    )
    from hmdiag.sampling.timing import PhaseTimes

    timer = PhaseTimes()
    with timer.phase("build"):
        data = prepare_data(loaded)
    machine_output = output != OutputFormat.text
    console = terminal.make_console(stderr=machine_output)
    if not quiet:
        terminal.render_message(
            console,
            f"fitting {spec.name}: {rows_read(data)}; {spec.sampler.chains} chains x {spec.sampler.draws} draws ({spec.sampler.backend})",
        )

    from hmdiag.diagnose.report import assess
    from hmdiag.runs import save_run
    from hmdiag.sampling.settings import Storage, import_backend
    from hmdiag.workflows.fit import fit as run_fit

    with quiet_warnings():
        with timer.phase("import"):
            import_backend(spec.sampler.backend)
        result = run_fit(
            loaded,
            data=data,
            progress=not quiet and not machine_output and sys.stderr.isatty(),
            ppc=ppc,
            storage=Storage(pointwise_loglik=loglik, derived=derived),
            timer=timer,
        )
        with timer.phase("save"):
            save_run(result.idata, out_path, force=force)
        with timer.phase("diagnose"):
            report = assess(
                result.idata,
                result.info,
                thresholds,
                source=str(out_path),
                var_names=var,
                hdi_prob=spec.checks.hdi_prob,
            )
    report = report.with_timing(timer.ordered())
    if quiet and not machine_output:
        d = report.diagnosis
        terminal.render_message(
            console,
            f"{spec.name}: {report.verdict.label.upper()} ({d.divergences_total} divergences, saved {out_path})",
            style="green" if report.verdict.passed else "red",
        )
        raise typer.Exit(EXIT_OK if report.verdict.passed else EXIT_FAILED)
    if not quiet and not machine_output:
        terminal.render_message(
            console,
            f"saved {out_path} (seed {result.settings.seed}, {result.info.wall_seconds:.1f} s)",
        )
    raise typer.Exit(emit_report(report, output, show_all=show_all, annotate=str(config)))


@app.command()
@guarded
def check(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="A run: ArviZ NetCDF (hmdiag, PyMC, nutpie, NumPyro; ArviZ 0.x or 1.x), a zarr "
            "store, or CmdStan CSV files (output_*.csv, one per chain).",
            show_default=False,
            metavar="RUN",
        ),
    ],
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    quiet: QuietOpt = False,
    show_all: AllOpt = False,
    var: VarOpt = None,
    max_rhat: MaxRhatOpt = None,
    min_ess: MinEssOpt = None,
    max_divergences: MaxDivOpt = None,
    max_treedepth_hits: MaxDepthOpt = None,
    min_bfmi: MinBfmiOpt = None,
    fail_on_misfit: FailOnMisfitOpt = None,
    hdi_prob: HdiOpt = None,
) -> None:
    """Diagnose a saved run against the thresholds.

    Exit 0 all checks pass, 1 a check failed, 2 unreadable input.
    """
    from hmdiag.diagnose.report import assess_loaded
    from hmdiag.runs import load_cmdstan_csv, load_run, read_info, run_label

    output = output_format(fmt, as_json, as_markdown)
    if len(runs) > 1 and not all(r.suffix.lower() == ".csv" for r in runs):
        raise HmdiagError(
            f"check takes one run, got {len(runs)}: {', '.join(map(str, runs[:3]))}",
            "several files are read as one run only when they are CmdStan CSV chains; "
            "to put runs side by side: hmdiag compare A.nc B.nc",
        )
    run = runs[0]
    overrides = threshold_overrides(
        max_rhat, min_ess, max_divergences, max_treedepth_hits, min_bfmi, fail_on_misfit
    )
    prob = validated_hdi_prob(hdi_prob)
    with quiet_warnings():
        idata = load_run(run) if len(runs) == 1 else load_cmdstan_csv(runs)
        info = read_info(idata, run_label(run))
        from hmdiag.workflows.fit import model_fit_for_run

        report = assess_loaded(
            idata,
            info,
            source=str(run),
            overrides=overrides,
            var_names=var,
            hdi_prob=prob,
            model_fit=model_fit_for_run(idata, info),
        )
    raise typer.Exit(emit_report(report, output, show_all=show_all, quiet=quiet))


@app.command()
@guarded
def prior(
    config: ConfigArg,
    draws: Annotated[
        int, typer.Option("--draws", help="Prior predictive datasets to simulate.")
    ] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Prior predictive check: simulate data from the priors and compare with the observed response.

    Exit 0 (warnings are printed, not failed), 2 on bad input.
    """
    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data
    from hmdiag.render import prior_out, terminal
    from hmdiag.spec import load_spec
    from hmdiag.workflows.prior_check import check_prior, simulate_prior

    if not 10 <= draws <= 100_000:
        raise HmdiagError(f"--draws must be between 10 and 100000, got {draws}")
    loaded = load_spec(config)
    if loaded.spec.model is not None:
        raise HmdiagError(
            f"{config}: hmdiag prior needs a model in the spec language, not model.python"
        )
    data = prepare_data(loaded)
    with quiet_warnings():
        built = build_model(loaded.spec, data)  # not the fit cache: prior sampling alters a model
        result = check_prior(
            loaded.spec, data, simulate_prior(built, loaded.spec.response, draws, seed)
        )
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(prior_out.to_dict(result)))
    elif quiet:
        found = f"{len(result.warnings)} warning(s)" if result.warnings else "no warnings"
        terminal.render_message(
            terminal.make_console(),
            f"{loaded.spec.name}: prior predictive, {found}",
            style="yellow" if result.warnings else "green",
        )
    else:
        prior_out.render(terminal.make_console(), result, loaded.spec.name)
