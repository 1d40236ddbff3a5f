"""Renderers for ``hmdiag sweep``: a progress bar over tasks, the results table, JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hmdiag.diagnose.report import SCHEMA_VERSION
from hmdiag.render.text import fmt


@contextlib.contextmanager
def progress(
    console: Console, total: int, enabled: bool
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A progress bar over sweep tasks; yields a callback to call per finished task."""
    if not enabled:
        yield lambda entry: None
        return
    columns = [
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=total)

        def advance(entry: dict[str, Any]) -> None:
            status = (
                entry["summary"].get("verdict", entry["status"])
                if entry["status"] == "done"
                else "FAILED"
            )
            bar.update(task, advance=1, description=f"{entry['id']}: {status}")

        yield advance


def render_table(
    console: Console, entries: list[dict[str, Any]], keys: list[str], skipped: int
) -> None:
    """One row per variant: its settings and headline diagnostics."""
    table = Table(
        title=f"sweep: {len(entries)} variants ({skipped} already done, skipped)",
        title_justify="left",
    )
    table.add_column("variant")
    for key in keys:
        table.add_column(key.rsplit(".", 1)[-1])
    for h in ("verdict", "divergences", "max r_hat", "min ess_bulk", "ESS/s", "seconds"):
        table.add_column(h, justify="right")
    for entry in entries:
        s = entry.get("summary", {})
        settings = [str(entry["settings"].get(k, "")) for k in keys]
        if entry["status"] != "done":
            table.add_row(
                entry["config"].rsplit("/", 1)[-1],
                *settings,
                Text("FAILED", style="bold red"),
                "",
                "",
                "",
                "",
                "",
            )
            continue
        verdict = Text(s["verdict"].upper(), style="green" if s["verdict"] == "pass" else "red")
        table.add_row(
            entry["config"].rsplit("/", 1)[-1],
            *settings,
            verdict,
            fmt(s.get("divergences")),
            fmt(s.get("max_rhat")),
            fmt(s.get("min_ess_bulk"), 0),
            fmt(s.get("ess_per_second"), 1),
            fmt(s.get("seconds"), 1),
        )
    console.print(table)
    for entry in entries:
        if entry["status"] != "done":
            console.print(Text(f"failed: {entry['id']}: {entry.get('error')}", style="red"))


def to_dict(entries: list[dict[str, Any]], keys: list[str], skipped: int) -> dict[str, Any]:
    """The JSON document for ``sweep --json``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep",
        "keys": keys,
        "skipped": skipped,
        "variants": entries,
    }
