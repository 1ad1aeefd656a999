#!/usr/bin/env bash
# Builds the STM32 firmware example (release, opt-level "z", LTO) and prints
# flash and RAM use, and the flash nanosp adds for a REQ client and a REP
# server over the same board + network baseline.
set -euo pipefail
cd "$(dirname "$0")/../examples/firmware-stm32"
cargo build --locked --release --quiet
dir=../../target/thumbv7em-none-eabihf/release
size_of() { llvm-size "$dir/$1" | awk 'NR==2 {print $1+$2, $2+$3}'; }
printf '%-24s %10s %10s\n' binary "flash B" "RAM B"
for b in nanosp-firmware-stm32 budget-base budget-req budget-rep; do
  read -r flash ram < <(size_of "$b")
  printf '%-24s %10s %10s\n' "$b" "$flash" "$ram"
done
read -r base _ < <(size_of budget-base)
read -r req _ < <(size_of budget-req)
read -r rep _ < <(size_of budget-rep)
echo "nanosp flash for a REQ client: $((req - base)) bytes"
echo "nanosp flash for a REP server: $((rep - base)) bytes"
