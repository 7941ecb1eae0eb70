#!/usr/bin/env bash
# The main command: set up (idempotent), start the local lab, open JupyterLab on the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/voiplab lab up
exec .venv/bin/jupyter lab --notebook-dir=notebooks "$@"
