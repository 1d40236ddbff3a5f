"""No loss, clean interrupts, reproducibility and a fuzzed spec loader."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmdiag.errors import HmdiagError
from hmdiag.spec import load_spec, validate_spec

from .conftest import small_spec
from .test_e2e import HMDIAG

KILL_DURING_SAVE = """
import os, signal, sys
import hmdiag.runs.files

def die_before_rename(src, dst):
    # The new run is fully written to its temp file; die before it replaces the old one.
    os.kill(os.getpid(), signal.SIGKILL)

hmdiag.runs.files.os.replace = die_before_rename
from hmdiag.cli import main
sys.argv = ["hmdiag", "fit", sys.argv[1], "--out", sys.argv[2], "--force", "--quiet"]
main()
"""


def test_killed_during_save_leaves_the_old_file_intact(tmp_path: Path) -> None:
    spec = small_spec("mme4", tmp_path, draws=100, tune=100)
    out = tmp_path / "run.nc"
    out.write_bytes(b"previous run")
    result = subprocess.run(
        [sys.executable, "-c", KILL_DURING_SAVE, str(spec), str(out)], capture_output=True
    )
    assert result.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"previous run"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.nc.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(
        ".nc.tmp"
    )  # hidden, never under the output name


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("backend", ["nutpie", "pymc"])
def test_ctrl_c_during_sampling_exits_130_and_writes_nothing(tmp_path: Path, backend: str) -> None:
    spec = small_spec("mme0", tmp_path, draws=400000, tune=500, chains=2, backend=backend)
    out = tmp_path / "run.nc"
    proc = subprocess.Popen(
        [HMDIAG, "fit", str(spec), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background of a non-interactive shell (`cmd &`) ignores
        # SIGINT, and so would the child; a user's terminal delivers it.
        preexec_fn=_default_sigint,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("fitting mme0")
    time.sleep(12)  # past compilation, into sampling
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted: nothing was written" in stderr
    assert not out.exists() and not list(tmp_path.glob(".run.nc.*"))


def test_same_seed_gives_identical_nutpie_draws(tmp_path: Path) -> None:
    """nutpie is seeded too; the second fit also reuses the compiled model."""
    pytest.importorskip("nutpie")
    import numpy as np

    from hmdiag.workflows.fit import fit

    spec = small_spec("mme4", tmp_path, backend="nutpie", draws=200, tune=200)
    first, again = fit(load_spec(spec)), fit(load_spec(spec))
    for var in ("a_bar", "sigma", "z", "a"):
        np.testing.assert_array_equal(
            first.idata.posterior[var].values, again.idata.posterior[var].values
        )
    assert again.info.seed == 19


def test_a_reused_compiled_model_gives_the_draws_a_fresh_compile_gives(tmp_path: Path) -> None:
    """#27: doctor attempts and sweeps that change only sampler settings reuse the built model
    and nutpie's compiled code; the draws must be those of a compile made for that attempt."""
    pytest.importorskip("nutpie")
    import numpy as np

    from hmdiag.sampling import nutpie_backend
    from hmdiag.spec import with_sampler_overrides
    from hmdiag.workflows import fit as fit_module

    loaded = load_spec(small_spec("mme4", tmp_path, backend="nutpie", draws=150, tune=150))
    attempt = with_sampler_overrides(loaded, target_accept=0.97, mass_matrix="low_rank")

    fit_module._MODEL_CACHE.clear()
    nutpie_backend._NUTPIE_CACHE.clear()
    fresh = fit_module.fit(attempt)
    compiled = len(nutpie_backend._NUTPIE_CACHE)

    fit_module._MODEL_CACHE.clear()
    nutpie_backend._NUTPIE_CACHE.clear()
    first = fit_module.fit(loaded)  # compiles
    reused = fit_module.fit(attempt)  # only the sampler changed: nothing compiles again
    assert reused.built is first.built
    assert len(nutpie_backend._NUTPIE_CACHE) == compiled == 1
    assert not np.array_equal(first.idata.posterior["z"].values, reused.idata.posterior["z"].values)
    for var in ("a_bar", "sigma", "z", "a"):
        np.testing.assert_array_equal(
            fresh.idata.posterior[var].values, reused.idata.posterior[var].values
        )


# Random YAML-like structures: the validator must answer with the project's own error, fast.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)
)
structures = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
KEYS = [
    "name",
    "data",
    "response",
    "likelihood",
    "link",
    "intercept",
    "groups",
    "sampler",
    "checks",
    "trials",
    "predictors",
]
near_specs = st.fixed_dictionaries(
    {},
    optional={k: structures for k in KEYS}
    | {
        "likelihood": st.sampled_from(["bernoulli", "binomial", "poisson", 3]),
        "groups": st.lists(
            st.fixed_dictionaries(
                {"factor": st.text(max_size=5)}, optional={"scale": structures, "pooling": scalars}
            ),
            max_size=2,
        ),
        "intercept": st.one_of(
            st.booleans(),
            st.fixed_dictionaries({}, optional={"prior": st.text(max_size=20), "name": scalars}),
        ),
    },
)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(structures, near_specs))
def test_fuzzed_specs_only_raise_spec_errors(raw: Any) -> None:
    if not isinstance(raw, dict):
        raw = {"value": raw}
    with contextlib.suppress(HmdiagError):
        validate_spec(raw, "fuzz.yaml")


@settings(max_examples=200, deadline=1000)
@given(text=st.text(max_size=200))
def test_fuzzed_yaml_text_only_raises_spec_errors(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(HmdiagError):
        load_spec(path)


def test_nutpie_callbacks_are_the_ones_hmdiag_replaces() -> None:
    """Fails when nutpie changes its C callback factories: re-check sampling/nutpie_compile.py then.

    If the new release contains docs/upstream/nutpie-elementwise-copy.patch (or makes the copy
    fast another way), delete hmdiag's swap instead of updating the fingerprints.
    """
    pytest.importorskip("nutpie")
    from hmdiag.sampling.nutpie_compile import UPSTREAM_SHA256, upstream_fingerprints

    assert upstream_fingerprints() == UPSTREAM_SHA256


def test_fast_nutpie_compile_gives_nutpies_own_draws(tmp_path: Path) -> None:
    """hmdiag's element-wise C callbacks change compile time, not one draw."""
    nutpie = pytest.importorskip("nutpie")
    import numpy as np
    from nutpie import compile_pymc

    from hmdiag.model import build_model
    from hmdiag.model.data import prepare_data
    from hmdiag.sampling.nutpie_compile import compile_model, fast_path_applies

    assert fast_path_applies(nutpie), "the pinned nutpie must take the fast path"
    original = compile_pymc._make_c_logp_func
    loaded = load_spec(small_spec("mme4", tmp_path))
    model = build_model(loaded.spec, prepare_data(loaded)).model
    runs = []
    for stock in (True, False):
        compiled = compile_model(model, nutpie, stock=stock)
        runs.append(
            nutpie.sample(
                compiled, draws=150, tune=150, chains=2, cores=1, seed=7, progress_bar=False
            )
        )
    assert compile_pymc._make_c_logp_func is original  # swapped back after compiling
    for var in ("a_bar", "sigma", "z", "a"):
        np.testing.assert_array_equal(runs[0].posterior[var].values, runs[1].posterior[var].values)
    np.testing.assert_array_equal(
        runs[0].sample_stats["diverging"].values, runs[1].sample_stats["diverging"].values
    )


def test_a_model_numba_cannot_compile_names_the_pymc_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nutpie = pytest.importorskip("nutpie")
    from hmdiag.errors import HmdiagError
    from hmdiag.sampling import nutpie_backend

    def refuse(model: Any, module: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("No Numba implementation for Op SomeCustomOp\nmore detail")

    monkeypatch.setattr(nutpie_backend, "compile_model", refuse)
    built = type("Built", (), {"model": object()})()
    with pytest.raises(HmdiagError) as caught:
        nutpie_backend.nutpie_compiled(built, nutpie, None)
    assert "nutpie could not compile this model with numba: No Numba implementation" in str(
        caught.value
    )
    assert "sampler.backend: pymc" in caught.value.hint
