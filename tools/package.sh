#!/usr/bin/env bash
# Packages every publishable crate and the npm package the way a release
# would, without publishing anything:
#
#   * `cargo package` (with its verify build) of nanosp-core, nanosp,
#     nanosp-embassy and nanosp-cli. Cargo packages them in dependency order
#     and builds each against the packages made before it (a local registry
#     in target/package), so none has to be on crates.io yet.
#   * nanosp-web, which lives in the wasm workspace (bindings/wasm): its
#     `nanosp-core` dependency is patched to core/ for the verify build, as the
#     host workspace's local registry cannot be reached from there.
#   * `npm pack --dry-run` of bindings/wasm/pkg (run bindings/wasm/build.sh
#     first), checking that every file the package needs is in it.
#
# --allow-dirty lets contributors run it with work in progress; CI's last
# step separately fails on a dirty tree. Output goes to target/package.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf -- '--> %s\n' "$*"; }

# Stale unpacked sources of an earlier run (same version) would be built
# instead of this tree's: start from nothing.
rm -rf target/package
# Cargo unpacks the verify builds' local registry under CARGO_HOME and
# reuses an unpacked nanosp-0.1.0 of an earlier run: drop those too.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/nanosp*
# The verify builds share target/debug, and cargo trusts a registry
# package's fingerprint by name and version: an earlier run's nanosp 0.1.0
# would be linked instead of this tree's. Make it rebuild ours.
rm -rf target/debug/.fingerprint/nanosp*
step "cargo package: nanosp-core, nanosp, nanosp-embassy, nanosp-cli"
cargo package --locked --allow-dirty --quiet \
  -p nanosp-core -p nanosp -p nanosp-embassy -p nanosp-cli

step "cargo package: nanosp-web (wasm workspace)"
(cd bindings/wasm && cargo package --locked --allow-dirty --quiet -p nanosp-web \
  --config 'patch.crates-io.nanosp-core.path="../../core"')

for c in target/package/*.crate; do
  list=$(tar tzf "$c")
  for f in LICENSE-MIT LICENSE-APACHE README.md Cargo.toml; do
    grep -q "^[^/]*/$f\$" <<<"$list" || { echo "$c lacks $f" >&2; exit 1; }
  done
done
ls target/package/*.crate

step "npm pack --dry-run: bindings/wasm/pkg"
if [ ! -f bindings/wasm/pkg/package.json ]; then
  echo "bindings/wasm/pkg is missing: run bindings/wasm/build.sh first" >&2
  exit 1
fi
files=$(cd bindings/wasm/pkg && npm pack --dry-run --json 2>/dev/null |
  python3 -c 'import json, sys; print("\n".join(f["path"] for f in json.load(sys.stdin)[0]["files"]))')
for f in package.json README.md LICENSE-MIT LICENSE-APACHE nanosp.js nanosp.d.ts \
  nanosp_bg.wasm nanosp_bg.wasm.d.ts node.js; do
  grep -qx "$f" <<<"$files" || { echo "npm package lacks $f" >&2; exit 1; }
done
echo "npm package nanosp: $(wc -l <<<"$files") files, all expected ones present"
