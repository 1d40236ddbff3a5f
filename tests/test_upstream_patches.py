"""The fixes proposed upstream for #27's fit goal (docs/upstream/) still apply to the installed
nutpie and arviz-base, and do what they claim without changing a draw: nutpie's C callbacks
come from its disk cache in a second process, arviz-base no longer makes SciPy import JAX,
and nutpie no longer imports ArviZ's plotting stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import small_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from goals import upstream_overlay  # noqa: E402

HMDIAG = shutil.which("hmdiag", path=str(Path(sys.executable).parent)) or "hmdiag"


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("nutpie")
    if shutil.which("patch") is None and shutil.which("git") is None:
        pytest.skip("neither `patch` nor `git` to apply docs/upstream's patches")
    folder, why_not = upstream_overlay(tmp_path_factory.mktemp("upstream"))
    assert folder is not None, why_not
    return folder


def test_the_patched_packages_import_neither_jax_nor_arviz_plots(overlay: str) -> None:
    code = (
        "import sys, numpy as np, nutpie, arviz_base, arviz_stats\n"
        "from scipy.special import logsumexp\n"
        "logsumexp(np.zeros(3))\n"
        "assert arviz_base.__file__.startswith(sys.argv[1]), arviz_base.__file__\n"
        "assert nutpie.__file__.startswith(sys.argv[1]), nutpie.__file__\n"
        "print('jax._src' in sys.modules, 'arviz_plots' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": overlay}
    done = subprocess.run(
        [sys.executable, "-c", code, overlay], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_cached_callbacks_give_the_draws_of_nutpie_as_released(
    overlay: str, tmp_path: Path
) -> None:
    import xarray as xr

    spec = small_spec("mme4", tmp_path, backend="nutpie", draws=100, tune=100)
    # The first patched run compiles the callbacks (or finds them cached), the second loads.
    runs = {
        "released": {},
        "patched": {"PYTHONPATH": overlay},
        "from_cache": {"PYTHONPATH": overlay, "NUMBA_DEBUG_CACHE": "1"},
    }
    logs = {}
    for name, env in runs.items():
        done = subprocess.run(
            [HMDIAG, "fit", str(spec), "--out", str(tmp_path / f"{name}.nc"), "--quiet"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        assert done.returncode in (0, 1), done.stderr
        logs[name] = done.stdout + done.stderr
    loaded = [
        line
        for line in logs["from_cache"].splitlines()
        if "data loaded" in line and "nutpie_cb" in line
    ]
    assert len(loaded) == 2, logs["from_cache"][-2000:]  # the logp and the expand callback
    released = xr.open_datatree(tmp_path / "released.nc")["posterior"]
    for name in ("patched", "from_cache"):
        other = xr.open_datatree(tmp_path / f"{name}.nc")["posterior"]
        for var in released.data_vars:
            np.testing.assert_array_equal(released[var].values, other[var].values)
