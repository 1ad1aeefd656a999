#!/usr/bin/env bash
# Builds the npm package `nanosp` into bindings/wasm/pkg: the release wasm,
# wasm-bindgen's `--target web` ES module and types, and the files in npm/.
# Needs the wasm32-unknown-unknown target, wasm-bindgen-cli 0.2.130 (the
# version pinned in Cargo.toml) and binaryen's wasm-opt from tools/ (`npm ci`
# there); .ci/run installs all three.
set -euo pipefail
cd "$(dirname "$0")"
want=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*$/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen CLI ${have:-missing}, crate pinned to $want: cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi
# binaryen's version must be the one tools/package.json pins: the size and
# the renaming below depend on it.
opt=tools/node_modules/.bin/wasm-opt
want=$(sed -n 's/^ *"binaryen": "\([0-9]*\)\..*$/\1/p' tools/package.json)
have=$("$opt" --version 2>/dev/null | awk '{print $3}')
if [ "$have" != "$want" ]; then
  echo "binaryen's wasm-opt ${have:-missing}, tools/package.json pins $want: (cd bindings/wasm/tools && npm ci)" >&2
  exit 1
fi
# Source paths end up in the module (panic locations): map them to fixed
# names, as tools/firmware-size.sh does, so the size does not depend on
# where the tree is checked out (and the names are shorter).
root=$(cd ../.. && pwd)
sep=$'\x1f'
CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$root=/nanosp${sep}--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
  cargo build --locked --release --quiet
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name nanosp --remove-name-section \
  ../../target/wasm32-unknown-unknown/release/nanosp_wasm.wasm
# binaryen 132 at -Os: 1.3 KB less gzipped than rustc's opt-level "z" alone
# (-Oz and Debian's binaryen 108 gave less). A module's memory starts
# zeroed, so data segments of zeros can go. Imports, their module and
# exports get short names (1.8 KB less gzipped), which tools/rename.mjs
# carries into the glue and typings. The producers and target features
# sections are for tools, not for running. (Two runs: --converge would
# rename twice.)
"$opt" pkg/nanosp_bg.wasm -Os --converge --zero-filled-memory -o pkg/nanosp_bg.wasm
"$opt" pkg/nanosp_bg.wasm --minify-imports-and-exports-and-modules \
  --strip-producers --strip-target-features -o pkg/nanosp_bg.wasm |
  node tools/rename.mjs pkg/nanosp.js pkg/nanosp.d.ts pkg/nanosp_bg.wasm.d.ts pkg/nanosp_bg.wasm
cp npm/package.json npm/node.js npm/README.md ../../LICENSE-MIT ../../LICENSE-APACHE pkg/
