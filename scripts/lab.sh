#!/usr/bin/env bash
# The main command: set up (idempotent, seconds the second time), start the local lab, open
# JupyterLab on the notebooks. When JupyterLab stops (Ctrl-C twice, or File > Shut Down), the lab
# it started is stopped too; a lab that was already running is left running.
# Extra arguments go to JupyterLab, e.g. 'bash scripts/lab.sh --no-browser --port 8899' on a
# machine without a screen (then open the http://127.0.0.1:8899/lab?token=... address it prints).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

up="$(.venv/bin/voiplab lab up)"
echo "$up"
started=0
if printf '%s\n' "$up" | grep -q "^started "; then started=1; fi

stop_lab() {
    if [ "$started" -eq 1 ]; then
        echo "== stopping the lab this command started"
        .venv/bin/voiplab lab down || true
    fi
}
trap stop_lab EXIT
trap 'exit 130' INT TERM

extra=()
if [ "$(id -u)" -eq 0 ]; then extra+=(--allow-root); fi  # JupyterLab refuses root otherwise
# the students' notebooks only (notebooks/fr/ for the French version); instructor material lives elsewhere
.venv/bin/jupyter lab --notebook-dir=notebooks "${extra[@]}" "$@"
