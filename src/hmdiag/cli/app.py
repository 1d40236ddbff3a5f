"""The Typer application: global options, the error guard and report output, shared by commands."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from hmdiag._version import __version__
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
            _machine_error(exc, command.__name__, kwargs)
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


def _machine_error(exc: HmdiagError, command: str, kwargs: dict[str, Any]) -> None:
    """With --format json, junit or github (or --json), print the error in that format on
    stdout too: a CI job that saves the report gets a valid document, not an empty file."""
    from hmdiag.render import ci, json_out

    fmt = str(kwargs.get("fmt") or ("json" if kwargs.get("as_json") else ""))
    if fmt == "json":
        typer.echo(json_out.render_error(exc, command))
    elif fmt == "junit":
        typer.echo(ci.junit_error(exc.message, exc.hint, command))
    elif fmt == "github":
        typer.echo(ci.github_error(exc.message, exc.hint, command))


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence library warnings: hmdiag reports what matters itself."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def emit_report(
    report: Any,
    fmt: Any,
    *,
    show_all: bool = False,
    quiet: bool = False,
    annotate: str | None = None,
) -> int:
    """Print one run's report in ``fmt`` (``OutputFormat``); return its exit code.

    ``quiet`` turns the text tables into the verdict line; ``annotate`` is the file GitHub
    annotations point at (the spec of a fit).
    """
    emit_reports([report], fmt, show_all=show_all, quiet=quiet, annotate=annotate)
    return EXIT_OK if report.verdict.passed else EXIT_FAILED


def emit_reports(
    reports: list[Any],
    fmt: Any,
    *,
    show_all: bool = False,
    quiet: bool = False,
    annotate: str | None = None,
) -> None:
    """Print reports as ``fmt`` asks; text and quiet go through the terminal renderer."""
    from hmdiag.cli.options import OutputFormat
    from hmdiag.render import ci, json_out, markdown, terminal

    out = terminal.make_console()
    if fmt == OutputFormat.json:
        for report in reports:
            typer.echo(json_out.render_report(report))
    elif fmt == OutputFormat.markdown:
        typer.echo("\n".join(markdown.render_report(r, show_all=show_all) for r in reports))
    elif fmt == OutputFormat.junit:
        typer.echo(ci.junit_xml(reports))
    elif fmt == OutputFormat.github:
        for line in ci.github_annotations(reports, annotate):
            typer.echo(line)
        for report in reports:
            terminal.render_verdict_line(out, report)
        _write_step_summary("\n".join(markdown.render_report(r) for r in reports))
    elif quiet:
        for report in reports:
            terminal.render_verdict_line(out, report)
    else:
        for report in reports:
            terminal.render_report(out, report, show_all=show_all)


def _write_step_summary(text: str) -> None:
    """Append to GitHub's job summary file ($GITHUB_STEP_SUMMARY), when the job has one."""
    import os
    from pathlib import Path

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n\n")
    except OSError as exc:  # the summary is a courtesy: the gate is the exit code
        from hmdiag.render import terminal

        terminal.render_message(
            terminal.make_console(stderr=True),
            f"warning: cannot write the job summary to {target}: {exc.strerror or exc}",
            style="yellow",
        )
