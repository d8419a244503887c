#!/usr/bin/env bash
# The one command that checks everything, on a fresh machine or a warm one:
# formatting, lints, every test (real peers included: it installs Prosody and a Python
# virtualenv first), the docs, and that the fuzz targets compile (clippy covers the benches).
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")"

export CARGO_TERM_COLOR=never
# Model-based property tests: at least 1,000 cases per property in CI.
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "rustfmt"
cargo fmt --all --check

step "the tour builds from pure-Rust crates (no C library, no C compiler)"
if cargo tree -p xmpp-tether -e normal,build,dev --prefix none -f '{p}' \
    | sort -u | grep -E '^(cc|cmake|bindgen|pkg-config|ring|[a-z0-9_-]+-sys) '; then
    echo "the tour's dependency tree needs a C toolchain (above)" >&2
    exit 1
fi

step "real peers: Debian packages, the Python virtualenv, xmpp.js"
./scripts/setup-peers.sh

step "clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests (all features, real peers included)"
cargo test --workspace --all-features -- --include-ignored

step "tests (default features: the pure-Rust crypto backend)"
cargo test -p xmpp-push2-crypto -- --include-ignored

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

# The benches are type-checked by clippy --all-targets above; building them in release
# would double the cold build for no new check.

step "fuzz targets compile"
cargo check --manifest-path fuzz/Cargo.toml --target-dir target/fuzz-check

step "done in $(( $(date +%s) - started )) s"
