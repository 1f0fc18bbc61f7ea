#!/usr/bin/env bash
# The test run: fast unit tests first, then control-plane integration tests, then end-to-end
# tests against the real Docker engine (which scripts/ensure-docker.sh starts when none answers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
bash scripts/ensure-docker.sh
"$PY" -m ruff check .
# the layering contracts in pyproject.toml ([tool.importlinter])
"$(dirname "$PY")/lint-imports" --no-cache
suites=()
for dir in tests/unit tests/integration tests/e2e; do
    [[ -d $dir ]] && suites+=("$dir")
done
"$PY" -m pytest "${suites[@]}" -p no:cacheprovider "$@"
