"""CmdStan ``sample`` output (Stan CSV) as a run: header checks, clear refusals, warmup kept out.

cmdstanpy parses CmdStan 2.x files and arviz-base converts them (``from_cmdstanpy``). Before
that, hmdiag reads each file's header and counts its rows itself, so that a file that is not
one chain of one finished run is refused with what it is: ``num_samples = 0``, a run killed in
warmup, a file cut short, chains of different models or settings. CmdStan 1.x files (no
``divergent__``, ``n_leapfrog__`` or ``energy__`` columns), which cmdstanpy cannot read, are
read here with NumPy and converted by ``arviz_base.from_dict``.

The layout is the CmdStan guide's "Stan CSV File Format": ``#`` configuration lines, the header
row, the saved warmup rows (``save_warmup``), the adaptation comments (``# Adaptation
terminated``), the draws, the timing comments.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hmdiag.errors import RunFileError

STAN_CSV_HINT = "pass the output_*.csv files of one `method=sample` run (all its chains)"
# CmdStan's sampler columns -> the run's sample stats (arviz-base's names).
SAMPLER_COLUMNS = {
    "lp__": "lp",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "divergent__": "diverging",
    "energy__": "energy",
}
_CONFIG = re.compile(r"^#\s*([A-Za-z_]+)\s*=\s*(.*?)\s*(\(Default\))?\s*$")


@dataclass(frozen=True)
class StanCsvFile:
    """What one CmdStan output file says of itself (header) and holds (row counts)."""

    path: Path
    config: dict[str, str]
    columns: tuple[str, ...]
    warmup_rows: int
    draw_rows: int
    adaptation_ended: bool

    @property
    def version(self) -> tuple[int, int, int] | None:
        """``(major, minor, patch)`` of Stan, None when the header does not say."""
        parts = [self.config.get(f"stan_version_{p}") for p in ("major", "minor", "patch")]
        if not all(p is not None and p.isdigit() for p in parts):
            return None
        return int(parts[0]), int(parts[1]), int(parts[2])  # type: ignore[arg-type]

    @property
    def version_text(self) -> str:
        """``2.37`` (or ``unknown``) as CmdStan names its releases."""
        return ".".join(map(str, self.version[:2])) if self.version else "unknown"

    def integer(self, key: str) -> int | None:
        """An integer setting of the header (``num_samples``), None when absent."""
        value = self.config.get(key)
        return int(value) if value is not None and re.fullmatch(r"-?\d+", value) else None

    def flag(self, key: str) -> bool:
        """A boolean setting (CmdStan writes ``1``/``0`` before 2.33, ``true``/``false`` after)."""
        return self.config.get(key, "0").lower() in ("1", "true")

    @property
    def algorithm(self) -> str:
        """``nuts``, ``static`` (HMC), or ``fixed_param``, as the file shows it.

        CmdStan runs a model without parameters with the fixed_param sampler whatever the
        command said: 2.27 then writes only ``lp__`` and ``accept_stat__``, 2.33 on every HMC
        column with a NaN step size.
        """
        if self.config.get("algorithm") == "fixed_param" or "stepsize__" not in self.columns:
            return "fixed_param"
        if self.config.get("Step size", "").lower() == "nan":
            return "fixed_param"
        return self.config.get("engine", "nuts")

    @property
    def label(self) -> str:
        """``CmdStan 2.37 (NUTS)``: the tool, its version and the sampler that ran."""
        sampler = {"nuts": "NUTS", "static": "static HMC", "fixed_param": "fixed_param"}
        return f"CmdStan {self.version_text} ({sampler.get(self.algorithm, self.algorithm)})"

    @property
    def expected_warmup_rows(self) -> int:
        """Warmup rows a finished run with ``save_warmup`` writes (0 without it)."""
        if not self.flag("save_warmup") or self.algorithm == "fixed_param":
            return 0
        return math.ceil((self.integer("num_warmup") or 0) / max(1, self.integer("thin") or 1))

    @property
    def expected_draw_rows(self) -> int | None:
        """Post-warmup rows a finished run writes: ``ceil(num_samples / thin)``."""
        samples = self.integer("num_samples")
        return None if samples is None else math.ceil(samples / max(1, self.integer("thin") or 1))


def read_header(path: Path) -> StanCsvFile:
    """Parse a Stan CSV file's configuration and count its warmup and draw rows (no values
    are parsed: a run of any size is read in one pass of its lines)."""
    config: dict[str, str] = {}
    columns: tuple[str, ...] = ()
    warmup = draws = 0
    adapted = False
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("#"):
                    if "Adaptation terminated" in line:
                        adapted = True
                    match = _CONFIG.match(line)
                    if match:
                        key = match.group(1).strip()
                        config.setdefault(key, match.group(2))
                    elif line.startswith("# Step size ="):
                        config.setdefault("Step size", line.split("=", 1)[1].strip())
                    continue
                if not line.strip():
                    continue
                if not columns:
                    columns = tuple(c.strip() for c in line.strip().split(","))
                elif adapted or not config_says_warmup(config):
                    draws += 1
                else:
                    warmup += 1
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    header = StanCsvFile(path, config, columns, warmup, draws, adapted)
    if not adapted and warmup > header.expected_warmup_rows:
        # No adaptation comments (adapt engaged=0): the rows past the warmup are draws.
        extra = warmup - header.expected_warmup_rows
        header = StanCsvFile(path, config, columns, warmup - extra, extra, adapted)
    return header


def config_says_warmup(config: dict[str, str]) -> bool:
    """Whether the header promises saved warmup rows before the adaptation comments."""
    return (
        config.get("save_warmup", "0").lower() in ("1", "true")
        and config.get("algorithm") != "fixed_param"
    )


def validate_files(files: list[Path]) -> list[StanCsvFile]:
    """Every file's header, after refusing what is not one finished ``sample`` run.

    Raises ``RunFileError`` naming the file for: not Stan CSV, another method, no post-warmup
    draws (``num_samples = 0``, or killed in warmup: with its warmup row count), a file cut
    short, and files that are not chains of one run (naming both files and what differs).
    """
    headers = [read_header(f) for f in files]
    for h in headers:
        _refuse_unreadable(h)
    first = headers[0]
    for other in headers[1:]:
        difference = _difference(first, other)
        if difference:
            raise RunFileError(
                f"{first.path} and {other.path} are not chains of one run: {difference}",
                "check the chains of one `method=sample` run together, one run at a time",
            )
    return headers


def _refuse_unreadable(h: StanCsvFile) -> None:
    if "lp__" not in h.columns:
        raise RunFileError(f"{h.path}: not CmdStan output: no header row with lp__", STAN_CSV_HINT)
    method = h.config.get("method", "sample")
    if method != "sample":
        raise RunFileError(
            f"{h.path}: CmdStan `method={method}` output; hmdiag checks MCMC runs",
            STAN_CSV_HINT,
        )
    warmup = f"{h.warmup_rows} warmup row{'s' if h.warmup_rows != 1 else ''}"
    if h.draw_rows == 0:
        if h.integer("num_samples") == 0:
            why = f"the run had num_samples = 0 ({warmup} saved)"
        elif h.warmup_rows < h.expected_warmup_rows or not h.adaptation_ended:
            why = (
                f"the run stopped during warmup ({h.warmup_rows} of "
                f"{h.expected_warmup_rows} warmup rows written, no adaptation comments)"
            )
        else:
            why = f"the file holds {warmup} and no draws after them"
        raise RunFileError(
            f"{h.path}: no post-warmup draws: {why}",
            "run the sampler with num_samples > 0 to the end, then check its output files",
        )
    expected = h.expected_draw_rows
    if expected is not None and h.draw_rows < expected:
        raise RunFileError(
            f"{h.path}: holds {h.draw_rows} of the {expected} draws its header promises "
            "(the run stopped early, or the file was cut)",
            "check the output of a run that finished",
        )


_SAME_RUN_KEYS = (
    "model",
    "num_samples",
    "num_warmup",
    "thin",
    "save_warmup",
    "algorithm",
    "engine",
)


def _difference(a: StanCsvFile, b: StanCsvFile) -> str | None:
    """What makes two files chains of different runs, in words; None when nothing does."""
    if a.config.get("model") != b.config.get("model"):
        return f"model {a.config.get('model', '(not set)')} vs {b.config.get('model', '(not set)')}"
    if a.version != b.version:
        return f"Stan {a.version_text} vs Stan {b.version_text}"
    for key in _SAME_RUN_KEYS:
        if a.config.get(key) != b.config.get(key):
            return f"{key} {a.config.get(key, '(not set)')} vs {b.config.get(key, '(not set)')}"
    if a.columns != b.columns:
        only_a = [c for c in a.columns if c not in b.columns][:3]
        only_b = [c for c in b.columns if c not in a.columns][:3]
        return (
            f"different columns (only in the first: {', '.join(only_a) or '-'}; "
            f"only in the second: {', '.join(only_b) or '-'})"
        )
    return None


def facts(h: StanCsvFile) -> dict[str, Any]:
    """The run's provenance from a header, as ``RunInfo`` fields."""
    delta = h.config.get("delta")
    return {
        "source_tool": "cmdstan",
        "source_version": ".".join(map(str, h.version)) if h.version else None,
        "sampler_label": h.label,
        "algorithm": h.algorithm,
        "max_treedepth": h.integer("max_depth"),
        "target_accept": float(delta) if delta and _is_number(delta) else None,
        "warmup_dropped": h.warmup_rows or None,
        "mass_matrix": {"diag_e": "diag", "dense_e": "dense"}.get(h.config.get("metric", "")),
        "index_origin": 1,
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_draws_v1(headers: list[StanCsvFile]) -> Any:
    """CmdStan 1.x files (which cmdstanpy refuses) as a run: NumPy reads the rows, arviz-base's
    ``from_dict`` makes the DataTree. Saved warmup rows are skipped; names keep Stan's 1-based
    indices (``mu.1`` is ``mu[1]``)."""
    from arviz_base import from_dict

    chains = []
    for h in headers:
        rows = np.loadtxt(h.path, delimiter=",", comments="#", skiprows=0, ndmin=2, dtype=str)
        values = rows[1:].astype(float)  # the first non-comment row is the header row
        chains.append(values[h.warmup_rows : h.warmup_rows + h.draw_rows])
    draws = np.stack(chains)  # (chain, draw, column)
    columns = headers[0].columns
    stats = {
        SAMPLER_COLUMNS[c]: draws[..., i] for i, c in enumerate(columns) if c in SAMPLER_COLUMNS
    }
    if "tree_depth" in stats:
        stats["tree_depth"] = stats["tree_depth"].astype(np.int64)
    posterior = _stan_variables(
        draws, [(i, c) for i, c in enumerate(columns) if not c.endswith("__")]
    )
    return from_dict({"posterior": posterior, "sample_stats": stats}, index_origin=1)


def _stan_variables(draws: np.ndarray, columns: list[tuple[int, str]]) -> dict[str, np.ndarray]:
    """Stan's flat columns (``x.1.2``, column-major) as arrays ``(chain, draw, *shape)``."""
    grouped: dict[str, list[tuple[tuple[int, ...], int]]] = {}
    for position, name in columns:
        base, *index = name.split(".")
        grouped.setdefault(base, []).append((tuple(int(i) for i in index), position))
    out: dict[str, np.ndarray] = {}
    for base, cells in grouped.items():
        if cells[0][0] == ():
            out[base] = draws[..., cells[0][1]]
            continue
        shape = tuple(max(idx[k] for idx, _ in cells) for k in range(len(cells[0][0])))
        array = np.full(draws.shape[:2] + shape, np.nan)
        for idx, position in cells:
            array[(..., *(i - 1 for i in idx))] = draws[..., position]
        out[base] = array
    return out
