#!/usr/bin/env bash
# The contributor's quick check before a commit (a few minutes on a 2-core
# machine once the build cache is warm): format, clippy on the host and wasm
# workspaces, and the core's tests (protocol machines, framing, engine,
# inproc sockets in virtual time). Everything else (transports, interop,
# browsers, firmware, MSRV, packaging, fuzzing, valgrind) is in
# `bash .ci/run`, which CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format (host and wasm workspaces)"
cargo fmt --all -- --check
(cd bindings/wasm && cargo fmt --all -- --check)

step "every docs/wire.md section the code cites exists"
python3 tools/check-wire-refs.py

step "clippy (host workspace, all targets; nanosp-embassy with its feature 'tls')"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p nanosp-embassy --features tls --all-targets -- -D warnings

step "clippy (wasm workspace: nanosp-web, nanosp-wasm)"
(cd bindings/wasm && cargo clippy --locked --all-targets -- -D warnings)

step "tests: the core (machines, framing, engine, inproc)"
cargo test --locked -p nanosp-core

step "quick check passed (the full run: bash .ci/run)"
