"""Saved runs: atomic NetCDF writes, careful reads, and hmdiag's provenance attributes.

A run is an ``xarray.DataTree`` with ArviZ's groups as children (``posterior``,
``sample_stats``, ``log_likelihood``, ...), as PyMC 6, nutpie and ArviZ 1.x return them. Runs
saved by ArviZ 0.x (hmdiag 0.1, PyMC 5) are NetCDF files with the same groups and read the same.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmdiag._datatree import group_dataset, group_names, has_group, set_group
from hmdiag.errors import RunFileError
from hmdiag.runs.files import write_atomically

ATTR_PREFIX = "hmdiag_"


@dataclass(frozen=True)
class RunInfo:
    """Provenance hmdiag stores with a run (empty fields for runs made elsewhere)."""

    label: str
    spec_name: str | None = None
    spec_text: str | None = None
    data_sha256: str | None = None
    data_path: str | None = None
    seed: int | None = None
    backend: str | None = None
    target_accept: float | None = None
    max_treedepth: int | None = None
    sampling_seconds: float | None = None
    wall_seconds: float | None = None
    free_variables: list[str] | None = None
    group_terms: list[dict[str, Any]] = field(default_factory=list)
    inference_library: str | None = None
    # standardized predictor -> [mean, sd], to read coefficients on the original scale
    transforms: dict[str, list[float]] = field(default_factory=dict)
    # wall seconds per phase of the fit (hmdiag.sampling.timing.FIT_PHASES)
    timing: dict[str, float] = field(default_factory=dict)
    # sampler.mass_matrix as set (diag, dense, low_rank); None for runs made without it
    mass_matrix: str | None = None
    # parameter -> its transform as PyMC applied it (log, logit, interval, zerosum, cholesky,
    # identity) or "deterministic"; {} for runs made without it (hmdiag.model.model_transforms)
    param_transforms: dict[str, str] = field(default_factory=dict)
    # derived variables the run does not store -> values per draw (-1: unknown); fit --derived
    derived_not_stored: dict[str, int] = field(default_factory=dict)
    # where the chains ran: "cpu", or the JAX device ("gpu: NVIDIA H200"); None if not recorded
    device: str | None = None
    # The tool that wrote a run hmdiag did not make ("cmdstan", "cmdstanpy", "pymc", "nutpie",
    # "numpyro"), its version and how to name its sampler ("CmdStan 2.37 (NUTS)")
    source_tool: str | None = None
    source_version: str | None = None
    sampler_label: str | None = None
    # "nuts", "static" (HMC) or "fixed_param" (no HMC, no adaptation); None: NUTS assumed
    algorithm: str | None = None
    # warmup draws per chain found beside the draws and not counted (saved warmup)
    warmup_dropped: int | None = None
    # 1 where the tool numbers elements from 1 (Stan: mu[1]); None: from 0
    index_origin: int | None = None
    # the model-fit summary the fit measured (hmdiag.diagnose.model_fit.ModelFit.to_dict)
    model_fit: dict[str, Any] | None = None


def per_draw(values: Any) -> Any:
    """A DataArray summed over every dimension but ``chain`` and ``draw``."""
    return values.sum([d for d in values.dims if d not in ("chain", "draw")])


def log_likelihood_total(idata: Any) -> Any | None:
    """The log-likelihood per draw: summed from the pointwise group, or the run's stored total
    (sample stat ``log_likelihood``); None when the run has neither."""
    pointwise = group_dataset(idata, "log_likelihood")
    if pointwise is not None:
        return sum(per_draw(pointwise[v]) for v in pointwise.data_vars)
    stats = group_dataset(idata, "sample_stats")
    if stats is not None and "log_likelihood" in stats.data_vars:
        return stats["log_likelihood"]
    return None


def stored_spec(info: RunInfo) -> Any | None:
    """The validated spec a run was fitted from; None without one, or when the stored text no
    longer validates (a foreign or damaged spec must not stop a check)."""
    return _validated_spec(info.spec_text) if info.spec_text else None


@functools.lru_cache(maxsize=8)
def _validated_spec(text: str) -> Any | None:
    import yaml

    from hmdiag.spec import ModelSpec

    try:
        return ModelSpec.model_validate(yaml.safe_load(text))
    except Exception:
        return None


def attach_info(idata: Any, info: RunInfo) -> None:
    """Store ``info`` as ``hmdiag_*`` attributes on the posterior and sample_stats groups."""
    attrs: dict[str, Any] = {}
    for key, value in info.__dict__.items():
        if value is None or key == "label":
            continue
        if isinstance(value, list | dict):
            value = json.dumps(value)
        attrs[ATTR_PREFIX + key] = value
    for group in ("posterior", "sample_stats"):
        if has_group(idata, group):
            idata[group].attrs.update(attrs)


def read_info(idata: Any, label: str) -> RunInfo:
    """Read hmdiag's provenance back, tolerating runs made by other tools."""
    attrs: dict[str, Any] = {}
    for group in ("sample_stats", "posterior"):
        if has_group(idata, group):
            attrs = {**dict(idata[group].attrs), **attrs}
    values: dict[str, Any] = {}
    for key in RunInfo.__dataclass_fields__:
        raw = attrs.get(ATTR_PREFIX + key)
        if raw is None:
            continue
        if key in (
            "free_variables",
            "group_terms",
            "transforms",
            "timing",
            "param_transforms",
            "derived_not_stored",
            "model_fit",
        ):
            raw = json.loads(raw) if isinstance(raw, str) else raw
        elif key in ("seed", "max_treedepth", "warmup_dropped", "index_origin"):
            raw = int(raw)
        elif key in ("target_accept", "sampling_seconds", "wall_seconds"):
            raw = float(raw)
        else:
            raw = str(raw)
        values[key] = raw
    if "sampling_seconds" not in values and "sampling_time" in attrs:
        values["sampling_seconds"] = float(attrs["sampling_time"])
    if "inference_library" not in values and "inference_library" in attrs:
        values["inference_library"] = str(attrs["inference_library"])
    if "source_version" not in values and "inference_library_version" in attrs:
        values["source_version"] = str(attrs["inference_library_version"])
    return RunInfo(label=values.get("spec_name") or label, **values)


# gzip level 1 with byte shuffling: most of the size gain of higher levels at a fraction of
# their time (draws are float64 noise in the low bytes, structure in the high ones).
COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": True}


def _compression(run: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Per-group NetCDF encodings that compress every numeric, non-scalar variable."""
    encoding: dict[str, dict[str, dict[str, Any]]] = {}
    for node in run.subtree:
        variables = {
            str(name): dict(COMPRESSION)
            for name, var in node.dataset.data_vars.items()
            if var.ndim > 0 and var.dtype.kind in "biuf"
        }
        if variables:
            encoding[node.path] = variables
    return encoding


def save_run(idata: Any, path: Path, *, force: bool) -> None:
    """Write the run to compressed NetCDF (one HDF5 group per ArviZ group) atomically."""
    write_atomically(
        path,
        lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf", encoding=_compression(idata)),
        force=force,
        suffix=".nc",
    )


RUN_HINT = (
    "pass an ArviZ run: NetCDF (hmdiag fit, DataTree.to_netcdf, az.to_netcdf in ArviZ 0.x), a "
    "zarr store (DataTree.to_zarr) or CmdStan CSV files (output_*.csv, one per chain)"
)


def run_label(path: str | Path) -> str:
    """A run's default label from its path: the file or folder name without its suffix, and
    for CmdStan chain files without the chain number (``fit/output_*.csv`` -> ``output``)."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        path = path.resolve()
    name = path.name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    label = re.sub(r"[*?\[].*$", "", stem)  # a glob: the part before it
    if name.lower().endswith(".csv"):
        label = re.sub(r"[_-]\d+$", "", label).rstrip("_-")  # a chain file: no chain number
        if label in ("", "output") and path.parent.name not in ("", ".", ".."):
            label = path.parent.name  # CmdStan's default file name says nothing: the folder
    return label.rstrip("_-") or stem or "run"


def open_run(run: Any, label: str | None = None) -> tuple[Any, str, str | None]:
    """A run given as a path (anything ``load_run`` reads) or in memory, as (DataTree, label,
    source file or None).

    In memory: an ``xarray.DataTree`` (PyMC 6, nutpie), an ArviZ 0.x ``InferenceData``, a
    cmdstanpy ``CmdStanMCMC`` or a numpyro ``MCMC`` (converted by arviz-base), or a report of
    the Python API that holds its run. The label defaults to the file's (``run_label``), the
    report's, else ``run``.
    """
    if isinstance(run, str | os.PathLike):
        path = Path(run)
        return load_run(path), label or run_label(path), str(path)
    if getattr(run, "run", None) is not None and hasattr(run, "diagnosis"):
        return run.run, label or run.diagnosis.label, run.source
    idata = _in_memory_run(run)
    if "posterior" not in group_names(idata) or not idata["posterior"].data_vars:
        raise RunFileError(
            f"this {type(run).__name__} has no posterior group",
            "pass the result of sampling (pm.sample, nutpie.sample, mcmc.run, model.sample)",
        )
    if idata is run and _extra_stat_rows(idata) > 0:
        idata = idata.copy()  # the caller's run stays as it was
    align_warmup(idata)
    return idata, label or "run", None


def _in_memory_run(run: Any) -> Any:
    """A sampler's result as a DataTree, by arviz-base's converter for its type."""
    import xarray as xr

    kind, module = type(run).__name__, type(run).__module__
    if isinstance(run, xr.DataTree):
        return run
    if kind == "InferenceData":
        from arviz_base import convert_to_datatree

        return convert_to_datatree(run)
    if kind == "CmdStanMCMC":
        return _from_cmdstanpy(run)
    if kind == "MCMC" and module.startswith("numpyro"):
        from arviz_base import from_numpyro

        return from_numpyro(posterior=run)
    raise RunFileError(
        f"cannot read a {kind} as a run",
        "pass a DataTree (PyMC 6, nutpie), an ArviZ 0.x InferenceData, a cmdstanpy CmdStanMCMC, "
        "a numpyro MCMC, or a file path",
    )


def load_run(path: str | Path) -> Any:
    """Load a run as a DataTree; ``RunFileError`` if it is not one.

    ``path`` is an ArviZ NetCDF file (ArviZ 0.x or 1.x), a zarr store (a folder), a CmdStan
    CSV file, a folder of CmdStan CSV files, or a glob of them (``fit/output_*.csv``).
    """
    path = Path(path)
    if not path.exists() and any(ch in str(path) for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(path)))
        if not files:
            raise RunFileError(f"{path}: no files match", RUN_HINT)
        return load_cmdstan_csv(files)
    if not path.exists():
        raise RunFileError(f"{path}: file not found", RUN_HINT)
    if path.is_dir():
        if (path / ".zgroup").exists() or (path / "zarr.json").exists():
            return _load_zarr(path)
        chains = sorted(p for p in path.glob("*.csv") if p.is_file())
        if chains:
            return load_cmdstan_csv(chains)
        raise RunFileError(
            f"{path}: is a directory, but neither a zarr store nor a folder of CmdStan CSV files",
            RUN_HINT,
        )
    if not path.is_file():
        raise RunFileError(f"{path}: is not a regular file (a device, pipe or socket)")
    if path.stat().st_size == 0:
        raise RunFileError(f"{path}: the file is empty", RUN_HINT)
    if path.suffix.lower() == ".csv":
        return load_cmdstan_csv([path])
    with path.open("rb") as handle:
        magic = handle.read(8)
    if not (magic.startswith(b"\x89HDF") or magic.startswith(b"CDF")):
        raise RunFileError(f"{path}: not a NetCDF file", RUN_HINT)
    import xarray as xr

    try:
        idata = xr.open_datatree(str(path))
    except Exception as exc:  # h5py/netCDF raise many types for damaged files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunFileError(
            f"{path}: cannot read as an ArviZ run (truncated or damaged?): {first}"
        ) from None
    groups = group_names(idata)
    if "posterior" not in groups:
        found = ", ".join(groups) if groups else "no groups"
        raise RunFileError(
            f"{path}: has no posterior group (found: {found})", "save the run with its posterior"
        )
    if not idata["posterior"].data_vars:
        raise RunFileError(f"{path}: the posterior group holds no variables")
    _load_eagerly(idata, path)
    align_warmup(idata)
    return idata


def _load_eagerly(idata: Any, path: Path | None = None) -> None:
    """Read the posterior and sample stats once (every command reads all of them)."""
    # One read each, instead of one per access (a lazily opened compressed variable is
    # decompressed again on every slice). Other groups, the pointwise log-likelihood above
    # all, stay on disk until asked for.
    for group in ("posterior", "sample_stats"):
        if group in group_names(idata):
            try:
                idata[group].load()
            except Exception as exc:  # a damaged chunk: h5py, zarr and codecs raise anything
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise RunFileError(
                    f"{path}: the {group} group cannot be read (damaged?): {first}"
                ) from None


def _load_zarr(path: Path) -> Any:
    import xarray as xr

    try:
        idata = xr.open_datatree(str(path), engine="zarr")
    except Exception as exc:  # zarr raises many types for damaged stores
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunFileError(f"{path}: cannot read as a zarr run: {first}", RUN_HINT) from None
    if "posterior" not in group_names(idata) or not idata["posterior"].data_vars:
        raise RunFileError(f"{path}: the zarr store has no posterior group", RUN_HINT)
    _load_eagerly(idata, path)
    align_warmup(idata)
    return idata


def load_cmdstan_csv(files: list[Path]) -> Any:
    """CmdStan ``sample`` output, one CSV file per chain, as a run.

    ``hmdiag.runs.stan_csv`` checks the headers first (one finished run, draws after warmup);
    cmdstanpy parses CmdStan 2.x files (no CmdStan install needed) and arviz-base converts
    them (``from_cmdstanpy``); CmdStan 1.x files are read by ``stan_csv.read_draws_v1``. The
    header's ``max_depth``, ``delta``, version and sampler become the run's provenance, and
    names keep Stan's 1-based indices.
    """
    from hmdiag.runs import stan_csv

    for file in files:
        if not file.is_file():
            raise RunFileError(f"{file}: file not found", RUN_HINT)
        if file.suffix != ".csv":
            raise RunFileError(f"{file}: CmdStan output files end in .csv", RUN_HINT)
    resolved = [f.resolve() for f in files]
    if len(set(resolved)) != len(resolved):
        twice = next(f for f in files if resolved.count(f.resolve()) > 1)
        raise RunFileError(f"{twice}: given twice; each chain's file once", RUN_HINT)
    headers = stan_csv.validate_files(files)
    version = headers[0].version
    if version is not None and version[0] < 2:
        idata = stan_csv.read_draws_v1(headers)
    else:
        idata = _read_with_cmdstanpy(files)
    _store_facts(idata, stan_csv.facts(headers[0]))
    return idata


def _read_with_cmdstanpy(files: list[Path]) -> Any:
    try:
        import cmdstanpy
    except ImportError:  # pragma: no cover - a dependency of hmdiag
        raise RunFileError("reading CmdStan CSV needs cmdstanpy", "pip install cmdstanpy") from None
    with _quiet_cmdstanpy():
        try:
            fit = cmdstanpy.from_csv([str(f) for f in files], method="sample")
        except Exception as exc:  # cmdstanpy raises ValueError, RuntimeError, KeyError, ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            named = next((f for f in files if f.name in first), files[0])
            raise RunFileError(
                f"{named}: not CmdStan sample output: {first}",
                "pass the output_*.csv files of one `method=sample` run (all its chains)",
            ) from None
    return _from_cmdstanpy(fit)


@contextlib.contextmanager
def _quiet_cmdstanpy() -> Iterator[None]:
    """cmdstanpy logs a line per file read, and its own convergence warnings (with its own
    tree-depth count) when the draws are read: hmdiag reports its checks instead."""
    import logging

    from cmdstanpy.utils import get_logger

    # Its logger configures itself (level DEBUG) on first use: configured now, then quieted.
    logger = get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _store_facts(idata: Any, facts: dict[str, Any]) -> None:
    attrs = {ATTR_PREFIX + k: v for k, v in facts.items() if v is not None}
    for group in ("posterior", "sample_stats"):
        if group in group_names(idata):
            idata[group].attrs.update(attrs)


def _from_cmdstanpy(fit: Any) -> Any:
    """A cmdstanpy ``CmdStanMCMC`` as a run: Stan's 1-based names, its ``max_depth`` and
    ``delta`` kept, and only post-warmup sample stats (see ``align_warmup``)."""
    from arviz_base import from_cmdstanpy

    with _quiet_cmdstanpy():
        idata = from_cmdstanpy(posterior=fit, index_origin=1)
    config = fit.metadata.cmdstan_config
    version = [config.get(f"stan_version_{p}") for p in ("major", "minor", "patch")]
    engine = "fixed_param" if config.get("algorithm") == "fixed_param" else config.get("engine")
    _store_facts(
        idata,
        {
            "max_treedepth": config.get("max_depth"),
            "target_accept": config.get("delta"),
            "source_tool": "cmdstanpy",
            "source_version": ".".join(str(v) for v in version) if None not in version else None,
            "algorithm": engine,
            "index_origin": 1,
        },
    )
    align_warmup(idata)
    return idata


def _extra_stat_rows(idata: Any) -> int:
    """How many more draws the sample stats hold than the posterior (0 when aligned)."""
    if "sample_stats" not in group_names(idata):
        return 0
    draws = int(idata["posterior"].sizes["draw"])
    return int(idata["sample_stats"].sizes.get("draw", draws)) - draws


def align_warmup(idata: Any) -> int | None:
    """Drop warmup rows that a converter left in the sample stats; return how many per chain.

    ``arviz_base.from_cmdstanpy`` keeps the warmup out of the posterior but not out of the
    sample stats of a ``save_warmup`` run (docs/upstream/arviz-base-warmup-sample-stats.md):
    divergences, step sizes, acceptance and E-BFMI would count warmup transitions. Warmup
    always comes first, so the sample stats' leading rows beyond the posterior's draws go.
    The count is stored as ``hmdiag_warmup_dropped`` for the diagnosis to say so.
    """
    extra = _extra_stat_rows(idata)
    if extra <= 0:
        return None
    stats = idata["sample_stats"].to_dataset()
    kept = stats.isel(draw=slice(extra, None)).assign_coords(draw=idata["posterior"]["draw"].values)
    set_group(idata, "sample_stats", kept)
    _store_facts(idata, {"warmup_dropped": extra})
    return extra
