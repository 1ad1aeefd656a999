#!/usr/bin/env bash
# Builds (cargo check, with the lock files) every crate with the oldest Rust
# its manifest declares in `rust-version`, so the declared MSRV is one CI has
# built. The versions are read from the manifests:
#
#   * the host workspace (Cargo.toml) and the wasm workspace
#     (bindings/wasm/Cargo.toml): 1.88, because heapless 0.9 needs it;
#     the core also for thumbv7em-none-eabihf, as firmware builds it;
#   * nanosp-embassy (transports/embassy/Cargo.toml): 1.91, because
#     embassy-net 0.9's smoltcp 0.13 needs it.
#
# Installs a missing toolchain with rustup (minimal profile, plus the two
# cross targets for the workspace one); `tools/msrv.sh --install-only` does
# only that (.ci/run calls it). Output goes to target/msrv, so the ordinary
# builds are not disturbed.
set -euo pipefail
cd "$(dirname "$0")/.."

rv() { sed -n 's/^rust-version = "\(.*\)"$/\1/p' "$1" | head -n 1; }
ws=$(rv Cargo.toml)
wasm=$(rv bindings/wasm/Cargo.toml)
emb=$(rv transports/embassy/Cargo.toml)
[ -n "$ws" ] && [ -n "$emb" ] || { echo "no rust-version found" >&2; exit 1; }
[ "$wasm" = "$ws" ] || { echo "bindings/wasm declares $wasm, the host workspace $ws" >&2; exit 1; }

have() { rustup toolchain list | grep -q "^$1-"; }
for v in "$ws" "$emb"; do
  have "$v" || rustup toolchain install "$v" --profile minimal
done
for t in thumbv7em-none-eabihf wasm32-unknown-unknown; do
  rustup target list --installed --toolchain "$ws" | grep -qx "$t" ||
    rustup target add --toolchain "$ws" "$t"
done

[ "${1:-}" = "--install-only" ] && exit 0

dir="$PWD/target/msrv"
run() { echo "+ $*"; "$@"; }
run cargo "+$ws" check --locked --quiet --target-dir "$dir" --workspace --exclude nanosp-embassy --all-targets
run cargo "+$ws" check --locked --quiet --target-dir "$dir" -p nanosp-core --target thumbv7em-none-eabihf
# One package at a time: nanosp-web's default `std` must not reach the npm
# package, which is `no_std` with a panic handler of its own.
(cd bindings/wasm && run cargo "+$ws" check --locked --quiet --target-dir "$dir" -p nanosp-web \
  && run cargo "+$ws" check --locked --quiet --target-dir "$dir" -p nanosp-wasm)
run cargo "+$emb" check --locked --quiet --target-dir "$dir" -p nanosp-embassy --all-targets
echo "MSRV: Rust $ws checks the workspace (and core for thumbv7em) and the wasm crates, Rust $emb nanosp-embassy"
