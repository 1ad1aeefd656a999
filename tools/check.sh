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

step "lock files current (every workspace; a dependency change in one crate shows in the others')"
for m in Cargo.toml bindings/wasm/Cargo.toml fuzz/Cargo.toml \
  examples/firmware-stm32/Cargo.toml examples/firmware-m0/Cargo.toml \
  examples/firmware-qemu/Cargo.toml examples/browser/server/Cargo.toml; do
  cargo metadata --locked --format-version 1 --manifest-path "$m" >/dev/null \
    || { echo "$m: Cargo.lock is not current (run cargo metadata --manifest-path $m and commit it)"; exit 1; }
done

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
