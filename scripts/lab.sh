#!/usr/bin/env bash
# The main command: set up (idempotent), start the local lab, open JupyterLab on the notebooks.
# Extra arguments go to JupyterLab, e.g. 'bash scripts/lab.sh --no-browser --port 8899'.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/voiplab lab up
extra=()
if [ "$(id -u)" -eq 0 ]; then extra+=(--allow-root); fi  # JupyterLab refuses root otherwise
exec .venv/bin/jupyter lab --notebook-dir=notebooks "${extra[@]}" "$@"
