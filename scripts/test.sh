#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, docs, examples, then pytest. Tests that need
# root, the real plugins, Docker or Go must run: with CNILIB_REQUIRE_REAL=1 a skip of one is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CNILIB_REQUIRE_REAL=1
PY=.venv/bin/python

echo "== ruff"
.venv/bin/ruff check cnilib tests benchmarks examples conftest.py docs/conf.py
echo "== mypy --strict"
.venv/bin/mypy --strict cnilib tests/typecheck/api.py  # the library, and the public API as users type it
echo "== docs"
.venv/bin/sphinx-build -q -W -b html docs docs/_build/html
echo "== examples"
for ex in examples/*.py; do
  echo "-- $ex"
  "$PY" "$ex" | sed "s/^/   /"
done
echo "== pytest (tests/, then every sample of README.md and docs/*.md, run by Sybil: see conftest.py)"
"$PY" -m pytest -p no:cacheprovider "$@"
