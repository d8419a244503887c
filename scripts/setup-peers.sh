#!/usr/bin/env bash
# Installs what the real-peer tests need, idempotently:
# - Debian's prosody (XEP-0198 server) and prosody-modules;
# - a Python virtualenv in ./.venv with slixmpp, http_ece, cryptography and PyJWT.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
# The ece crate (a dev-dependency of xmpp-push2-crypto, for cross-checks) builds openssl-sys.
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q "ok installed" || need_apt+=(libssl-dev pkg-config)
installed prosody && installed prosody-modules || need_apt+=(prosody prosody-modules)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "installing ${need_apt[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/.requirements; then
    echo "creating ./.venv from scripts/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
    cp scripts/requirements.txt .venv/.requirements
fi
# Note: `prosody --version` would start the stock server in the foreground; ask dpkg instead.
echo "peers ready: prosody $(dpkg-query -W -f='${Version}' prosody), $(.venv/bin/python --version)"
