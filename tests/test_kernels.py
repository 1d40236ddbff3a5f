"""hmdiag.diagnose.kernels against arviz-stats' per-element array layer, to 1e-8 relative."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from arviz_stats.base import array_stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmdiag.diagnose import kernels
from hmdiag.diagnose.kernels import _blocks

RTOL = 1e-8
FIXTURES = Path(__file__).parent / "fixtures"

CALLS: list[tuple[str, dict[str, Any]]] = [
    *(("rhat", {"method": m}) for m in kernels.RHAT_METHODS),
    *(
        ("ess", {"method": m})
        for m in ("bulk", "mean", "sd", "median", "mad", "z_scale", "folded", "identity")
    ),
    ("ess", {"method": "tail", "prob": kernels.DEFAULT_TAIL_PROB}),
    ("ess", {"method": "tail", "prob": 0.05}),
    ("ess", {"method": "tail", "prob": (0.1, 0.8)}),
    ("ess", {"method": "quantile", "prob": 0.3}),
    ("ess", {"method": "local", "prob": (0.2, 0.7)}),
    ("ess", {"method": "bulk", "relative": True}),
    ("ess", {"method": "tail", "prob": 0.05, "relative": True}),
    *(("mcse", {"method": m}) for m in ("mean", "sd", "median")),
    ("mcse", {"method": "quantile", "prob": 0.2}),
]
CALL_IDS = [f"{kind}-{'-'.join(str(v) for v in kw.values())}" for kind, kw in CALLS]


def reference(kind: str, ary: np.ndarray, **kwargs: Any) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # arviz-stats' 0/0 on constant input
        return np.asarray(getattr(array_stats, kind)(ary, **kwargs), dtype=float)


def ours(kind: str, ary: np.ndarray, **kwargs: Any) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # degenerate input must give NaN quietly
        return getattr(kernels, kind)(ary, **kwargs)


def assert_matches(kind: str, ary: np.ndarray, **kwargs: Any) -> None:
    got, want = ours(kind, ary, **kwargs), reference(kind, ary, **kwargs)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0, equal_nan=True)


def ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    noise = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = noise[..., 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + noise[..., t]
    return out


def make_datasets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261126)
    with_nan = rng.standard_normal((4, 4, 60))
    with_nan[1, 2, 7] = np.nan
    with_nan[3] = np.nan
    stuck = np.repeat(rng.standard_normal((2, 4, 1)), 50, axis=-1)  # constant per chain
    return {
        "normal_3x4x200": rng.standard_normal((3, 4, 200)),
        "normal_2x5x4x200": rng.standard_normal((2, 5, 4, 200)),
        "normal_scalar": rng.standard_normal((4, 200)),
        "ar1_phi095": ar1(rng, (3, 4, 400), 0.95),
        "ar1_phi06": ar1(rng, (4, 4, 300), 0.6),
        "student_t2_odd": rng.standard_t(2, (3, 4, 301)),
        "chain_offsets": rng.standard_normal((3, 4, 100)) + np.arange(4)[:, None],
        "anticorrelated": np.tile([1.0, -1.0], (2, 4, 40)) + 1e-2 * rng.standard_normal((2, 4, 80)),
        "constant": np.full((2, 4, 100), 3.5),
        "stuck_chains": stuck,
        "with_nan": with_nan,
        "draws4": rng.standard_normal((3, 4, 4)),
        "draws5": rng.standard_normal((3, 4, 5)),
        "draws7": rng.standard_normal((3, 2, 7)),
        "draws3": rng.standard_normal((2, 4, 3)),
        "one_chain": rng.standard_normal((3, 1, 100)),
        "discrete": rng.integers(0, 3, (3, 4, 60)).astype(float),
        "int_dtype": rng.integers(-5, 6, (2, 4, 40)),
        "binary": (rng.random((2, 4, 50)) < 0.2).astype(float),
        # distinct values closer than the sort keys resolve: the argsort fallback
        "near_ties": 1.0 + rng.integers(0, 50, (2, 4, 40)) * np.finfo(float).eps,
        "signed_zeros": rng.choice([-0.0, 0.0, 1.0, -1.0], (2, 4, 30)),
    }


DATASETS = make_datasets()


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize(("kind", "kwargs"), CALLS, ids=CALL_IDS)
def test_matches_arviz_stats(name: str, kind: str, kwargs: dict[str, Any]) -> None:
    assert_matches(kind, DATASETS[name], **kwargs)


def summary_reference(ary: np.ndarray, **axes: Any) -> dict[str, np.ndarray]:
    tail = {"method": "tail", "prob": kernels.DEFAULT_TAIL_PROB}
    return {
        "mean": ary.mean(axis=(axes.get("chain_axis", -2), axes.get("draw_axis", -1))),
        "sd": ary.std(axis=(axes.get("chain_axis", -2), axes.get("draw_axis", -1)), ddof=1),
        "mcse_mean": reference("mcse", ary, method="mean", **axes),
        "mcse_sd": reference("mcse", ary, method="sd", **axes),
        "ess_bulk": reference("ess", ary, method="bulk", **axes),
        "ess_tail": reference("ess", ary, **tail, **axes),
        "r_hat": reference("rhat", ary, method="rank", **axes),
    }


def assert_summary_matches(ary: np.ndarray, **axes: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = kernels.summary_stats(ary, **axes)
    want = summary_reference(ary, **axes)
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=RTOL, atol=0, equal_nan=True, err_msg=key)


@pytest.mark.parametrize("name", list(DATASETS))
def test_summary_stats_matches_arviz_stats(name: str) -> None:
    assert_summary_matches(DATASETS[name])


@pytest.mark.parametrize(
    ("name", "used", "unused"),
    [
        ("normal_2x5x4x200", {0}, {"fft"}),
        ("ar1_phi06", {0, 6}, set()),
        ("ar1_phi095", {"fft"}, set()),
    ],
)
def test_truncation_stages_are_exercised(
    monkeypatch: pytest.MonkeyPatch, name: str, used: set[Any], unused: set[Any]
) -> None:
    """Independent draws stop within the first direct lags; autocorrelation needs more/FFT."""
    seen: set[Any] = set()
    from hmdiag.diagnose.kernels import _blocks

    direct, fft = _blocks._acov_direct, _blocks._acov_fft

    def spy_direct(centered: np.ndarray, start: int, stop: int) -> np.ndarray:
        seen.add(start)
        return direct(centered, start, stop)

    def spy_fft(centered: np.ndarray) -> np.ndarray:
        seen.add("fft")
        return fft(centered)

    monkeypatch.setattr(_blocks, "_acov_direct", spy_direct)
    monkeypatch.setattr(_blocks, "_acov_fft", spy_fft)
    assert_matches("ess", DATASETS[name], method="bulk")
    assert used <= seen
    assert not unused & seen


def test_axes_and_single_chain() -> None:
    rng = np.random.default_rng(3)
    draws_first = rng.standard_normal((4, 150, 2, 3))  # (chain, draw, *params), as in xarray
    for kind, kwargs in (("rhat", {}), ("ess", {"method": "tail", "prob": 0.05}), ("mcse", {})):
        assert_matches(kind, draws_first, chain_axis=0, draw_axis=1, **kwargs)
    assert_summary_matches(draws_first, chain_axis=0, draw_axis=1)
    params_between = np.moveaxis(draws_first, 1, -1)  # (chain, *params, draw)
    assert_matches("ess", params_between, chain_axis=0, draw_axis=-1, method="bulk")
    single = rng.standard_normal((3, 120))  # no chain axis
    assert_matches("ess", single, chain_axis=None, draw_axis=-1, method="bulk")
    assert_matches("mcse", single, chain_axis=None, draw_axis=-1, method="sd")


def test_chunking_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    ary = DATASETS["ar1_phi06"]
    whole = kernels.summary_stats(ary, workers=1)
    monkeypatch.setattr(kernels, "_CHUNK_VALUES", 2 * ary.shape[-2] * ary.shape[-1])
    for workers in (1, 3):
        chunked = kernels.summary_stats(ary, workers=workers)
        for key, value in whole.items():
            np.testing.assert_array_equal(chunked[key], value, err_msg=key)


def test_summary_stats_matches_arviz_stats_summary() -> None:
    """The defaults (tail quantiles, sd ddof) are those of arviz-stats' own summary table."""
    import arviz_stats as azs

    rng = np.random.default_rng(11)
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw"), ar1(rng, (4, 300), 0.8)),
            "theta": (("chain", "draw", "school"), rng.standard_t(3, (4, 300, 5))),
        }
    )
    table = azs.summary(
        xr.DataTree.from_dict({"posterior": posterior}), kind="all", round_to="none", fmt="xarray"
    )
    for var in posterior.data_vars:
        got = kernels.summary_stats(posterior[var].values, chain_axis=0, draw_axis=1)
        for key, value in got.items():
            want = table[var].sel(summary=key).values
            np.testing.assert_allclose(value, want, rtol=RTOL, err_msg=f"{var} {key}")


def fixture_runs() -> list[Path]:
    return sorted(FIXTURES.rglob("*.nc")) if FIXTURES.is_dir() else []


@pytest.mark.parametrize(
    "path", fixture_runs() or [pytest.param(None, marks=pytest.mark.skip("no .nc fixture"))]
)
def test_real_runs(path: Path) -> None:
    try:
        tree = xr.open_datatree(path)
    except (ImportError, ValueError) as err:  # e.g. h5netcdf without h5py
        pytest.skip(f"cannot open {path.name}: {err}")
    with tree:
        posterior = tree["posterior"].to_dataset()
        assert posterior.data_vars
        for var in posterior.data_vars:
            ary = posterior[var].transpose("chain", "draw", ...).values
            for kind, kwargs in (
                ("rhat", {}),
                ("ess", {"method": "bulk"}),
                ("ess", {"method": "tail", "prob": 0.05}),
                ("mcse", {"method": "sd"}),
            ):
                assert_matches(kind, ary, chain_axis=0, draw_axis=1, **kwargs)
            assert_summary_matches(ary, chain_axis=0, draw_axis=1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_params=st.integers(1, 3),
    n_chains=st.integers(1, 4),
    n_draws=st.integers(4, 41),
    kind=st.sampled_from(["normal", "ar1", "ties"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_random_shapes(
    n_params: int, n_chains: int, n_draws: int, kind: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    shape = (n_params, n_chains, n_draws)
    if kind == "normal":
        ary = rng.standard_normal(shape)
    elif kind == "ar1":
        ary = ar1(rng, shape, float(rng.uniform(-0.9, 0.99)))
    else:
        ary = rng.integers(0, 4, shape).astype(float)
    assert_summary_matches(ary)
    assert_matches("ess", ary, method="mean")
    assert_matches("mcse", ary, method="median")
    for prob in (0.0, 0.05, 0.11, 0.5, 0.89, 1.0, float(rng.random())):
        flat = np.sort(ary.reshape(n_params, -1), axis=-1)
        np.testing.assert_array_equal(
            _blocks._quantile_sorted(flat, prob), np.quantile(flat, prob, axis=-1)
        )


@pytest.mark.parametrize("shape", [(0, 4, 100), (3, 0, 4, 100), (4, 0)])
def test_empty_inputs_keep_their_shape(shape: tuple[int, ...]) -> None:
    ary = np.zeros(shape)
    for kind in ("rhat", "ess", "mcse"):
        assert_matches(kind, ary)
    stats = kernels.summary_stats(ary)
    assert tuple(stats) == kernels.SUMMARY_KEYS
    assert all(value.shape == shape[:-2] for value in stats.values())


def test_invalid_method_lists_valid_ones() -> None:
    ary = DATASETS["normal_3x4x200"]
    for func, valid in (
        (kernels.rhat, kernels.RHAT_METHODS),
        (kernels.ess, kernels.ESS_METHODS),
        (kernels.mcse, kernels.MCSE_METHODS),
    ):
        with pytest.raises(ValueError, match="must be one of") as err:
            func(ary, method="nope")
        assert all(repr(m) in str(err.value) for m in valid)
    with pytest.raises(TypeError, match="prob"):
        kernels.ess(ary, method="quantile")
    with pytest.raises(TypeError, match="prob"):
        kernels.mcse(ary, method="quantile")


@pytest.mark.parametrize("prob", [0.5, 0.89, 0.94])
@pytest.mark.parametrize("shape", [(4, 200), (3, 2, 101), (2, 5, 4, 7)])
def test_hdi_matches_arviz_stats_nearest(prob: float, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 100 + int(prob * 100))
    ary = rng.standard_t(df=3, size=shape)
    ary[..., ::5] = np.round(ary[..., ::5], 1)  # ties
    expected = np.asarray(array_stats.hdi(ary, prob, axis=(-2, -1)))
    np.testing.assert_array_equal(kernels.hdi(ary, prob), expected)
    with_nan = ary.copy()
    with_nan.reshape(-1, *shape[-2:])[0, 0, 0] = np.nan
    assert np.isnan(kernels.hdi(with_nan, prob).reshape(-1, 2)[0]).all()


def _subset_reference(rows: np.ndarray, subset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import ks_2samp

    ks = np.array([ks_2samp(r[subset], r[~subset]).statistic for r in rows])
    below = np.array([np.mean(r[~subset] <= np.median(r[subset])) for r in rows])
    return ks, below


@pytest.mark.parametrize("share", [0.01, 0.3, 0.5, 0.8])
def test_subset_separation_matches_scipy_ks_2samp(share: float) -> None:
    """Divergent draws as a small, middling and majority subset (the majority case searches
    with the other group), with ties within and across the groups."""
    rng = np.random.default_rng(11)
    draws = rng.normal(size=(3, 2, 150, 6))  # (chain, draw) axes 1 and 2 of 4
    draws[0, :, :, 1] = np.round(draws[0, :, :, 1], 1)
    draws[:, :, ::2, 2] = draws[:, :, 1::2, 2]
    draws[1, :, :, 3] = np.round(draws[1, :, :, 3])
    subset = rng.random(300) < share
    subset[:2] = [True, False]
    got = kernels.subset_separation(draws, subset, chain_axis=1, draw_axis=2)
    rows = np.moveaxis(draws, (1, 2), (-2, -1)).reshape(18, 300)
    ks, below = _subset_reference(rows, subset)
    np.testing.assert_allclose(got["ks"].reshape(-1), ks, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got["median_quantile"].reshape(-1), below, rtol=0, atol=1e-15)
    assert got["ks"].shape == (3, 6)


def test_subset_separation_degenerate_rows_and_transform() -> None:
    rng = np.random.default_rng(12)
    rows = np.exp(rng.normal(size=(5, 200)))
    rows[1] = 2.0  # constant
    rows[2, 7] = np.nan
    rows[3, 9] = np.inf
    subset = np.zeros(200, dtype=bool)
    subset[rng.choice(200, 10, replace=False)] = True
    got = kernels.subset_separation(rows, subset, chain_axis=None, transform=np.log)
    assert np.isnan(got["ks"][1:4]).all() and np.isnan(got["median_quantile"][1:4]).all()
    ks, below = _subset_reference(np.log(rows[[0, 4]]), subset)
    np.testing.assert_allclose(got["ks"][[0, 4]], ks, atol=1e-15)
    np.testing.assert_allclose(got["median_quantile"][[0, 4]], below, atol=1e-15)
    with pytest.raises(ValueError, match="199 flags for 200 draws"):
        kernels.subset_separation(rows, subset[1:], chain_axis=None)
    with pytest.raises(ValueError, match="at least one draw"):
        kernels.subset_separation(rows, np.ones(200, dtype=bool), chain_axis=None)


@pytest.mark.parametrize("n_draw", [200, 201, 3])
def test_summary_stats_subset_equals_subset_separation(n_draw: int) -> None:
    """The summary's sort serves the subset too (odd draw counts and too-short chains
    included), and the other statistics do not change."""
    rng = np.random.default_rng(13)
    draws = rng.normal(size=(40, 4, n_draw))
    subset = rng.random(4 * n_draw) < 0.1
    subset[:2] = [True, False]
    plain = kernels.summary_stats(draws, hdi_prob=0.9)
    both = kernels.summary_stats(draws, hdi_prob=0.9, subset=subset, subset_transform=np.tanh)
    alone = kernels.subset_separation(draws, subset, transform=np.tanh)
    np.testing.assert_array_equal(both.pop("subset_ks"), alone["ks"])
    np.testing.assert_array_equal(both.pop("subset_median_quantile"), alone["median_quantile"])
    assert both.keys() == plain.keys()
    for key in plain:
        np.testing.assert_array_equal(both[key], plain[key])
