#!/usr/bin/env bash
# Install everything voiplab needs on a fresh Debian 12+/Ubuntu 22.04+ machine (idempotent, and
# fast the second time: each step is skipped when what it makes is already there and up to date):
# system packages (apt, with sudo when not root), a virtual environment .venv with voiplab and its
# test extras, the browser phone (npm), and the Asterisk 22 root filesystem (built once, ~30 s).
#
# --system (as root): also the machine's shared installation for every user of a server (JupyterHub,
# a lab PC with several accounts; docs/jupyterhub.md): /opt/voiplab/venv (voiplab, not editable, and
# JupyterHub) from the system's Python, configurable-http-proxy (npm) in /opt/voiplab/proxy, and the
# Asterisk root filesystem in /opt/voiplab/asterisk-rootfs.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM=0
for arg in "$@"; do
    case "$arg" in
        --system) SYSTEM=1 ;;
        *) echo "usage: bash scripts/setup.sh [--system]" >&2; exit 2 ;;
    esac
done
if [ "$SYSTEM" -eq 1 ] && [ "$(id -u)" -ne 0 ]; then
    echo "== --system installs into /opt/voiplab for every user: run it as root (sudo bash scripts/setup.sh --system)" >&2
    exit 1
fi

APT_PACKAGES=(
    python3 python3-venv          # the course's Python (3.11 on Debian 12)
    mmdebstrap uidmap             # 'voiplab pbx install': Asterisk from Debian sid, also without root
    tshark tcpdump                # captures, and the reference oracle of the tests
    sip-tester                    # SIPp, the benchmark's reference SIP load generator
    openssl libnss3-tools         # certificates (WebRTC chapter), a CA trusted by the browser
    chromium                      # the WebRTC chapter's browser phone, headless in tests
    iproute2 util-linux procps    # ip, unshare, ps
    git ca-certificates curl
)
# without these the lab cannot run at all; the others only take a feature away
ESSENTIAL=(python3 python3-venv util-linux)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js builds the browser phone (JsSIP bundled with esbuild); keep one that is already there
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
        SUDO=(sudo)
    else
        SUDO=(none)
    fi
    if [ "${SUDO[*]}" = none ]; then
        echo "== these system packages are missing and you cannot install them (no sudo):" >&2
        echo "     ${missing[*]}" >&2
        echo "   ask an administrator to run:" >&2
        echo "     sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        for pkg in "${ESSENTIAL[@]}"; do
            if printf '%s\n' "${missing[@]}" | grep -qx "$pkg"; then
                echo "   $pkg is needed to run the lab at all: stopping here" >&2
                exit 1
            fi
        done
        echo "   going on without them (see 'voiplab doctor' for what that takes away)" >&2
    else
        echo "== installing system packages: ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# reinstall only when pyproject.toml changed (or voiplab is not importable any more)
stamp=".venv/.voiplab-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version)' | head -1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import voiplab" 2>/dev/null; then
    echo "== installing voiplab into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    # PYTHONWARNINGS: setuptools' notice about editable installs is not for students
    PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi
# bytecode once, so that every later start (CLI, kernels, phones) reads it even where
# PYTHONDONTWRITEBYTECODE is set: a tenth of a second less at each start
.venv/bin/python -m compileall -q -j 0 voiplab >/dev/null

# the browser phone: rebuilt only when its sources are newer than the bundle
bundle=voiplab/web/build/phone.js
if command -v npm >/dev/null 2>&1; then
    if [ ! -f "$bundle" ] || [ ! -d voiplab/web/node_modules ] \
        || [ -n "$(find voiplab/web -maxdepth 1 -newer "$bundle" \( -name '*.js' -o -name '*.json' -o -name '*.html' \))" ]; then
        echo "== the browser phone (JsSIP + esbuild from npm)"
        (cd voiplab/web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
    fi
else
    echo "== npm is missing: the WebRTC chapter's browser phone is not built (notebook 08)" >&2
fi

log=.venv/pbx-install.log
if ! .venv/bin/voiplab pbx install >"$log" 2>&1; then
    cat "$log" >&2
    echo "== Asterisk could not be installed: run '.venv/bin/voiplab doctor' for what to fix" >&2
    exit 1
fi
grep -v "already installed" "$log" || true

if [ "$SYSTEM" -eq 1 ]; then
    # every user runs this venv, so it is made from the system's Python (a pyenv or conda Python
    # under /root is not reachable by them) and voiplab is copied in (not editable: students need
    # not read this clone); reinstalled only when voiplab's sources or pyproject.toml changed
    shared=/opt/voiplab
    system_python="${SYSTEM_PYTHON:-/usr/bin/python3}"
    if [ ! -x "$shared/venv/bin/python" ]; then
        echo "== creating $shared/venv with $($system_python --version)"
        mkdir -p "$shared"
        "$system_python" -m venv "$shared/venv"
    fi
    hub_pin=$(grep -o '"jupyterhub[^"]*"' pyproject.toml | tr -d '"')
    sources="$(find voiplab pyproject.toml -type f \( -name '*.py' -o -name '*.pcap' -o -name '*.html' \
        -o -name '*.js' -o -name '*.json' -o -name '*.toml' \) -not -path '*/node_modules/*' -not -path '*/build/*' \
        -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1) $hub_pin"
    stamp="$shared/venv/.voiplab-installed"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ]; then
        echo "== installing voiplab and $hub_pin into $shared/venv (for every user)"
        PYTHONWARNINGS=ignore "$shared/venv/bin/python" -m pip install -q --disable-pip-version-check . "$hub_pin"
        # same version number, new sources: put this clone's voiplab in place
        PYTHONWARNINGS=ignore "$shared/venv/bin/python" -m pip install -q --disable-pip-version-check \
            --no-deps --force-reinstall .
        echo "$sources" > "$stamp"
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "== npm is missing: JupyterHub's configurable-http-proxy cannot be installed" >&2
        exit 1
    fi
    if [ ! -x "$shared/proxy/node_modules/.bin/configurable-http-proxy" ]; then
        echo "== configurable-http-proxy (npm) into $shared/proxy"
        mkdir -p "$shared/proxy"
        npm install --no-audit --no-fund --loglevel=error --prefix "$shared/proxy" configurable-http-proxy@5
    fi
    if ! "$shared/venv/bin/voiplab" pbx install --system >"$log" 2>&1; then
        cat "$log" >&2
        echo "== the system Asterisk could not be installed: run '$shared/venv/bin/voiplab doctor'" >&2
        exit 1
    fi
    grep -v "already installed" "$log" || true
    chmod -R a+rX "$shared/venv" "$shared/proxy"
fi
