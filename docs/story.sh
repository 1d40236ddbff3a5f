#!/usr/bin/env bash
# The reference post's story, reproduced: fit every Bangladesh config, then write the
# comparison tables and the post's figures to docs/story/. Run it with `make story`.
set -u
cd "$(dirname "$0")/.."
HMDIAG=${HMDIAG:-.venv/bin/hmdiag}
RUNS=${RUNS:-runs/story}
OUT=${OUT:-docs/story}
# PyMC's own NUTS by default, as in the post; BACKEND=nutpie tells the story with hmdiag's default.
BACKEND=${BACKEND:-pymc}
MODELS="mfe mme0 mme1 mme2 mme3 mme3b mme4"
mkdir -p "$RUNS" "$OUT"

for model in $MODELS; do
  "$HMDIAG" fit "configs/bangladesh/$model.yaml" --backend "$BACKEND" --out "$RUNS/$model.nc" --force --quiet
  status=$?
  [ "$status" -le 1 ] || { echo "story: fitting $model failed (exit $status)" >&2; exit "$status"; }
done

runs() { for m in "$@"; do printf '%s ' "$RUNS/$m.nc"; done; }
# shellcheck disable=SC2046  # word splitting of the run list is intended
{
  echo "# The Bangladesh story, reproduced by hmdiag"
  echo
    py="$(dirname "$HMDIAG")/python"
  echo "Machine: $(nproc) cores, $(uname -m); $("$py" -c 'import sys, pymc, arviz_stats; print(f"Python {sys.version.split()[0]}, PyMC {pymc.__version__}, arviz-stats {arviz_stats.__version__}")' 2>/dev/null); hmdiag $("$HMDIAG" --version | cut -d' ' -f2); sampler backend $BACKEND; seed 19 in every config; $(date -u +%Y-%m-%d)."
  echo
  "$HMDIAG" compare $(runs $MODELS) --markdown | sed 's/^## hmdiag compare/## All seven models/'
  echo
  "$HMDIAG" compare $(runs mfe mme4) --var a --markdown | sed 's/^## hmdiag compare/## Shrinkage: no pooling (mfe) vs partial pooling (mme4)/'
} > "$OUT/comparison.md"

"$HMDIAG" check "$RUNS/mme0.nc" --markdown > "$OUT/mme0-check.md"
"$HMDIAG" plot "$RUNS/mme0.nc" --kind rank --kind pair --out "$OUT" --force
"$HMDIAG" plot $(runs mfe mme0) --kind ess --var a --out "$OUT" --force
"$HMDIAG" plot $(runs mfe mme4) --kind forest --var a --out "$OUT" --force
"$HMDIAG" report $(runs mme0 mme4) --out "$RUNS/report.html" --force
echo "story: wrote $OUT/comparison.md, $OUT/mme0-check.md and figures; report at $RUNS/report.html"
