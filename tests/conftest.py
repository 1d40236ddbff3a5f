"""Shared fixtures: paths, small sampled runs (cached per session) and constructed runs."""

from __future__ import annotations

import os

# numba compiles PyTensor's logp for the host CPU by default, and code built for another CPU
# (AVX-512 against AVX2, FMA or not) rounds differently: the same spec and seed then give other
# draws, and a healthy model's r_hat of 1.005 here was 1.013 there (grouseticks_poisson, #25).
# The suite compiles for a generic x86-64 CPU, so its sampled outcomes are the same on every
# machine it runs on. Set before anything imports numba; a value set by the caller wins.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "bangladesh"
DATA = ROOT / "data" / "bangladesh.csv"


def pytest_configure(config: pytest.Config) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def az() -> Any:
    """ArviZ 1.x (arviz-base, arviz-stats and arviz-plots in one namespace): the reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz

    return arviz


@pytest.fixture(scope="session")
def arviz_example(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Path of one of ArviZ's bundled example runs, copied to a temp folder."""
    import arviz_base

    def get(name: str) -> Path:
        source = Path(arviz_base.__file__).parent / "example_data" / "data" / f"{name}.nc"
        target = tmp_path_factory.mktemp("examples") / f"{name}.nc"
        shutil.copy(source, target)
        return target

    return get


def small_spec(name: str, tmp_path: Path, **sampler: Any) -> Path:
    """A copy of a Bangladesh config with small sampler settings, data path kept valid."""
    import yaml

    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    raw["data"]["path"] = str(DATA)
    raw["sampler"] = {**raw["sampler"], "draws": 300, "tune": 300, "chains": 2, **sampler}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


_FIT_CACHE: dict[tuple[str, str], Any] = {}


@pytest.fixture(scope="session")
def small_fit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Fit a Bangladesh config with small settings once per session; returns FitResult."""
    from hmdiag.spec import load_spec
    from hmdiag.workflows.fit import fit

    def run(name: str, **sampler: Any) -> Any:
        key = (name, repr(sorted(sampler.items())))
        if key not in _FIT_CACHE:
            path = small_spec(name, tmp_path_factory.mktemp(name), **sampler)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _FIT_CACHE[key] = fit(load_spec(path))
        return _FIT_CACHE[key]

    return run


def make_idata(
    az: Any,
    posterior: dict[str, np.ndarray],
    sample_stats: dict[str, np.ndarray] | None = None,
    **attrs: Any,
) -> Any:
    """A run (DataTree) built by hand (no sampling), for testing each check in isolation."""
    groups = {"posterior": posterior}
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    idata = az.from_dict(groups)
    idata["posterior"].attrs.update(attrs)
    if sample_stats is not None:
        idata["sample_stats"].attrs.update(attrs)
    return idata


def healthy_stats(
    rng: np.random.Generator, chains: int = 4, draws: int = 500
) -> dict[str, np.ndarray]:
    """Sample stats of a well-behaved NUTS run."""
    return {
        "diverging": np.zeros((chains, draws), dtype=bool),
        "tree_depth": rng.integers(2, 5, size=(chains, draws)),
        "reached_max_treedepth": np.zeros((chains, draws), dtype=bool),
        "acceptance_rate": np.clip(rng.normal(0.8, 0.05, size=(chains, draws)), 0, 1),
        "step_size": np.full((chains, draws), 0.5),
        "energy": rng.normal(0, 1, size=(chains, draws)),  # white noise: E-BFMI near 2
    }


@pytest.fixture(scope="session")
def saved_runs(small_fit: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small mfe, mme0 and mme4 runs saved as NetCDF (2 chains x 300 draws)."""
    from hmdiag.runs import save_run

    folder = tmp_path_factory.mktemp("saved")
    paths = {}
    for name in ("mfe", "mme0", "mme4"):
        paths[name] = folder / f"{name}.nc"
        save_run(small_fit(name).idata, paths[name], force=False)
    return paths
