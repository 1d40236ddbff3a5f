"""The ``hmdiag`` command line: thin Typer commands that read like recipes.

Exit codes: 0 healthy, 1 sampled/checked but a threshold failed, 2 bad input
(spec, data, run file or flag), 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from hmdiag import __version__
from hmdiag.errors import HmdiagError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES_HELP = (
    "Exit codes: 0 all checks pass; 1 sampled/checked but a check failed; "
    "2 bad input (spec, data, run file or flag); 3 internal error; 130 interrupted."
)

app = typer.Typer(
    name="hmdiag",
    help="Make hierarchical Bayesian models fail loudly and get fixed quickly.\n\n"
    + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hmdiag {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Make hierarchical Bayesian models fail loudly and get fixed quickly."""
    _state["debug"] = debug


def guarded[F: Callable[..., Any]](command: F) -> F:
    """Turn domain errors into exit 2, interrupts into 130, surprises into 3 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hmdiag.render import terminal

        err = terminal.make_console(stderr=True)
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except HmdiagError as exc:
            if _state["debug"]:
                raise
            terminal.render_error(err, exc)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            terminal.render_message(err, "interrupted: nothing was written", style="yellow")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            terminal.render_internal_error(err, exc)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# Options shared by fit and check, defined once.
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="Only these variables (repeatable).")
]
BackendOpt = Annotated[
    str | None,
    typer.Option(help="Sampler backend: nutpie, pymc, numpyro or blackjax (overrides the spec)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (schema_version 1) instead of tables.")
]
MarkdownOpt = Annotated[
    bool, typer.Option("--markdown", help="Print Markdown (for CI job summaries).")
]
AllOpt = Annotated[bool, typer.Option("--all", help="Show every element of large vectors.")]
MaxRhatOpt = Annotated[
    float | None, typer.Option("--max-rhat", help="Fail when r_hat exceeds this. [default: 1.01]")
]
MinEssOpt = Annotated[
    float | None,
    typer.Option("--min-ess", help="Minimum bulk and tail ESS per chain. [default: 100]"),
]
MaxDivOpt = Annotated[
    int | None, typer.Option("--max-divergences", help="Allowed divergences. [default: 0]")
]
MaxDepthOpt = Annotated[
    int | None,
    typer.Option("--max-treedepth-hits", help="Allowed max-tree-depth hits. [default: 0]"),
]
MinBfmiOpt = Annotated[
    float | None, typer.Option("--min-bfmi", help="Minimum E-BFMI per chain. [default: 0.3]")
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Workers of the local Dask cluster.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://HOST:PORT)."),
]
HdiOpt = Annotated[
    float | None, typer.Option("--hdi-prob", help="HDI probability. [default: 0.89]")
]


def _emit(report: Any, *, as_json: bool, as_markdown: bool, show_all: bool) -> int:
    from hmdiag.render import json_out, markdown, terminal

    out = terminal.make_console()
    if as_json:
        typer.echo(json_out.render_report(report))
    elif as_markdown:
        typer.echo(markdown.render_report(report, show_all=show_all))
    else:
        terminal.render_report(out, report, show_all=show_all)
    return EXIT_OK if report.verdict.passed else EXIT_FAILED


def _overrides(
    max_rhat: float | None,
    min_ess: float | None,
    max_div: int | None,
    max_depth: int | None,
    min_bfmi: float | None,
) -> dict[str, Any]:
    """Validated threshold flags as overrides (``None`` = keep the spec's or default)."""
    for flag, value in (("--max-rhat", max_rhat), ("--min-ess", min_ess), ("--min-bfmi", min_bfmi)):
        if value is not None and not math.isfinite(value):
            raise HmdiagError(f"{flag} must be a finite number, got {value}")
    if max_rhat is not None and max_rhat <= 1.0:
        raise HmdiagError(f"--max-rhat must be greater than 1, got {max_rhat}")
    for flag, value in (
        ("--min-ess", min_ess),
        ("--max-divergences", max_div),
        ("--max-treedepth-hits", max_depth),
        ("--min-bfmi", min_bfmi),
    ):
        if value is not None and value < 0:
            raise HmdiagError(f"{flag} must be >= 0, got {value}")
    return {
        "max_rhat": max_rhat,
        "min_ess_per_chain": min_ess,
        "max_divergences": max_div,
        "max_treedepth_hits": max_depth,
        "min_bfmi": min_bfmi,
    }


def _hdi(value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 < value < 1:  # also rejects NaN
        raise HmdiagError(f"--hdi-prob must be between 0 and 1, got {value}")
    return value


@app.command()
@guarded
def validate(
    config: Annotated[Path, typer.Argument(help="YAML model spec.")],
) -> None:
    """Check a spec and its data without sampling; print the model structure."""
    from hmdiag.data import prepare_data
    from hmdiag.render import terminal
    from hmdiag.spec import load_spec
    from hmdiag.structure import describe

    loaded = load_spec(config)
    data = prepare_data(loaded)
    if loaded.spec.model is not None:
        from hmdiag.pipeline import cached_model
        from hmdiag.structure import describe_python

        with _quiet_warnings():
            structure = describe_python(loaded.spec, data, cached_model(loaded, data))
    else:
        structure = describe(loaded.spec, data)
    terminal.render_structure(terminal.make_console(), structure, loaded.data_path)


@app.command()
@guarded
def fit(
    config: Annotated[Path, typer.Argument(help="YAML model spec.")],
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress and no tables; just the verdict.")
    ] = False,
    ppc: Annotated[
        bool, typer.Option("--ppc", help="Also store the posterior predictive (plot --kind ppc).")
    ] = False,
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    show_all: AllOpt = False,
    var: VarOpt = None,
    max_rhat: MaxRhatOpt = None,
    min_ess: MinEssOpt = None,
    max_divergences: MaxDivOpt = None,
    max_treedepth_hits: MaxDepthOpt = None,
    min_bfmi: MinBfmiOpt = None,
) -> None:
    """Sample a spec with NUTS, save the run (NetCDF) and diagnose it.

    Exit 0 healthy, 1 sampled but a check failed, 2 bad input.
    """
    from hmdiag.data import prepare_data
    from hmdiag.render import terminal
    from hmdiag.report import thresholds_from_checks
    from hmdiag.runs import check_output_path
    from hmdiag.spec import load_spec, with_sampler_overrides

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
        **_overrides(max_rhat, min_ess, max_divergences, max_treedepth_hits, min_bfmi)
    )
    from hmdiag.timing import PhaseTimes

    timer = PhaseTimes()
    with timer.phase("build"):
        data = prepare_data(loaded)
    machine_output = as_json or as_markdown
    console = terminal.make_console(stderr=machine_output)
    if not quiet:
        terminal.render_message(
            console,
            f"fitting {spec.name}: {data.n_rows} rows, {spec.sampler.chains} chains x {spec.sampler.draws} draws ({spec.sampler.backend})",
        )

    from hmdiag.pipeline import fit as run_fit
    from hmdiag.report import assess
    from hmdiag.runs import save_run
    from hmdiag.sampling import import_backend

    with _quiet_warnings():
        with timer.phase("import"):
            import_backend(spec.sampler.backend)
        result = run_fit(
            loaded,
            data=data,
            progress=not quiet and not machine_output and sys.stderr.isatty(),
            ppc=ppc,
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
    if quiet:
        d = report.diagnosis
        terminal.render_message(
            console,
            f"{spec.name}: {report.verdict.label.upper()} ({d.divergences_total} divergences, saved {out_path})",
            style="green" if report.verdict.passed else "red",
        )
        raise typer.Exit(EXIT_OK if report.verdict.passed else EXIT_FAILED)
    if not machine_output:
        terminal.render_message(
            console,
            f"saved {out_path} (seed {result.settings.seed}, {result.info.wall_seconds:.1f} s)",
        )
    raise typer.Exit(_emit(report, as_json=as_json, as_markdown=as_markdown, show_all=show_all))


@app.command()
@guarded
def check(
    run: Annotated[
        Path,
        typer.Argument(
            help="InferenceData NetCDF (hmdiag, PyMC, nutpie, NumPyro, Stan via ArviZ)."
        ),
    ],
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    show_all: AllOpt = False,
    var: VarOpt = None,
    max_rhat: MaxRhatOpt = None,
    min_ess: MinEssOpt = None,
    max_divergences: MaxDivOpt = None,
    max_treedepth_hits: MaxDepthOpt = None,
    min_bfmi: MinBfmiOpt = None,
    hdi_prob: HdiOpt = None,
) -> None:
    """Diagnose a saved run against the thresholds.

    Exit 0 all checks pass, 1 a check failed, 2 unreadable input.
    """
    from hmdiag.report import assess_loaded
    from hmdiag.runs import load_run, read_info

    overrides = _overrides(max_rhat, min_ess, max_divergences, max_treedepth_hits, min_bfmi)
    prob = _hdi(hdi_prob)
    with _quiet_warnings():
        idata = load_run(run)
        info = read_info(idata, run.stem)
        report = assess_loaded(
            idata, info, source=str(run), overrides=overrides, var_names=var, hdi_prob=prob
        )
    raise typer.Exit(_emit(report, as_json=as_json, as_markdown=as_markdown, show_all=show_all))


RunsArg = Annotated[list[Path], typer.Argument(help="InferenceData NetCDF runs.")]


@app.command()
@guarded
def compare(
    runs: RunsArg,
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    var: VarOpt = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write the grouped ESS bar chart (PNG) here.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
    hdi_prob: HdiOpt = None,
) -> None:
    """Put runs side by side: verdicts, ESS/s, shared parameters, PSIS-LOO.

    Exit 0 when every run passes its checks, 1 when any fails, 2 on unreadable input.
    """
    from hmdiag.compare import compare_runs, load_runs
    from hmdiag.render import compare_out, terminal

    if len(runs) < 2:
        raise HmdiagError(
            "compare needs at least two runs", "e.g. hmdiag compare runs/mme0.nc runs/mme4.nc"
        )
    if plot is not None:
        from hmdiag.runs import check_output_path

        check_output_path(plot, force=force, flag="--plot")
    with _quiet_warnings():
        loaded = load_runs(runs, var_names=var, hdi_prob=_hdi(hdi_prob))
        comparison = compare_runs(loaded)
        if plot is not None:
            from hmdiag import plots

            figure = plots.draw("ess", [plots.plot_run(r) for r in loaded], var)
            plots.save_figure(figure, plot, force=force, flag="--plot")
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(compare_out.comparison_to_dict(comparison)))
    elif as_markdown:
        typer.echo(compare_out.render_markdown(comparison))
    else:
        console = terminal.make_console()
        compare_out.render_terminal(console, comparison)
        if plot is not None:
            terminal.render_message(console, f"wrote {plot}")
    raise typer.Exit(EXIT_OK if all(r.verdict == "pass" for r in comparison.runs) else EXIT_FAILED)


@app.command()
@guarded
def plot(
    runs: RunsArg,
    kind: Annotated[
        list[str],
        typer.Option(
            "--kind",
            "-k",
            help="trace, rank, pair, forest, energy, ess, autocorr or all (repeatable).",
        ),
    ] = ["all"],  # noqa: B006 - Typer needs a literal default
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNG files.")] = Path(
        "plots"
    ),
    var: VarOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing PNG files.")] = False,
) -> None:
    """Write diagnostic plots (PNG) for one or more runs.

    Per-run kinds write OUT/<run>-<kind>.png; forest and ess overlay all runs.
    """
    from hmdiag import plots
    from hmdiag.compare import load_runs
    from hmdiag.render import terminal
    from hmdiag.runs import has_group

    kinds = list(plots.KINDS) if "all" in kind else kind
    unknown = [k for k in kinds if k not in plots.KINDS]
    if unknown:
        raise HmdiagError(
            f"--kind {unknown[0]!r} is not a plot kind",
            f"choose from: {', '.join((*plots.KINDS, 'all'))}",
        )
    if out.exists() and not out.is_dir():
        raise HmdiagError(f"{out}: is a file; --out needs a folder")
    with _quiet_warnings():
        loaded = load_runs(runs, var_names=None)
        if "all" in kind and not all(has_group(r.idata, "posterior_predictive") for r in loaded):
            kinds.remove("ppc")  # `all` draws what the runs hold; fit with --ppc for the check
        written = plots.write_plots(
            [plots.plot_run(r) for r in loaded], kinds, out, var_names=var, force=force
        )
    console = terminal.make_console()
    for path in written:
        terminal.render_message(console, f"wrote {path}")


@app.command()
@guarded
def report(
    runs: RunsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    var: VarOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing report.")] = False,
    hdi_prob: HdiOpt = None,
) -> None:
    """Write one self-contained HTML report (verdicts, checks, advice, tables, plots).

    Exit 0 when every run passes, 1 when any fails, 2 on bad input.
    """
    from hmdiag import plots
    from hmdiag.compare import compare_runs, load_runs
    from hmdiag.render import html, terminal
    from hmdiag.runs import check_output_path, write_atomically

    check_output_path(out, force=force)
    with _quiet_warnings():
        loaded = load_runs(runs, var_names=var, hdi_prob=_hdi(hdi_prob))
        plot_runs = [plots.plot_run(r) for r in loaded]
        run_images = []
        for run in plot_runs:
            images = []
            for kind in ("rank", "pair", "trace", "energy"):
                try:
                    images.append(
                        (f"{run.label}: {kind}", plots.figure_png(plots.draw(kind, [run], var)))
                    )
                except HmdiagError:
                    continue  # e.g. no energy stat: leave that figure out
            run_images.append(images)
        comparison = compare_runs(loaded) if len(loaded) > 1 else None
        cross = (
            []
            if comparison is None
            else [
                (f"{k} across runs", plots.figure_png(plots.draw(k, plot_runs, var)))
                for k in ("forest", "ess")
            ]
        )
        document = html.render_report([r.report for r in loaded], run_images, comparison, cross)
    write_atomically(
        out, lambda tmp: tmp.write_text(document, encoding="utf-8"), force=force, suffix=".html"
    )
    terminal.render_message(terminal.make_console(), f"wrote {out} ({len(document) // 1024} KiB)")
    raise typer.Exit(EXIT_OK if all(r.report.verdict.passed for r in loaded) else EXIT_FAILED)


@app.command()
@guarded
def doctor(
    config: Annotated[Path, typer.Argument(help="YAML model spec.")],
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", help="Fits to try, the input included.")
    ] = 3,
    out_config: Annotated[
        Path | None,
        typer.Option(
            "--out-config",
            help="Where to write the passing spec. [default: <name>.fixed.yaml beside CONFIG]",
        ),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Folder for each attempt's run.")
    ] = Path("runs/doctor"),
    backend: BackendOpt = None,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing attempt runs and fixed spec.")
    ] = False,
) -> None:
    """Fit, diagnose, and repair: apply the remedy the evidence supports until checks pass.

    Exit 0 when a passing spec was found, 1 when attempts ran out, 2 on bad input.
    """
    from hmdiag import doctor as doc
    from hmdiag.pipeline import fit as run_fit
    from hmdiag.render import doctor_out, terminal
    from hmdiag.report import assess, thresholds_from_checks
    from hmdiag.runs import check_output_path, save_run, write_atomically
    from hmdiag.spec import load_spec, with_sampler_overrides

    if not 1 <= max_attempts <= 10:
        raise HmdiagError(f"--max-attempts must be between 1 and 10, got {max_attempts}")
    loaded = with_sampler_overrides(load_spec(config), backend=backend)
    name = loaded.spec.name
    fixed_path = out_config or config.with_name(f"{name}.fixed.yaml")
    if fixed_path.resolve() == config.resolve():
        raise HmdiagError(
            f"{fixed_path}: --out-config would overwrite the input spec", "choose another file"
        )
    check_output_path(fixed_path, force=force, flag="--out-config")
    run_paths = {k: runs_dir / f"{name}-attempt{k}.nc" for k in range(1, max_attempts + 1)}
    for path in run_paths.values():
        check_output_path(path, force=force, flag="--runs-dir")
    from hmdiag.data import prepare_data

    prepare_data(loaded)  # bad data fails here, before any sampling
    console = terminal.make_console(stderr=as_json)

    def fit_step(current: Any, number: int) -> Any:
        result = run_fit(current)
        save_run(result.idata, run_paths[number], force=force)
        thresholds = thresholds_from_checks(current.spec.checks)
        report = assess(
            result.idata,
            result.info,
            thresholds,
            source=str(run_paths[number]),
            hdi_prob=current.spec.checks.hdi_prob,
        )
        return report, run_paths[number]

    with _quiet_warnings():
        result = doc.run_doctor(
            loaded,
            fit_step,
            max_attempts=max_attempts,
            on_attempt=lambda attempt: doctor_out.render_attempt_line(console, attempt),
        )
    diff = None
    if result.fixed is not None and result.fixed.number > 1:
        changes = [a.change for a in result.attempts[1 : result.fixed.number]]
        text = doc.fixed_spec_text(loaded, result.fixed.spec, fixed_path, changes)
        write_atomically(
            fixed_path,
            lambda tmp: tmp.write_text(text, encoding="utf-8"),
            force=force,
            suffix=".yaml",
        )
        diff = doc.spec_diff(loaded.spec, result.fixed.spec, str(config), str(fixed_path))
    written = fixed_path if diff is not None else None
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(doctor_out.result_to_dict(result, written, diff)))
    else:
        doctor_out.render_terminal(console, result, written, diff)
    raise typer.Exit(EXIT_OK if result.fixed is not None else EXIT_FAILED)


@app.command()
@guarded
def sweep(
    configs: Annotated[list[Path], typer.Argument(help="YAML model specs.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=V1,V2,... over dotted spec keys, e.g. sampler.target_accept=0.8,0.9 (repeatable).",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds per variant (seed, seed+1, ...).")
    ] = 1,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the runs and manifest.json.")
    ] = Path("runs/sweep"),
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write divergences and ESS/s against the swept settings (PNG)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
) -> None:
    """Fit a grid of spec variants as tasks on Dask distributed; a re-run skips finished runs.

    Exit 0 when every variant ran and passed, 1 when any failed its checks or errored, 2 on bad input.
    """
    from hmdiag import sweep as sw
    from hmdiag.render import sweep_out, terminal

    if out.exists() and not out.is_dir():
        raise HmdiagError(f"{out}: is a file; --out needs a folder")
    if plot is not None:
        from hmdiag.runs import check_output_path

        check_output_path(plot, force=force, flag="--plot")
    variants = sw.expand(configs, set_ or [], seeds)  # every variant validated before anything runs
    keys = list(dict.fromkeys(k for v in variants for k in v.settings))
    out.mkdir(parents=True, exist_ok=True)
    manifest = sw.read_manifest(out)
    todo = [v for v in variants if not sw.finished(manifest, v, out)]
    console = terminal.make_console(stderr=True)
    if todo:
        from hmdiag.cluster import dask_client

        with dask_client(workers, scheduler) as client:
            from dask.distributed import as_completed

            futures = {
                client.submit(sw.run_variant, v, str(out.resolve()), pure=False): v for v in todo
            }
            with sweep_out.progress(console, len(todo), enabled=not as_json) as advance:
                for future in as_completed(futures):
                    variant = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # a lost worker or a task that could not run
                        outcome = sw.Outcome(
                            variant.id,
                            variant.config,
                            variant.settings,
                            "failed",
                            error=f"{type(exc).__name__}: {exc}",
                        )
                    entry = sw.outcome_dict(outcome)
                    manifest["variants"][variant.id] = entry
                    sw.write_manifest(out, manifest)
                    advance(entry)
    entries = [manifest["variants"][v.id] for v in variants]
    if plot is not None:
        from hmdiag import plots

        with _quiet_warnings():
            plots.save_figure(plots.plot_sweep(entries, keys), plot, force=force, flag="--plot")
    skipped = len(variants) - len(todo)
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(sweep_out.to_dict(entries, keys, skipped)))
    else:
        sweep_out.render_table(terminal.make_console(), entries, keys, skipped)
    healthy = all(e["status"] == "done" and e["summary"]["verdict"] == "pass" for e in entries)
    raise typer.Exit(EXIT_OK if healthy else EXIT_FAILED)


@app.command()
@guarded
def sbc(
    config: Annotated[Path, typer.Argument(help="YAML model spec to calibrate.")],
    sims: Annotated[int, typer.Option("--sims", help="Number of simulations.")] = 100,
    simulate_with: Annotated[
        Path | None,
        typer.Option(
            "--simulate-with",
            help="Draw the data from this spec's priors instead (same data and design).",
        ),
    ] = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the first simulation (then seed+1, ...).")
    ] = 0,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write rank histograms (PNG).")
    ] = None,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
) -> None:
    """Simulation-based calibration: prior draw -> simulated data -> fit -> rank of the truth.

    Exit 0 when every parameter's ranks look uniform, 1 when any is miscalibrated, 2 on bad input.
    """
    from hmdiag import sbc as sbc_core
    from hmdiag.cluster import dask_client
    from hmdiag.data import prepare_data
    from hmdiag.render import sbc_out, terminal
    from hmdiag.spec import load_spec

    if not 10 <= sims <= 100_000:
        raise HmdiagError(f"--sims must be between 10 and 100000, got {sims}")
    if plot is not None:
        from hmdiag.runs import check_output_path

        check_output_path(plot, force=force, flag="--plot")
    fit_spec = load_spec(config)
    sim_spec = load_spec(simulate_with) if simulate_with else fit_spec
    if fit_spec.spec.model is not None or sim_spec.spec.model is not None:
        raise HmdiagError("hmdiag sbc needs models in the spec language, not model.python")
    fit_rows, sim_rows = prepare_data(fit_spec).n_rows, prepare_data(sim_spec).n_rows
    if fit_rows != sim_rows:
        raise HmdiagError(
            f"{simulate_with}: simulates {sim_rows} rows but {config} fits {fit_rows}",
            "both specs need the same data and filter",
        )
    console = terminal.make_console(stderr=True)
    results = []
    with _quiet_warnings(), dask_client(workers, scheduler) as client:
        from dask.distributed import as_completed

        futures = [
            client.submit(sbc_core.simulate_and_fit, fit_spec, sim_spec, i, seed + i, pure=False)
            for i in range(sims)
        ]
        with sbc_out.progress(console, sims, enabled=not as_json) as advance:
            for future in as_completed(futures):
                results.append(future.result())
                advance()
    results.sort(key=lambda r: r.index)
    outcome = sbc_core.calibration(results)
    if plot is not None:
        from hmdiag import plots

        with _quiet_warnings():
            plots.save_figure(plots.plot_sbc(outcome), plot, force=force, flag="--plot")
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(sbc_out.to_dict(outcome)))
    else:
        sbc_out.render(terminal.make_console(), outcome)
    raise typer.Exit(EXIT_OK if outcome.passed else EXIT_FAILED)


@app.command()
@guarded
def prior(
    config: Annotated[Path, typer.Argument(help="YAML model spec.")],
    draws: Annotated[
        int, typer.Option("--draws", help="Prior predictive datasets to simulate.")
    ] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Prior predictive check: simulate data from the priors and compare with the observed response.

    Exit 0 (warnings are printed, not failed), 2 on bad input.
    """
    from hmdiag.data import prepare_data
    from hmdiag.model import build_model
    from hmdiag.prior import check_prior, simulate_prior
    from hmdiag.render import prior_out, terminal
    from hmdiag.spec import load_spec

    if not 10 <= draws <= 100_000:
        raise HmdiagError(f"--draws must be between 10 and 100000, got {draws}")
    loaded = load_spec(config)
    if loaded.spec.model is not None:
        raise HmdiagError(
            f"{config}: hmdiag prior needs a model in the spec language, not model.python"
        )
    data = prepare_data(loaded)
    with _quiet_warnings():
        built = build_model(loaded.spec, data)  # not the fit cache: prior sampling alters a model
        result = check_prior(
            loaded.spec, data, simulate_prior(built, loaded.spec.response, draws, seed)
        )
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(prior_out.to_dict(result)))
    else:
        prior_out.render(terminal.make_console(), result, loaded.spec.name)


def main() -> None:
    """Console-script entry point."""
    app()
