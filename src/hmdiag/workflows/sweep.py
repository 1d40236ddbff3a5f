"""``hmdiag sweep``: a grid of spec variants, each fitted as one task on Dask distributed.

The grid and the spec edits are pure; ``run_variant`` is the task a worker runs; the
manifest (written atomically after every finished task) lets a re-run skip finished work.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hmdiag.errors import HmdiagError, SpecError
from hmdiag.spec import LoadedSpec, load_spec, spec_to_raw, spec_to_yaml, validate_spec

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Variant:
    """One cell of the grid: a config with some settings changed and a seed."""

    id: str
    config: str
    settings: dict[str, Any]
    spec_text: str
    spec_path: str


@dataclass
class Outcome:
    """What a finished (or failed) variant reports."""

    id: str
    config: str
    settings: dict[str, Any]
    status: str
    run: str | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``sampler.target_accept=0.8,0.9`` -> (key, [0.8, 0.9]); values read as YAML scalars."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise HmdiagError(
            f"--set {text!r}: write KEY=V1,V2,... e.g. sampler.target_accept=0.8,0.9,0.99"
        )
    parsed = [yaml.safe_load(v.strip()) for v in values.split(",")]
    return key.strip(), parsed


def _assign(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    node: Any = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError(
                    source, [f"--set {dotted}: {part!r} is not an index of a list of {len(node)}"]
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise SpecError(
                source, [f"--set {dotted}: {'.'.join(parts[:i])} is not a mapping or list"]
            )


def _variant_id(config: str, settings: dict[str, Any]) -> str:
    name = Path(config).stem
    parts = [f"{k.split('.')[-1]}={v}" for k, v in settings.items()]
    digest = hashlib.sha256(
        json.dumps([config, settings], sort_keys=True, default=str).encode()
    ).hexdigest()[:6]
    label = "_".join([name, *parts]) if parts else name
    safe = "".join(c if c.isalnum() or c in "-_=." else "-" for c in label)
    return f"{safe}-{digest}"


def expand(configs: list[Path], sets: list[str], seeds: int = 1) -> list[Variant]:
    """The cartesian grid of variants, each validated now, before anything runs."""
    parsed = [parse_set(s) for s in sets]
    if seeds < 1:
        raise HmdiagError(f"--seeds must be at least 1, got {seeds}")
    keys = [k for k, _ in parsed]
    if len(set(keys)) != len(keys):
        raise HmdiagError("each --set key may appear once")
    variants: list[Variant] = []
    for config in configs:
        loaded = load_spec(config)
        base_seed = loaded.spec.sampler.seed if loaded.spec.sampler.seed is not None else 0
        for combo in itertools.product(*[values for _, values in parsed]):
            for seed_index in range(seeds):
                settings = dict(zip(keys, combo, strict=True))
                if seeds > 1:
                    settings["sampler.seed"] = base_seed + seed_index
                raw = spec_to_raw(loaded.spec)
                for key, value in settings.items():
                    _assign(raw, key, value, str(config))
                spec = validate_spec(raw, f"{config} with {settings}")
                variants.append(
                    Variant(
                        id=_variant_id(str(config), settings),
                        config=str(config),
                        settings=settings,
                        spec_text=spec_to_yaml(spec),
                        spec_path=str(Path(config).resolve()),
                    )
                )
    return variants


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a sweep folder (empty when there is none)."""
    path = folder / MANIFEST
    if not path.exists():
        return {"variants": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HmdiagError(
            f"{path}: cannot read the sweep manifest: {exc}", "delete it to start the sweep afresh"
        ) from None


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (a re-run trusts it)."""
    from hmdiag.runs.files import write_atomically

    text = json.dumps(manifest, indent=2, default=str)
    write_atomically(
        folder / MANIFEST, lambda tmp: tmp.write_text(text), force=True, suffix=".json"
    )


def finished(manifest: dict[str, Any], variant: Variant, folder: Path) -> bool:
    """Whether a variant's run is done and still on disk."""
    entry = manifest["variants"].get(variant.id)
    return bool(entry and entry.get("status") == "done" and (folder / f"{variant.id}.nc").exists())


def run_variant(variant: Variant, folder: str) -> Outcome:
    """Fit one variant and save its run (the task a Dask worker executes)."""
    import warnings

    from hmdiag.diagnose.report import assess, thresholds_from_checks
    from hmdiag.runs import save_run
    from hmdiag.workflows.fit import fit

    out = Path(folder) / f"{variant.id}.nc"
    try:
        raw = yaml.safe_load(variant.spec_text)
        spec = validate_spec(raw, variant.config)
        # Workers are daemonic processes, which may not start PyMC's chain processes.
        if spec.sampler.backend == "pymc":
            raw["sampler"]["cores"] = 1
            spec = validate_spec(raw, variant.config)
        loaded = LoadedSpec(spec=spec, path=Path(variant.spec_path), text=variant.spec_text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(loaded)
            save_run(result.idata, out, force=True)
            report = assess(
                result.idata, result.info, thresholds_from_checks(spec.checks), source=str(out)
            )
    except Exception as exc:  # one failed task is recorded, the others go on
        return Outcome(
            variant.id,
            variant.config,
            variant.settings,
            "failed",
            error=f"{type(exc).__name__}: {exc}",
        )
    d = report.diagnosis
    summary = {
        "verdict": report.verdict.label,
        "divergences": d.divergences_total,
        "max_rhat": max((p.r_hat for p in d.parameters), default=None),
        "min_ess_bulk": min((p.ess_bulk for p in d.parameters), default=None),
        "ess_per_second": d.min_ess_per_second,
        "seconds": result.info.wall_seconds,
        "failed_checks": [c.name for c in report.verdict.failed()],
    }
    return Outcome(
        variant.id, variant.config, variant.settings, "done", run=str(out), summary=summary
    )


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    """JSON-ready form of an outcome."""
    from hmdiag.diagnose.report import json_ready

    return json_ready(asdict(outcome))
