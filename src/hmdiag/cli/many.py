"""Several runs at once: compare, plot and report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from hmdiag.cli.app import EXIT_FAILED, EXIT_OK, app, emit_reports, guarded, quiet_warnings
from hmdiag.cli.options import (
    AllOpt,
    FormatOpt,
    HdiOpt,
    JsonOpt,
    MarkdownOpt,
    OutputFormat,
    QuietOpt,
    RunsArg,
    VarOpt,
    output_format,
    validated_hdi_prob,
)
from hmdiag.errors import HmdiagError


@app.command()
@guarded
def compare(
    runs: RunsArg,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    quiet: QuietOpt = False,
    show_all: AllOpt = False,
    var: VarOpt = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write the grouped ESS bar chart (PNG) here.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --plot file.")
    ] = False,
    hdi_prob: HdiOpt = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="<run>",
            help="A regression gate: judge every RUN against this run, parameter by parameter "
            "(shift of the mean in baseline sds, with its MCSE; sd ratio; ESS/s change).",
        ),
    ] = None,
    fail_on_shift: Annotated[
        float | None,
        typer.Option(
            "--fail-on-shift",
            metavar="<sds>",
            help="With --baseline: exit 1 when a posterior mean moves more than this many "
            "baseline sds beyond 1.96 MCSE (e.g. 0.5). [default: checks: baseline_shift]",
        ),
    ] = None,
    fail_on_ess_drop: Annotated[
        float | None,
        typer.Option(
            "--fail-on-ess-drop",
            metavar="<fraction>",
            help="With --baseline: exit 1 when a parameter's bulk ESS per second falls by this "
            "fraction (e.g. 0.3). [default: checks: ess_drop]",
        ),
    ] = None,
) -> None:
    """Put runs side by side: verdicts, ESS/s, shared parameters, PSIS-LOO.

    With --baseline BASE.nc, each RUN is also gated against BASE (see --fail-on-shift and
    --fail-on-ess-drop, or the spec's checks: baseline_shift / ess_drop).

    Exit 0 when every run passes its checks (and its gate), 1 when any fails, 2 on unreadable
    input.
    """
    from hmdiag.render import compare_out, gate_out, terminal
    from hmdiag.workflows.compare import compare_runs, load_runs
    from hmdiag.workflows.regression import regression_gate

    output = output_format(fmt, as_json, as_markdown)
    if baseline is None and (fail_on_shift is not None or fail_on_ess_drop is not None):
        raise HmdiagError(
            "--fail-on-shift and --fail-on-ess-drop need --baseline",
            "e.g. hmdiag compare --baseline base.nc run.nc --fail-on-shift 0.5",
        )
    if fail_on_shift is not None and not fail_on_shift > 0:
        raise HmdiagError(f"--fail-on-shift must be > 0 (baseline sds), got {fail_on_shift:g}")
    if fail_on_ess_drop is not None and not 0 < fail_on_ess_drop < 1:
        raise HmdiagError(
            f"--fail-on-ess-drop must be a fraction between 0 and 1, got {fail_on_ess_drop:g}",
            "e.g. 0.3 fails a parameter whose ESS/s fell by 30% or more",
        )
    if baseline is not None:
        runs = [baseline, *runs]
    if len(runs) < 2:
        raise HmdiagError(
            "compare needs at least two runs", "e.g. hmdiag compare runs/mme0.nc runs/mme4.nc"
        )
    if plot is not None:
        from hmdiag.runs.files import check_output_path

        check_output_path(plot, force=force, flag="--plot")
    with quiet_warnings():
        loaded = load_runs(runs, var_names=var, hdi_prob=validated_hdi_prob(hdi_prob))
        # --quiet and JUnit show per-run verdicts only: no PSIS-LOO to compute for them.
        verdicts_only = quiet or output == OutputFormat.junit
        comparison = compare_runs(loaded, loo=not verdicts_only)
        if baseline is not None:
            base = loaded[0].report
            gates = [
                regression_gate(
                    base, r.report, **_gate_limits(r.report, fail_on_shift, fail_on_ess_drop)
                )
                for r in loaded[1:]
            ]
            comparison = replace(comparison, gates=gates)
        if plot is not None:
            from hmdiag.render import plot_kit, plots

            figure = plots.draw("ess", [plots.plot_run(r) for r in loaded], var)
            plot_kit.save_figure(figure, plot, force=force, flag="--plot")
    if output == OutputFormat.json:
        from hmdiag.render.json_out import dumps

        typer.echo(dumps(compare_out.comparison_to_dict(comparison)))
    elif output == OutputFormat.markdown:
        typer.echo(compare_out.render_markdown(comparison, show_all=show_all))
        if comparison.gates:
            typer.echo(gate_out.render_gates_markdown(comparison.gates, show_all=show_all))
    elif output == OutputFormat.junit and comparison.gates:
        from hmdiag.render import ci

        suites = gate_out.junit_gate_suites(comparison.gates)
        typer.echo(ci.junit_xml([r.report for r in loaded], suites))
    elif output in (OutputFormat.github, OutputFormat.junit) or quiet:
        # Per-run verdicts: annotations, JUnit test cases or one line each; GitHub also gets
        # the ranking caveats as warnings.
        emit_reports([r.report for r in loaded], output, quiet=quiet)
        if output == OutputFormat.github:
            from hmdiag.render.ci import github_warnings

            for line in github_warnings(comparison.warnings + comparison.pareto_k_warnings):
                typer.echo(line)
            for line in gate_out.github_gate_annotations(comparison.gates):
                typer.echo(line)
        elif quiet:
            for gate in comparison.gates:
                verdict = "PASS" if gate.passed else f"FAIL ({len(gate.failures)} parameters)"
                typer.echo(f"baseline {gate.baseline} -> {gate.run}: {verdict}")
    else:
        console = terminal.make_console()
        compare_out.render_terminal(console, comparison, show_all=show_all)
        gate_out.render_gates_terminal(console, comparison.gates, show_all=show_all)
        if plot is not None:
            terminal.render_message(console, f"wrote {plot}")
    passed = all(r.verdict == "pass" for r in comparison.runs)
    passed = passed and all(g.passed for g in comparison.gates)
    raise typer.Exit(EXIT_OK if passed else EXIT_FAILED)


def _gate_limits(
    report: Any, fail_on_shift: float | None, fail_on_ess_drop: float | None
) -> dict[str, float | None]:
    from hmdiag.workflows.regression import gate_thresholds

    shift, drop = gate_thresholds(report, fail_on_shift, fail_on_ess_drop)
    return {"fail_on_shift": shift, "fail_on_ess_drop": drop}


@app.command()
@guarded
def plot(
    runs: RunsArg,
    kind: Annotated[
        list[str],
        typer.Option(
            "--kind",
            "-k",
            help="trace, rank, pair, energy, autocorr, ppc, forest, ess or all (repeatable).",
        ),
    ] = ["all"],  # noqa: B006 - Typer needs a literal default
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNG files.")] = Path(
        "plots"
    ),
    var: VarOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing PNG files.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing but errors (no verdict here).")
    ] = False,
) -> None:
    """Write diagnostic plots (PNG) for one or more runs.

    Per-run kinds write OUT/<run>-<kind>.png; forest and ess overlay all runs.
    """
    from hmdiag._datatree import has_group
    from hmdiag.render import plots, terminal
    from hmdiag.workflows.compare import load_runs

    kinds = list(plots.KINDS) if "all" in kind else kind
    unknown = [k for k in kinds if k not in plots.KINDS]
    if unknown:
        raise HmdiagError(
            f"--kind {unknown[0]!r} is not a plot kind",
            f"choose from: {', '.join((*plots.KINDS, 'all'))}",
        )
    if out.exists() and not out.is_dir():
        raise HmdiagError(f"{out}: is a file; --out needs a folder")
    with quiet_warnings():
        loaded = load_runs(runs, var_names=None)
        if "all" in kind and not all(has_group(r.idata, "posterior_predictive") for r in loaded):
            kinds.remove("ppc")  # `all` draws what the runs hold; fit with --ppc for the check
        written = plots.write_plots(
            [plots.plot_run(r) for r in loaded], kinds, out, var_names=var, force=force
        )
    console = terminal.make_console()
    for path in [] if quiet else written:
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
    quiet: QuietOpt = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            help="Linked Bokeh figures instead of PNGs: select draws in one pair panel to "
            "highlight them in the others and the trace; rank, trace, ESS and posterior "
            "predictive views. Still one self-contained file (BokehJS inlined).",
        ),
    ] = False,
) -> None:
    """Write one self-contained HTML report (verdicts, checks, advice, tables, plots).

    Exit 0 when every run passes, 1 when any fails, 2 on bad input.
    """
    from hmdiag.render import html, plot_kit, plots, terminal
    from hmdiag.runs.files import check_output_path, write_atomically
    from hmdiag.workflows.compare import compare_runs, load_runs

    check_output_path(out, force=force)
    with quiet_warnings():
        loaded = load_runs(runs, var_names=var, hdi_prob=validated_hdi_prob(hdi_prob))
        plot_runs = [plots.plot_run(r) for r in loaded]
        run_images: list[list[tuple[str, bytes]]] = []
        head, figures = "", None
        if interactive:
            from hmdiag.render.interactive import interactive_fragments

            spots = [[h.variable for h in r.report.diagnosis.hotspots] for r in loaded]
            head, figures = interactive_fragments(plot_runs, spots, var)
        for run in [] if interactive else plot_runs:
            images = []
            for kind in ("rank", "pair", "trace", "energy"):
                try:
                    images.append(
                        (f"{run.label}: {kind}", plot_kit.figure_png(plots.draw(kind, [run], var)))
                    )
                except HmdiagError:
                    continue  # e.g. no energy stat: leave that figure out
            run_images.append(images)
        if interactive:
            run_images = [[] for _ in plot_runs]
        comparison = compare_runs(loaded) if len(loaded) > 1 else None
        cross = (
            []
            if comparison is None or interactive
            else [
                (f"{k} across runs", plot_kit.figure_png(plots.draw(k, plot_runs, var)))
                for k in ("forest", "ess")
            ]
        )
        document = html.render_report(
            [r.report for r in loaded],
            run_images,
            comparison,
            cross,
            head=head,
            run_figures=figures,
        )
    write_atomically(
        out, lambda tmp: tmp.write_text(document, encoding="utf-8"), force=force, suffix=".html"
    )
    console = terminal.make_console()
    if quiet:
        for run in loaded:
            terminal.render_verdict_line(console, run.report)
    else:
        terminal.render_message(console, f"wrote {out} ({len(document) // 1024} KiB)")
    if comparison is not None:  # the ranking caveats are in the report; say them here too
        for warning in comparison.warnings:
            terminal.render_message(console, f"warning: {warning}", style="bold red")
        for warning in comparison.pareto_k_warnings:
            terminal.render_message(console, f"warning: {warning}", style="yellow")
    raise typer.Exit(EXIT_OK if all(r.report.verdict.passed for r in loaded) else EXIT_FAILED)
