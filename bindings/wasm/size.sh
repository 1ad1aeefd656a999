#!/usr/bin/env bash
# Prints the size of the package's WebAssembly, raw and gzipped (-9), so its
# growth shows in every CI log. Run build.sh first.
set -euo pipefail
cd "$(dirname "$0")"
f=pkg/nanosp_bg.wasm
raw=$(wc -c <"$f")
gz=$(gzip -9 -c "$f" | wc -c)
awk -v r="$raw" -v g="$gz" 'BEGIN {
  printf "nanosp_bg.wasm: %d bytes raw (%.1f KiB), %d bytes gzipped (%.1f KiB)\n", r, r / 1024, g, g / 1024
}'
