"""The fit recipe: spec -> data -> model -> sampler -> run (DataTree) with provenance."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from hmdiag._version import __version__
from hmdiag.diagnose.model_fit import (
    ModelFit,
    unavailable,
)
from hmdiag.model import BuiltModel, build_model, build_python_model, model_transforms
from hmdiag.model.data import PreparedData, prepare_data
from hmdiag.runs import RunInfo, attach_info
from hmdiag.sampling import sample
from hmdiag.sampling.jax_backend import sampling_device
from hmdiag.sampling.settings import SamplerSettings, Storage, derived_not_stored, resolve_settings
from hmdiag.sampling.timing import PhaseTimes
from hmdiag.spec import LoadedSpec, spec_to_raw
from hmdiag.workflows.model_check import measure_from_model

# Built models of this process by structure, so repeated fits (doctor attempts, sweeps) of
# one structure reuse the model and the backend's compiled code.
_MODEL_CACHE: dict[str, BuiltModel] = {}
_MODEL_CACHE_SIZE = 8


def structure_key(loaded: LoadedSpec, data: PreparedData) -> str:
    """What determines the model graph: the spec without sampler and checks, plus the data."""
    raw = spec_to_raw(loaded.spec)
    for key in ("name", "description", "sampler", "checks"):
        raw.pop(key, None)
    if loaded.spec.model is not None:
        # The Python file is part of the structure; never reuse a model across its edits.
        file = loaded.path.parent / loaded.spec.model.file
        raw["model_file"] = (
            f"{file.resolve()}@{file.stat().st_mtime_ns if file.exists() else 'missing'}"
        )
    return json.dumps(raw, sort_keys=True) + data.sha256 + str(data.source.resolve())


def cached_model(loaded: LoadedSpec, data: PreparedData) -> BuiltModel:
    """The built model for this structure, building it on first use."""
    key = structure_key(loaded, data)
    built = _MODEL_CACHE.get(key)
    if built is None:
        built = (
            build_python_model(loaded, data)
            if loaded.spec.model
            else build_model(loaded.spec, data)
        )
        if len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        _MODEL_CACHE[key] = built
    return built


@dataclass(frozen=True)
class FitResult:
    """A finished fit: the run, how it was made, and its provenance."""

    idata: Any
    info: RunInfo
    settings: SamplerSettings
    data: PreparedData
    built: BuiltModel
    # the model criticism measured at the fit (with its pointwise elpd, which the run's stored
    # summary leaves out); None when not measured
    model_fit: ModelFit | None = None


def rebuild_from_run(
    info: RunInfo, missing: str
) -> tuple[LoadedSpec, PreparedData, BuiltModel] | str:
    """The spec, data and built model a run carries (its stored spec and its unchanged data
    file), to recompute what the run does not store; else why not (``missing`` says what)."""
    from pathlib import Path

    from hmdiag.runs import stored_spec
    from hmdiag.spec.table import file_sha256

    spec = stored_spec(info)
    if spec is None or spec.model is not None or not info.data_path:
        return f"it stores {missing} and no spec to recompute it from"
    data_file = Path(info.data_path)
    if not data_file.is_file():
        return f"it stores {missing} and its data file {data_file} is gone"
    if info.data_sha256 and file_sha256(data_file) != info.data_sha256:
        return f"it stores {missing} and its data file {data_file} changed since the fit"
    spec = spec.model_copy(update={"data": spec.data.model_copy(update={"path": data_file})})
    loaded = LoadedSpec(spec=spec, path=data_file.parent / "run.yaml", text=info.spec_text or "")
    data = prepare_data(loaded)
    return loaded, data, cached_model(loaded, data)


def recompute_log_likelihood(idata: Any, info: RunInfo) -> str | None:
    """Add the pointwise ``log_likelihood`` group to a run that does not store it, from the
    spec and data it carries (in memory; the file is unchanged). None on success, else why not.
    """
    from hmdiag import _lazy
    from hmdiag._datatree import has_group
    from hmdiag.sampling.log_density import add_log_likelihood

    if has_group(idata, "log_likelihood"):
        return None
    rebuilt = rebuild_from_run(info, "no pointwise log-likelihood")
    if isinstance(rebuilt, str):
        return f"{rebuilt} (refit with hmdiag fit --loglik)"
    add_log_likelihood(idata, rebuilt[2], _lazy.pymc())
    return None


def model_fit_for_run(idata: Any, info: RunInfo) -> ModelFit:
    """The model fit of a loaded run: the summary its fit stored, the run's own
    ``log_likelihood``/``posterior_predictive`` groups, or recomputed from the spec and data
    it carries; else why it cannot be measured."""
    from hmdiag.diagnose.diagnosis import stored_model_fit

    stored = stored_model_fit(idata, info)
    if info.model_fit or stored.assessed:
        return stored
    rebuilt = rebuild_from_run(info, "no model-fit summary")
    if isinstance(rebuilt, str):
        return stored if info.spec_text is None else unavailable(rebuilt)
    loaded, data, built = rebuilt
    return measure_from_model(idata["posterior"].to_dataset(), built, loaded.spec, data, info.seed)


def fit(
    loaded: LoadedSpec,
    *,
    data: PreparedData | None = None,
    progress: bool = False,
    ppc: bool = False,
    storage: Storage | None = None,
    timer: PhaseTimes | None = None,
    criticize: bool = True,
) -> FitResult:
    """Prepare data, build the model, sample it and attach provenance to the run.

    ``storage`` says what the run keeps beyond the sampled parameters (``Storage``). The
    pointwise log-likelihood (one value per draw and observation, most of a large run's size)
    is kept only when asked or for a Python model; otherwise the run keeps its per-draw total,
    and ``compare``/``report`` recompute the pointwise values for LOO from the spec and data
    the run carries (``recompute_log_likelihood``). Large derived variables are likewise kept
    only when asked (``Storage.derived``); a Python model keeps them all.
    ``timer`` (if given) receives the build, compile, sample and postprocess phases.
    ``criticize``: measure the model fit (Pareto k, posterior predictive checks) on thinned
    draws and store its summary with the run (``RunInfo.model_fit``); SBC's fits skip it.
    """
    start = time.perf_counter()
    timer = timer if timer is not None else PhaseTimes()
    spec = loaded.spec
    with timer.phase("build"):
        data = data if data is not None else prepare_data(loaded)
        built = cached_model(loaded, data)
    settings = resolve_settings(spec.sampler)
    storage = storage or Storage()
    if spec.model is not None:
        # Neither can be recomputed later: the run carries no way to rebuild a Python model.
        storage = Storage(pointwise_loglik=True, derived=True)
    idata, sampling_seconds = sample(
        built, settings, progress=progress, timer=timer, storage=storage
    )
    if ppc:
        from hmdiag import _lazy

        pm = _lazy.pymc()
        # A fresh model: posterior predictive sampling leaves a model unfit for later NUTS
        # runs, and the built one is cached for reuse.
        with timer.phase("postprocess"):
            fresh = (
                build_python_model(loaded, data) if spec.model else build_model(spec, data)
            ).model
            pm.sample_posterior_predictive(
                idata,
                model=fresh,
                extend_inferencedata=True,
                random_seed=settings.seed,
                progressbar=False,
            )
    model_fit = None
    if criticize and spec.model is None:
        with timer.phase("model_fit"):
            model_fit = _criticize(idata, built, loaded, data, settings.seed)
    info = RunInfo(
        label=spec.name,
        spec_name=spec.name,
        spec_text=loaded.stored_text,
        data_sha256=data.sha256,
        data_path=str(data.source.resolve()),
        seed=settings.seed,
        backend=settings.backend,
        target_accept=settings.target_accept,
        max_treedepth=settings.max_treedepth,
        sampling_seconds=sampling_seconds,
        wall_seconds=time.perf_counter() - start,
        free_variables=built.free_variables,
        group_terms=[asdict(t) for t in built.group_terms],
        transforms={column: list(pair) for column, pair in data.transforms.items()},
        inference_library=f"hmdiag {__version__} ({settings.backend})",
        timing={k: round(v, 4) for k, v in timer.ordered().items() if v},
        mass_matrix=settings.mass_matrix,
        param_transforms=model_transforms(built.model),
        derived_not_stored=derived_not_stored(built, storage.derived),
        device=sampling_device(settings.backend),
        model_fit=model_fit.to_dict() if model_fit is not None else None,
    )
    attach_info(idata, info)
    return FitResult(
        idata=idata, info=info, settings=settings, data=data, built=built, model_fit=model_fit
    )


def _criticize(
    idata: Any, built: BuiltModel, loaded: LoadedSpec, data: PreparedData, seed: int | None
) -> ModelFit:
    """The model fit of a fresh run; a failure to compute it is recorded, never raised (the
    run itself is sound)."""
    from hmdiag._datatree import group_dataset

    posterior = group_dataset(idata, "posterior")
    if posterior is None or not int(posterior.sizes.get("draw", 0)):
        return unavailable("the run has no draws")
    try:
        return measure_from_model(posterior, built, loaded.spec, data, seed)
    except Exception as exc:  # any failure of model criticism is reported as n/a, not raised
        return unavailable(f"could not be computed ({type(exc).__name__}: {exc})")
