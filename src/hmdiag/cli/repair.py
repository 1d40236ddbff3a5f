"""Specs changed and refitted: doctor, sweep and simulation-based calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmdiag.cli.app import EXIT_FAILED, EXIT_OK, app, guarded, quiet_warnings
from hmdiag.cli.options import (
    BackendOpt,
    ConfigArg,
    JsonOpt,
    QuietOpt,
    SchedulerOpt,
    WorkersOpt,
)
from hmdiag.errors import HmdiagError


@app.command()
@guarded
def doctor(
    config: ConfigArg,
    max_attempts: Annotated[
        int,
        typer.Option(
            "--max-attempts",
            help="Budget of fits, the input included; the doctor stops earlier when two "
            "attempts in a row do not improve on the best.",
        ),
    ] = 5,
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
    quiet: QuietOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing attempt runs and fixed spec.")
    ] = False,
) -> None:
    """Fit, diagnose, and repair: apply the remedy the evidence supports until checks pass.

    Exit 0 when a passing spec was found, 1 when attempts ran out, 2 on bad input.
    """
    from hmdiag.render import doctor_out, terminal
    from hmdiag.runs.files import check_output_path, write_atomically
    from hmdiag.spec import load_spec, with_sampler_overrides
    from hmdiag.spec.written import fixed_spec_text, spec_diff
    from hmdiag.workflows import doctor as doc

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
    from hmdiag.model.data import prepare_data

    prepare_data(loaded)  # bad data fails here, before any sampling
    console = terminal.make_console(stderr=as_json)

    with quiet_warnings():
        result = doc.run_doctor(
            loaded,
            doc.fit_attempt(dict(run_paths), force=force, keep_runs=False),
            max_attempts=max_attempts,
            on_attempt=lambda attempt: (
                None if quiet else doctor_out.render_attempt_line(console, attempt)
            ),
        )
    diff = None
    if result.fixed is not None and result.fixed.number > 1:
        changes = [a.change for a in result.attempts[1 : result.fixed.number]]
        text = fixed_spec_text(loaded, result.fixed.spec, fixed_path, changes)
        write_atomically(
            fixed_path,
            lambda tmp: tmp.write_text(text, encoding="utf-8"),
            force=force,
            suffix=".yaml",
        )
        diff = spec_diff(loaded.spec, result.fixed.spec, str(config), str(fixed_path))
    written = fixed_path if diff is not None else None
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(doctor_out.result_to_dict(result, written, diff)))
    elif quiet:
        attempts = len(result.attempts)
        terminal.render_message(
            terminal.make_console(),
            f"{name}: PASS at attempt {result.fixed.number}"
            + (f" (wrote {written})" if written else "")
            if result.fixed is not None
            else f"{name}: FAIL, no passing spec in {attempts} attempt(s)",
            style="green" if result.fixed is not None else "red",
        )
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
    quiet: QuietOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
) -> None:
    """Fit a grid of spec variants as tasks on Dask distributed; a re-run skips finished runs.

    Exit 0 when every variant ran and passed, 1 when any failed its checks or errored, 2 on bad input.
    """
    from hmdiag.render import sweep_out, terminal
    from hmdiag.workflows import sweep as sw

    if out.exists() and not out.is_dir():
        raise HmdiagError(f"{out}: is a file; --out needs a folder")
    if plot is not None:
        from hmdiag.runs.files import check_output_path

        check_output_path(plot, force=force, flag="--plot")
    variants = sw.expand(configs, set_ or [], seeds)  # every variant validated before anything runs
    keys = list(dict.fromkeys(k for v in variants for k in v.settings))
    out.mkdir(parents=True, exist_ok=True)
    manifest = sw.read_manifest(out)
    todo = [v for v in variants if not sw.finished(manifest, v, out)]
    console = terminal.make_console(stderr=True)
    if todo:
        from hmdiag.workflows.cluster import dask_client

        with dask_client(workers, scheduler) as client:
            from dask.distributed import as_completed

            futures = {
                client.submit(sw.run_variant, v, str(out.resolve()), pure=False): v for v in todo
            }
            with sweep_out.progress(
                console, len(todo), enabled=not as_json and not quiet
            ) as advance:
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
        from hmdiag.render import plot_kit, study_plots

        with quiet_warnings():
            plot_kit.save_figure(
                study_plots.plot_sweep(entries, keys), plot, force=force, flag="--plot"
            )
    skipped = len(variants) - len(todo)
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(sweep_out.to_dict(entries, keys, skipped)))
    healthy = all(e["status"] == "done" and e["summary"]["verdict"] == "pass" for e in entries)
    if quiet and not as_json:
        passed = sum(e["status"] == "done" and e["summary"]["verdict"] == "pass" for e in entries)
        terminal.render_message(
            terminal.make_console(),
            f"sweep: {'PASS' if healthy else 'FAIL'}, {passed} of {len(entries)} variants passed",
            style="green" if healthy else "red",
        )
    elif not as_json:
        sweep_out.render_table(terminal.make_console(), entries, keys, skipped)
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
    quiet: QuietOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
) -> None:
    """Simulation-based calibration: prior draw -> simulated data -> fit -> rank of the truth.

    Exit 0 when every parameter's ranks look uniform, 1 when any is miscalibrated, 2 on bad input.
    """
    from hmdiag.model.data import prepare_data
    from hmdiag.render import sbc_out, terminal
    from hmdiag.spec import load_spec
    from hmdiag.workflows import sbc as sbc_core
    from hmdiag.workflows.cluster import dask_client

    if not 10 <= sims <= 100_000:
        raise HmdiagError(f"--sims must be between 10 and 100000, got {sims}")
    if plot is not None:
        from hmdiag.runs.files import check_output_path

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
    with quiet_warnings(), dask_client(workers, scheduler) as client:
        from dask.distributed import as_completed

        task = sbc_core.simulation_task(fit_spec)
        futures = [
            client.submit(task, fit_spec, sim_spec, i, seed + i, pure=False) for i in range(sims)
        ]
        with sbc_out.progress(console, sims, enabled=not as_json and not quiet) as advance:
            for future in as_completed(futures):
                results.append(future.result())
                advance()
    results.sort(key=lambda r: r.index)
    outcome = sbc_core.calibration(results)
    if plot is not None:
        from hmdiag.render import plot_kit, study_plots

        with quiet_warnings():
            plot_kit.save_figure(study_plots.plot_sbc(outcome), plot, force=force, flag="--plot")
    if as_json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(sbc_out.to_dict(outcome)))
    elif quiet:
        bad = [p.parameter for p in outcome.parameters if not p.calibrated]
        terminal.render_message(
            terminal.make_console(),
            f"{config.stem}: sbc PASS"
            if outcome.passed
            else f"{config.stem}: sbc FAIL ({', '.join(bad) or 'no parameter could be ranked'})",
            style="green" if outcome.passed else "red",
        )
    else:
        sbc_out.render(terminal.make_console(), outcome)
    raise typer.Exit(EXIT_OK if outcome.passed else EXIT_FAILED)
