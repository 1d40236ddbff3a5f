"""Advice in the language of the tool that made the run: its settings' names and syntax.

A run fitted by hmdiag is changed in its spec (``sampler: target_accept: 0.95``); a CmdStan
run on CmdStan's command line (``adapt delta=0.95``); a cmdstanpy fit, a PyMC, nutpie or
NumPyro run in that library's call. Each sampler setting a remedy can name is listed once per
tool, from the tool's own documentation:

- CmdStan guide, "MCMC Sampling" (``num_samples``, ``num_warmup``, ``adapt delta``,
  ``max_depth``, ``metric``; ``num_chains`` from 2.28);
- cmdstanpy ``CmdStanModel.sample`` (``iter_sampling``, ``iter_warmup``, ``adapt_delta``,
  ``max_treedepth``, ``metric``, ``chains``);
- PyMC ``pm.sample`` (``draws``, ``tune``, ``chains``, ``target_accept``, and
  ``nuts={"max_treedepth": ...}``);
- nutpie ``nutpie.sample`` (``draws``, ``tune``, ``chains``, ``target_accept``, ``maxdepth``,
  ``low_rank_modified_mass_matrix``);
- NumPyro ``NUTS`` and ``MCMC`` (``target_accept_prob``, ``max_tree_depth``, ``dense_mass``,
  ``num_warmup``, ``num_samples``, ``num_chains``).
"""

from __future__ import annotations

from typing import Any

SETTINGS: dict[str, dict[str, str]] = {
    "hmdiag": {
        "target_accept": "sampler: target_accept: {}",
        "tune": "sampler: tune: {}",
        "draws": "sampler: draws: {}",
        "max_treedepth": "sampler: max_treedepth: {}",
        "chains": "sampler: chains: {}",
        "dense": "sampler: mass_matrix: dense; nutpie adapts a low-rank one",
    },
    "cmdstan": {
        "target_accept": "adapt delta={}",
        "tune": "num_warmup={}",
        "draws": "num_samples={}",
        "max_treedepth": "algorithm=hmc engine=nuts max_depth={}",
        "chains": "num_chains={}",
        "dense": "algorithm=hmc metric=dense_e",
    },
    "cmdstanpy": {
        "target_accept": "model.sample(adapt_delta={})",
        "tune": "model.sample(iter_warmup={})",
        "draws": "model.sample(iter_sampling={})",
        "max_treedepth": "model.sample(max_treedepth={})",
        "chains": "model.sample(chains={})",
        "dense": 'model.sample(metric="dense_e")',
    },
    "pymc": {
        "target_accept": "pm.sample(target_accept={})",
        "tune": "pm.sample(tune={})",
        "draws": "pm.sample(draws={})",
        "max_treedepth": 'pm.sample(nuts={{"max_treedepth": {}}})',
        "chains": "pm.sample(chains={})",
        "dense": 'pm.sample(nuts_sampler="nutpie"), whose low-rank mass matrix adapts to it',
    },
    # PyMC 6's pm.sample runs nutpie by default, and records "nutpie": name both calls.
    "nutpie": {
        "target_accept": "pm.sample(target_accept={0}) or nutpie.sample(compiled, "
        "target_accept={0})",
        "tune": "pm.sample(tune={0}) or nutpie.sample(compiled, tune={0})",
        "draws": "pm.sample(draws={0}) or nutpie.sample(compiled, draws={0})",
        "max_treedepth": "nutpie.sample(compiled, maxdepth={0})",
        "chains": "pm.sample(chains={0}) or nutpie.sample(compiled, chains={0})",
        "dense": "nutpie.sample(compiled, low_rank_modified_mass_matrix=True)",
    },
    "numpyro": {
        "target_accept": "NUTS(model, target_accept_prob={})",
        "tune": "MCMC(kernel, num_warmup={})",
        "draws": "MCMC(kernel, num_samples={})",
        "max_treedepth": "NUTS(model, max_tree_depth={})",
        "chains": "MCMC(kernel, num_chains={})",
        "dense": "NUTS(model, dense_mass=True)",
    },
}
# A run whose tool hmdiag does not know: the setting's plain name.
GENERIC = {
    "target_accept": "target acceptance {}",
    "tune": "warmup iterations {}",
    "draws": "draws {}",
    "max_treedepth": "max tree depth {}",
    "chains": "{} chains",
    "dense": "a dense mass matrix",
}
# Library names as runs record them (the ``inference_library`` attribute) -> dialect.
_LIBRARIES = {"pymc": "pymc", "nutpie": "nutpie", "numpyro": "numpyro", "cmdstanpy": "cmdstanpy"}


# What each tool calls the target acceptance rate of step-size adaptation.
TARGET_ACCEPT_NAMES = {
    "cmdstan": "adapt delta",
    "cmdstanpy": "adapt_delta",
    "numpyro": "target_accept_prob",
    "generic": "the target acceptance",
}


def target_accept_name(dialect: str) -> str:
    """``adapt delta`` for CmdStan, ``target_accept`` for hmdiag, PyMC and nutpie."""
    return TARGET_ACCEPT_NAMES.get(dialect, "target_accept")


def dialect_of(info: Any) -> str:
    """The dialect for a run's ``RunInfo``: ``hmdiag`` for its own fits, else the tool that
    wrote it (``cmdstan`` for CSV files, ``cmdstanpy`` for a fit object), else ``generic``."""
    if info.spec_text or info.backend:
        return "hmdiag"
    for name in (info.source_tool, info.inference_library):
        if name and str(name).lower() in SETTINGS:
            return str(name).lower()
        if name and str(name).lower() in _LIBRARIES:
            return _LIBRARIES[str(name).lower()]
    return "generic"


def setting(dialect: str, key: str, value: Any = None) -> str:
    """How the run's tool sets ``key`` (``target_accept``, ``tune``, ``draws``,
    ``max_treedepth``, ``chains``, ``dense``) to ``value``: ``adapt delta=0.95``."""
    template = SETTINGS.get(dialect, GENERIC)[key]
    shown = f"{value:g}" if isinstance(value, float) else value
    return template.format(shown, shown)
