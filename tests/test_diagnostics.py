"""Each check failing and passing on hand-built InferenceData; numbers against ArviZ."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hmdiag.diagnose.checks import Thresholds, next_target_accept
from hmdiag.diagnose.diagnosis import diagnose
from hmdiag.diagnose.summary import localize_divergences
from hmdiag.diagnose.verdict import judge
from hmdiag.runs import RunInfo, read_info

from .conftest import CONFIGS, healthy_stats, make_idata

CHAINS, DRAWS = 4, 500


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def iid(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=(CHAINS, DRAWS, *shape))


def judge_idata(idata: Any, thresholds: Thresholds | None = None, **info: Any) -> tuple[Any, Any]:
    d = diagnose(idata, RunInfo(label="t", **info))
    return d, judge(d, thresholds or Thresholds())


def status(verdict: Any, name: str) -> str:
    return next(c.status for c in verdict.checks if c.name == name)


def test_healthy_run_passes_every_check(rng: np.random.Generator) -> None:
    idata = make_idata(
        pytest.importorskip("arviz"), {"mu": iid(rng), "theta": iid(rng, 3)}, healthy_stats(rng)
    )
    d, v = judge_idata(idata, target_accept=0.8)
    assert v.passed and v.label == "pass" and v.advice == []
    assert {c.name: c.status for c in v.checks} == {
        "divergences": "pass",
        "tree_depth": "pass",
        "e_bfmi": "pass",
        "r_hat": "pass",
        "ess_bulk": "pass",
        "ess_tail": "pass",
        "acceptance": "pass",
        # no observed data or log-likelihood in this hand-made run
        "model_fit": "n/a",
    }
    assert v.not_assessed == ["model_fit"]
    assert [p.name for p in d.parameters] == ["mu", "theta[0]", "theta[1]", "theta[2]"]
    assert d.divergences_total == 0 and d.hotspots == []


def test_summary_numbers_are_arviz_unrounded(az: Any, rng: np.random.Generator) -> None:
    idata = make_idata(az, {"mu": iid(rng) * 3 + 1}, healthy_stats(rng))
    d, _ = judge_idata(idata)
    # ArviZ 1.x defaults to an ETI; hmdiag asks for the HDI its fields are named after.
    row = az.summary(idata, ci_prob=0.89, ci_kind="hdi", round_to="none").loc["mu"]
    p = d.parameters[0]
    assert (p.mean, p.sd, p.hdi_low, p.hdi_high) == (
        row["mean"],
        row["sd"],
        row["hdi89_lb"],
        row["hdi89_ub"],
    )
    eti = az.summary(idata, ci_prob=0.89, ci_kind="eti", round_to="none").loc["mu"]
    assert p.hdi_low != eti["eti89_lb"]
    assert (p.ess_bulk, p.r_hat, p.mcse_mean) == (row["ess_bulk"], row["r_hat"], row["mcse_mean"])
    # Tail ESS at the 5% and 95% quantiles (Vehtari et al. 2021, ArviZ 0.x, Stan), not at
    # arviz-stats 1.x's default (1 - ci_prob, ci_prob) = (0.11, 0.89).
    tail = float(az.ess(idata, method="tail", prob=(0.05, 0.95))["mu"])
    assert p.ess_tail == pytest.approx(tail, rel=1e-12)
    assert p.ess_tail != pytest.approx(float(row["ess_tail"]), rel=1e-3)
    assert p.mean != round(p.mean, 3)  # unrounded


def test_divergences_fail_with_per_chain_counts(az: Any, rng: np.random.Generator) -> None:
    stats = healthy_stats(rng)
    stats["diverging"][1, [3, 7, 9]] = True
    stats["diverging"][3, 0] = True
    d, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats))
    check = next(c for c in v.checks if c.name == "divergences")
    assert check.status == "fail" and check.value == 4 and check.threshold == 0
    assert [c.divergences for c in d.chain_stats] == [0, 3, 0, 1]
    assert d.divergence_fraction == pytest.approx(4 / (CHAINS * DRAWS))
    assert "per chain: 0, 3, 0, 1" in check.message
    _, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats), Thresholds(max_divergences=4))
    assert status(v, "divergences") == "pass"


def test_tree_depth_hits_from_flag_and_from_depth(az: Any, rng: np.random.Generator) -> None:
    stats = healthy_stats(rng)
    stats["reached_max_treedepth"][0, :5] = True
    d, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats))
    assert status(v, "tree_depth") == "fail" and d.treedepth_hits_total == 5
    assert [c.treedepth_hits for c in d.chain_stats] == [5, 0, 0, 0]
    # Stan/NumPyro-style: only the depth; hmdiag assumes the common default of 10.
    stats = healthy_stats(rng)
    del stats["reached_max_treedepth"]
    stats["tree_depth"][2, :2] = 10
    d, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats))
    assert d.treedepth_hits_total == 2 and d.max_treedepth == 10 and d.max_treedepth_assumed
    assert "assumed" in next(c.message for c in v.checks if c.name == "tree_depth")


def test_nutpie_stat_names_are_normalized(az: Any, rng: np.random.Generator) -> None:
    stats = healthy_stats(rng)
    nutpie_stats = {
        "diverging": stats["diverging"],
        "depth": stats["tree_depth"],
        "maxdepth_reached": stats["reached_max_treedepth"],
        "mean_tree_accept": stats["acceptance_rate"],
        "step_size": stats["step_size"],
        "energy": stats["energy"],
    }
    posterior = {"mu": iid(rng), "sigma_log__": iid(rng)}
    d_pymc, v_pymc = judge_idata(make_idata(az, posterior, stats))
    d_nutpie, v_nutpie = judge_idata(make_idata(az, posterior, nutpie_stats))
    assert [(c.name, c.status, c.value) for c in v_pymc.checks] == [
        (c.name, c.status, c.value) for c in v_nutpie.checks
    ]
    assert d_nutpie.chain_stats == d_pymc.chain_stats
    assert [p.name for p in d_nutpie.parameters] == ["mu"]  # transformed variable hidden
    assert d_nutpie.hidden_variables == ["sigma_log__"]


def test_low_bfmi_fails_and_matches_arviz(az: Any, rng: np.random.Generator) -> None:
    stats = healthy_stats(rng)
    stats["energy"][0] = rng.normal(size=DRAWS).cumsum()  # a random walk: tiny E-BFMI
    idata = make_idata(az, {"mu": iid(rng)}, stats)
    d, v = judge_idata(idata)
    assert status(v, "e_bfmi") == "fail"
    np.testing.assert_allclose([c.bfmi for c in d.chain_stats], az.bfmi(idata)["energy"].values)
    assert d.chain_stats[0].bfmi < 0.3 < min(c.bfmi for c in d.chain_stats[1:])
    assert any(a.remedy == "non_center" for a in v.advice)


def test_rhat_fails_when_chains_disagree(az: Any, rng: np.random.Generator) -> None:
    draws = iid(rng)
    draws[0] += 3.0
    idata = make_idata(az, {"mu": draws, "ok": iid(rng)}, healthy_stats(rng))
    _d, v = judge_idata(idata)
    check = next(c for c in v.checks if c.name == "r_hat")
    assert check.status == "fail" and check.worst == "mu"
    assert check.value == pytest.approx(float(az.rhat(idata)["mu"]))
    assert any("rank plot of `mu`" in a.action for a in v.advice)
    _, v = judge_idata(idata, Thresholds(max_rhat=5.0))
    assert status(v, "r_hat") == "pass"


def test_ess_fails_for_sticky_chains_with_run_longer_advice(
    az: Any, rng: np.random.Generator
) -> None:
    sticky = np.empty((CHAINS, DRAWS))
    sticky[:, 0] = rng.normal(size=CHAINS)
    for t in range(1, DRAWS):  # AR(1) with rho 0.97
        sticky[:, t] = 0.97 * sticky[:, t - 1] + rng.normal(scale=0.25, size=CHAINS)
    idata = make_idata(az, {"slow": sticky}, healthy_stats(rng))
    _d, v = judge_idata(idata)
    check = next(c for c in v.checks if c.name == "ess_bulk")
    assert check.status == "fail" and check.threshold == 400
    assert check.value == pytest.approx(float(az.ess(idata, method="bulk")["slow"]))
    advice = next(a for a in v.advice if a.remedy == "more_draws")
    assert "draws 500 ->" in advice.action
    _, v = judge_idata(idata, Thresholds(min_ess_per_chain=1))
    assert status(v, "ess_bulk") == "pass"


def test_missing_sample_stats_degrade_to_not_available(az: Any, rng: np.random.Generator) -> None:
    _, v = judge_idata(make_idata(az, {"mu": iid(rng)}))
    statuses = {c.name: c.status for c in v.checks}
    assert (
        statuses["divergences"]
        == statuses["tree_depth"]
        == statuses["e_bfmi"]
        == statuses["acceptance"]
        == "n/a"
    )
    assert statuses["r_hat"] == "pass" and v.passed
    assert next(c for c in v.checks if c.name == "divergences").passed is None
    stats = {"diverging": np.zeros((CHAINS, DRAWS), dtype=bool)}
    _d, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats))
    assert status(v, "divergences") == "pass" and status(v, "e_bfmi") == "n/a"


def test_constant_parameter_does_not_crash(az: Any, rng: np.random.Generator) -> None:
    _d, v = judge_idata(
        make_idata(az, {"mu": iid(rng), "fixed": np.ones((CHAINS, DRAWS))}, healthy_stats(rng))
    )
    assert status(v, "r_hat") == "pass"


def test_acceptance_mismatch_is_a_warning(az: Any, rng: np.random.Generator) -> None:
    stats = healthy_stats(rng)
    stats["acceptance_rate"][2] = 0.55
    _, v = judge_idata(make_idata(az, {"mu": iid(rng)}, stats), target_accept=0.8)
    check = next(c for c in v.checks if c.name == "acceptance")
    assert check.status == "warn" and "chain 2: 0.55" in check.message
    assert v.passed  # a warning alone does not fail the run


def funnel_idata(az: Any, rng: np.random.Generator) -> Any:
    """Eight-schools-like draws where divergences sit at small tau."""
    log_tau = rng.normal(0.5, 1.0, size=(CHAINS, DRAWS))
    tau = np.exp(log_tau)
    theta = rng.normal(size=(CHAINS, DRAWS, 8)) * tau[..., None]
    mu = rng.normal(size=(CHAINS, DRAWS))
    stats = healthy_stats(rng)
    stats["diverging"] = log_tau < np.quantile(log_tau, 0.04)
    return make_idata(az, {"mu": mu, "tau": tau, "theta": theta}, stats)


def test_localization_puts_the_scale_first_and_calls_the_funnel(
    az: Any, rng: np.random.Generator
) -> None:
    idata = funnel_idata(az, rng)
    hotspots = localize_divergences(idata, ["mu", "tau", "theta"])
    # Without the model's record the transform is unknown: never guessed from positive values.
    assert hotspots[0].parameter == "tau" and hotspots[0].funnel
    assert {h.transform for h in hotspots} == {"unknown"}
    assert hotspots[0].quantile < 0.05
    assert all(h.score <= hotspots[0].score for h in hotspots)
    assert not any(h.funnel for h in hotspots[1:])
    _, v = judge_idata(idata)
    assert v.advice[0].remedy == "non_center" and "`tau`" in v.advice[0].action + v.advice[0].reason


def test_localization_with_known_group_terms_names_the_group(
    az: Any, rng: np.random.Generator
) -> None:
    idata = funnel_idata(az, rng)
    terms = [
        {
            "factor": "school",
            "effect": "theta",
            "scale": "tau",
            "offset": None,
            "parameterization": "centered",
            "pooling": "partial",
            "levels": 8,
            "smallest_level": 1,
        }
    ]
    _d, v = judge_idata(
        idata, group_terms=terms, free_variables=["mu", "tau", "theta"], target_accept=0.8
    )
    first = v.advice[0]
    assert first.remedy == "non_center" and first.target == "school"
    assert "Reparameterize group `theta` (school) as non_centered" in first.action
    assert "funnel" in first.reason
    # The funnel explains the divergences: smaller steps are not advised on top of it.
    assert not any(a.remedy == "raise_target_accept" for a in v.advice)
    assert [p.kind for p in v.pathologies][:1] == ["funnel"]


def test_no_funnel_when_divergences_are_elsewhere(az: Any, rng: np.random.Generator) -> None:
    idata = funnel_idata(az, rng)
    mu = idata.posterior["mu"].values
    idata.sample_stats["diverging"].values[:] = mu > np.quantile(mu, 0.97)
    hotspots = localize_divergences(idata, ["mu", "tau", "theta"])
    assert hotspots[0].parameter == "mu" and not any(h.funnel for h in hotspots)


def test_var_filter_restricts_parameters(az: Any, rng: np.random.Generator) -> None:
    idata = make_idata(az, {"mu": iid(rng), "theta": iid(rng, 2)}, healthy_stats(rng))
    d = diagnose(idata, RunInfo(label="t"), var_names=["theta"])
    assert [p.name for p in d.parameters] == ["theta[0]", "theta[1]"]
    from hmdiag.errors import HmdiagError

    with pytest.raises(HmdiagError, match="--var nope not in the posterior") as info:
        diagnose(idata, RunInfo(label="t"), var_names=["theta", "nope"])
    assert info.value.hint == "variables are: mu, theta"


def test_target_accept_ladder() -> None:
    assert [next_target_accept(x) for x in (None, 0.8, 0.9, 0.95, 0.99)] == [
        0.9,
        0.9,
        0.95,
        0.99,
        None,
    ]


def test_centered_eight_localizes_tau(az: Any) -> None:
    idata = az.load_arviz_data("centered_eight")
    d, v = judge_idata(idata)
    assert d.divergences_total == int(idata.sample_stats["diverging"].sum())
    assert d.hotspots[0].parameter == "tau" and d.hotspots[0].funnel
    assert not v.passed and v.advice[0].remedy == "non_center"
    info = read_info(idata, "centered_eight")
    # ArviZ 1.x's bundled copy was sampled with PyMC 5.20 in 3.16 s.
    assert info.inference_library == "pymc" and info.sampling_seconds == pytest.approx(
        3.159, abs=0.01
    )


def test_localization_matches_a_per_parameter_scipy_computation(
    az: Any, rng: np.random.Generator
) -> None:
    from scipy.stats import ks_2samp

    idata = funnel_idata(az, rng)
    transforms = {"mu": "identity", "tau": "log", "theta": "identity"}
    hotspots = localize_divergences(idata, ["mu", "tau", "theta"], transforms=transforms)
    mask = idata.sample_stats["diverging"].values.reshape(-1)
    by_name = {h.parameter: h for h in hotspots}
    assert len(by_name) == 10 and [h.parameter for h in hotspots][:1] == ["tau"]
    for name, values in [("tau", idata.posterior["tau"].values), ("theta[3]", None)]:
        flat = (
            values.reshape(-1)
            if values is not None
            else idata.posterior["theta"].values[..., 3].reshape(-1)
        )
        moved = np.log(flat) if name == "tau" else flat
        expected = ks_2samp(moved[mask], moved[~mask]).statistic
        assert by_name[name].score == pytest.approx(expected, abs=1e-12)
        quantile = np.mean(moved[~mask] <= np.median(moved[mask]))
        assert by_name[name].quantile == pytest.approx(quantile, abs=1e-12)
    assert by_name["theta[3]"].transform == "identity" and by_name["tau"].transform == "log"


def test_an_always_positive_intercept_keeps_the_models_transform(
    az: Any, rng: np.random.Generator
) -> None:
    """An intercept whose draws are all positive is an identity parameter, not a log one."""
    from hmdiag.diagnose.summary import run_transforms

    idata = funnel_idata(az, rng)
    idata.posterior["mu"] = idata.posterior["mu"] + 50.0
    spec_text = (CONFIGS / "mme4.yaml").read_text().replace("a_bar", "mu")
    info = RunInfo(label="t", spec_text=spec_text)
    transforms = run_transforms(info, [])
    assert transforms["mu"] == "identity" and transforms["sigma"] == "log"
    hotspots = localize_divergences(idata, ["mu", "tau"], {"tau"}, transforms)
    assert {h.parameter: h.transform for h in hotspots} == {"mu": "identity", "tau": "unknown"}
    recorded = RunInfo(label="t", param_transforms={"mu": "identity", "tau": "log"})
    assert run_transforms(recorded, []) == {"mu": "identity", "tau": "log"}
    assert run_transforms(RunInfo(label="t"), ["tau_log__", "p_logodds__"]) == {
        "tau": "log",
        "p": "logit",
    }


def test_large_runs_are_summarized_by_the_kernels_with_arviz_numbers(
    az: Any, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From KERNEL_MIN_PARAMETERS elements on, hmdiag.diagnose.kernels gives arviz-stats' numbers."""
    from hmdiag.diagnose.summary import KERNEL_MIN_PARAMETERS, summarize_parameters

    sticky = np.empty((CHAINS, DRAWS, 30))
    sticky[:, 0] = rng.normal(size=(CHAINS, 30))
    for t in range(1, DRAWS):  # AR(1): exercises the autocorrelation truncation
        sticky[:, t] = 0.9 * sticky[:, t - 1] + rng.normal(scale=0.4, size=(CHAINS, 30))
    posterior = {
        "mu": iid(rng) * 2 + 1,
        "theta": iid(rng, KERNEL_MIN_PARAMETERS),
        "slow": sticky,
        "tau": np.exp(iid(rng)),
    }
    idata = make_idata(az, posterior, healthy_stats(rng))
    names = ["mu", "theta", "slow", "tau"]
    by_arviz = summarize_parameters(idata, names, 0.89, engine="arviz")
    by_kernel = summarize_parameters(idata, names, 0.89, engine="kernel")
    from hmdiag.diagnose import summary as diagnostics

    calls = []
    real = diagnostics.summarize_with_kernels
    monkeypatch.setattr(
        diagnostics,
        "summarize_with_kernels",
        lambda *args: calls.append(len(args[1])) or real(*args),
    )
    assert summarize_parameters(idata, names, 0.89) == by_kernel
    assert calls == [len(names)]  # "auto" took the kernel path at this size
    assert [p.name for p in by_kernel] == [p.name for p in by_arviz]
    assert by_kernel[1].name == "theta[0]" and by_kernel[1].variable == "theta"
    for fast, reference in zip(by_kernel, by_arviz, strict=True):
        assert (fast.hdi_low, fast.hdi_high) == (reference.hdi_low, reference.hdi_high)
        for field in ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"):
            assert getattr(fast, field) == pytest.approx(getattr(reference, field), rel=1e-8)
    small = summarize_parameters(idata, ["mu", "tau"], 0.89)
    assert small == summarize_parameters(idata, ["mu", "tau"], 0.89, engine="arviz")
    assert calls == [len(names)]  # two elements: arviz-stats, not the kernel
    with pytest.raises(ValueError, match="engine must be"):
        summarize_parameters(idata, names, 0.89, engine="fast")


def test_ks_distances_match_scipy_per_row_with_ties(rng: np.random.Generator) -> None:
    from scipy.stats import ks_2samp

    from hmdiag.diagnose.summary import ks_distances

    rows = rng.normal(size=(9, 400))
    rows[2] = np.round(rows[2], 1)  # many ties across the two samples
    rows[4] = np.round(rows[4])
    rows[6, ::2] = rows[6, 1::2]  # exact duplicates
    mask = rng.random(400) < 0.07
    expected = [ks_2samp(r[mask], r[~mask]).statistic for r in rows]
    np.testing.assert_allclose(ks_distances(rows, mask), expected, rtol=0, atol=1e-15)
    shifted = rows.copy()
    shifted[:, mask] += 10.0  # complete separation
    assert np.all(ks_distances(shifted, mask) == 1.0)
