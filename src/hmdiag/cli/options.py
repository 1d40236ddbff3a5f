"""Options shared by several commands, defined once, and the validation of threshold flags."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hmdiag.errors import HmdiagError

# Options shared by fit and check, defined once.
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="Only these variables (repeatable).")
]
BackendOpt = Annotated[
    str | None,
    typer.Option(help="Sampler backend: nutpie, pymc, numpyro or blackjax (overrides the spec)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (schema_version 1): same as --format json.")
]
MarkdownOpt = Annotated[
    bool, typer.Option("--markdown", help="Print Markdown: same as --format markdown.")
]


class OutputFormat(StrEnum):
    """What a judging command prints on stdout."""

    text = "text"
    json = "json"
    markdown = "markdown"
    github = "github"
    junit = "junit"


FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        help="text (tables), json (schema_version 1), markdown, github (workflow annotations; "
        "the Markdown summary goes to $GITHUB_STEP_SUMMARY when set) or junit (JUnit XML, a "
        "test case per check). [default: text]",
        show_default=False,
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print the verdict only (machine formats print their document)."
    ),
]


def output_format(
    fmt: OutputFormat | None, as_json: bool = False, as_markdown: bool = False
) -> OutputFormat:
    """The one output format the flags ask for; exit 2 when they ask for two."""
    asked = {
        f for f, on in ((OutputFormat.json, as_json), (OutputFormat.markdown, as_markdown)) if on
    }
    if fmt is not None:
        asked.add(fmt)
    if len(asked) > 1:
        names = ", ".join(sorted(str(f) for f in asked))
        raise HmdiagError(
            f"choose one output format, not {names}",
            "--json is --format json and --markdown is --format markdown",
        )
    return asked.pop() if asked else OutputFormat.text


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
FailOnMisfitOpt = Annotated[
    bool | None,
    typer.Option(
        "--fail-on-misfit/--warn-on-misfit",
        help="A model that does not fit the data (Pareto k, posterior predictive p-values) "
        "fails the model_fit check instead of warning. [default: the spec's "
        "checks.fail_on_misfit, else warn]",
        show_default=False,
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Workers of the local Dask cluster.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://HOST:PORT)."),
]
ConfigArg = Annotated[Path, typer.Argument(help="YAML model spec.")]
RunsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Runs: ArviZ NetCDF files, zarr stores, or CmdStan CSV chains (a quoted glob such "
        "as 'fit/output_*.csv', or their folder).",
        metavar="RUN",
    ),
]
HdiOpt = Annotated[
    float | None, typer.Option("--hdi-prob", help="HDI probability. [default: 0.89]")
]


def threshold_overrides(
    max_rhat: float | None,
    min_ess: float | None,
    max_div: int | None,
    max_depth: int | None,
    min_bfmi: float | None,
    fail_on_misfit: bool | None = None,
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
        "fail_on_misfit": fail_on_misfit,
    }


def validated_hdi_prob(value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 < value < 1:  # also rejects NaN
        raise HmdiagError(f"--hdi-prob must be between 0 and 1, got {value}")
    return value
