#!/usr/bin/env bash
# Installs what the real-peer tests need, idempotently:
# - Debian's prosody (XEP-0198 server) and prosody-modules;
# - Debian's redis-server (the shared store of the example server's cluster mode; tests start
#   their own on 127.0.0.1, the packaged service is not used);
# - a Python virtualenv in ./.venv with slixmpp, http_ece, cryptography and PyJWT;
# - xmpp.js for Node.js in tests/peers/xmppjs/node_modules, from its lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
# The ece crate (a dev-dependency of xmpp-push2-crypto, for cross-checks) builds openssl-sys.
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q "ok installed" || need_apt+=(libssl-dev pkg-config)
installed prosody && installed prosody-modules || need_apt+=(prosody prosody-modules)
installed redis-server || need_apt+=(redis-server)
# Node.js and npm come with the machine; Debian's packages are the fallback.
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
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
xmppjs=tests/peers/xmppjs
if [ ! -d "$xmppjs/node_modules" ] || ! cmp -s "$xmppjs/package-lock.json" "$xmppjs/node_modules/.tether-lock"; then
    echo "installing xmpp.js into $xmppjs/node_modules from its package-lock.json"
    npm ci --prefix "$xmppjs" --no-audit --no-fund --loglevel=error
    cp "$xmppjs/package-lock.json" "$xmppjs/node_modules/.tether-lock"
fi
# Note: `prosody --version` would start the stock server in the foreground; ask dpkg instead.
echo "peers ready: prosody $(dpkg-query -W -f='${Version}' prosody), redis-server $(dpkg-query -W -f='${Version}' redis-server), $(.venv/bin/python --version), node $(node --version)"
