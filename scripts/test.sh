#!/usr/bin/env bash
# Run the whole test suite against the real local lab (set up first, idempotent).
# Extra arguments go to pytest, e.g. 'bash scripts/test.sh -k rtp'.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
