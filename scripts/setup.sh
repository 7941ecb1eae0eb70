#!/usr/bin/env bash
# Install everything voiplab needs on a fresh Debian 12+/Ubuntu 22.04+ machine (idempotent):
# system packages (apt, with sudo when not root), a virtual environment .venv with voiplab
# and its test extras, and the Asterisk 22 root filesystem (built once, ~30 s).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    python3 python3-venv          # the course's Python (3.11 on Debian 12)
    mmdebstrap uidmap             # 'voiplab pbx install': Asterisk from Debian sid, also without root
    tshark tcpdump                # captures, and the reference oracle of the tests
    sip-tester                    # SIPp, the benchmark's reference SIP load generator
    openssl libnss3-tools         # certificates (WebRTC chapter), a CA trusted by the browser
    chromium                      # the WebRTC chapter's browser phone, headless in tests
    iproute2 util-linux procps    # ip, unshare, ps
    git ca-certificates
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js builds the browser phone (JsSIP bundled with esbuild); keep one that is already there
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
echo "== installing voiplab into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== the browser phone (JsSIP + esbuild from npm)"
(cd voiplab/web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)

echo "== Asterisk"
.venv/bin/voiplab pbx install
