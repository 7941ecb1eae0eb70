#!/usr/bin/env bash
# Run the whole test suite against the real local lab (set up first, idempotent):
# the linters first (ruff, mypy: a finding stops the run at once), then pytest.
# Extra arguments go to pytest, e.g. 'bash scripts/test.sh -k rtp'.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff (rules and settings: pyproject.toml [tool.ruff])"
if ! .venv/bin/ruff check --no-cache .; then
    echo "ruff found problems (above): fix them, or run '.venv/bin/ruff check --fix .' for the fixable ones" >&2
    exit 1
fi
echo "== mypy voiplab (settings: pyproject.toml [tool.mypy])"
if ! .venv/bin/mypy voiplab; then
    echo "mypy found type errors (above): fix them before the tests run" >&2
    exit 1
fi

echo "== pytest"
exec .venv/bin/python -m pytest "$@"
