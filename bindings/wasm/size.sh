#!/usr/bin/env bash
# Prints the size of the package's WebAssembly, raw and gzipped (-9), so its
# growth shows in every CI log. Run build.sh first.
set -euo pipefail
cd "$(dirname "$0")"
f=pkg/nanosp_bg.wasm
raw=$(wc -c <"$f")
gz=$(gzip -9 -c "$f" | wc -c)
printf 'nanosp_bg.wasm: %d bytes raw (%.1f KiB), %d bytes gzipped (%.1f KiB)\n' \
  "$raw" "$(echo "$raw/1024" | bc -l)" "$gz" "$(echo "$gz/1024" | bc -l)"
