#!/usr/bin/env bash
# Installs what the real-peer tests need, idempotently:
# - Debian's prosody (XEP-0198 server) and prosody-modules;
# - a Python virtualenv in ./.venv with slixmpp, http_ece, cryptography and PyJWT.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prosody >/dev/null 2>&1 || need_apt+=(prosody prosody-modules)
# The ece crate (a dev-dependency of xmpp-push2-crypto, for cross-checks) builds openssl-sys.
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q "ok installed" || need_apt+=(libssl-dev pkg-config)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "installing ${need_apt[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/.requirements; then
    echo "creating ./.venv from scripts/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
    cp scripts/requirements.txt .venv/.requirements
fi
echo "peers ready: $(prosody --version 2>/dev/null | head -n1 || echo prosody), $(.venv/bin/python --version)"
