"""Group access on a run (an ``xarray.DataTree``): the four accessors that sampling, run files,
diagnostics and plots all use, kept below every stage so that none imports another for them."""

from __future__ import annotations

from typing import Any


def group_names(run: Any) -> list[str]:
    """The run's groups (``posterior``, ``sample_stats``, ...) in file order."""
    return [str(name) for name in run.children]


def has_group(run: Any, name: str) -> bool:
    """Whether the run has a group called ``name``."""
    return name in run.children


def group_dataset(run: Any, name: str) -> Any | None:
    """Group ``name`` as an ``xarray.Dataset`` (``None`` if the run lacks it)."""
    return run[name].to_dataset() if has_group(run, name) else None


def set_group(run: Any, name: str, dataset: Any) -> None:
    """Add or replace group ``name`` with ``dataset`` (its attributes become the group's)."""
    import xarray as xr

    run[name] = xr.DataTree(dataset)
