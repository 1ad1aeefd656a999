#!/usr/bin/env bash
# Builds the firmware examples (release, opt-level "z", LTO): the STM32F429
# one (Cortex-M4F, thumbv7em) and the STM32G0B1 + W5500 one (Cortex-M0+,
# thumbv6m). Prints flash and RAM use, and the flash nanosp adds over the
# same board + network baseline for a REQ client (and, on the M4F, a REP
# server), on the lean path (`Solo`, one connection at a time: issue 14's
# goal of 24 KiB each, enforced) and with the full `Socket` engine, and
# what TLS 1.3 adds to the REQ client (budget-req-tls). Fails when one
# passes its ceiling (FLASH_REQ_SOLO_MAX, FLASH_REP_SOLO_MAX: the goal;
# FLASH_REQ_MAX, FLASH_REP_MAX, FLASH_M0_REQ_MAX, FLASH_M0_REQ_SOLO_MAX,
# FLASH_TLS_MAX: today's sizes plus about 1 %, so nothing grows unnoticed).
set -euo pipefail
cd "$(dirname "$0")/.."
# Source paths end up in the binaries (panic locations): map them to fixed
# names so that the sizes do not depend on where the tree is checked out.
# (These replace the firmware configs' rustflags, so theirs are repeated.)
sep=$'\x1f'
export CARGO_ENCODED_RUSTFLAGS="-Clink-arg=-Tlink.x${sep}-Clink-arg=-Tdefmt.x${sep}--remap-path-prefix=$PWD=/nanosp${sep}--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
fail=0
size_of() { llvm-size "$1" | awk 'NR==2 {print $1+$2, $2+$3}'; }
check() { # what bytes ceiling
  echo "nanosp flash for $1: $2 bytes (ceiling $3)"
  if [ "$2" -gt "$3" ]; then
    echo "$1: flash $2 B is over its ceiling of $3 B" >&2
    fail=1
  fi
}
printf '%-24s %10s %10s\n' binary "flash B" "RAM B"

dir=target/thumbv7em-none-eabihf/release
# The TLS binary first: it needs the `tls` feature, which the others must
# not be built with (the second build replaces the shared dependencies).
(cd examples/firmware-stm32 && cargo build --locked --release --quiet --features tls --bin budget-req-tls)
cp "$dir/budget-req-tls" "$dir/budget-req-tls.saved"
(cd examples/firmware-stm32 && cargo build --locked --release --quiet)
mv "$dir/budget-req-tls.saved" "$dir/budget-req-tls"
for b in nanosp-firmware-stm32 budget-base budget-req budget-rep budget-req-solo budget-rep-solo budget-req-tls; do
  read -r flash ram < <(size_of "$dir/$b")
  printf '%-24s %10s %10s\n' "$b" "$flash" "$ram"
done
read -r base _ < <(size_of "$dir/budget-base")
read -r req _ < <(size_of "$dir/budget-req")
read -r rep _ < <(size_of "$dir/budget-rep")
read -r req_solo _ < <(size_of "$dir/budget-req-solo")
read -r rep_solo _ < <(size_of "$dir/budget-rep-solo")
read -r tls tls_ram < <(size_of "$dir/budget-req-tls")
read -r _ req_ram < <(size_of "$dir/budget-req")

(cd examples/firmware-m0 && cargo build --locked --release --quiet)
dir0=target/thumbv6m-none-eabi/release
for b in m0-budget-base m0-budget-req m0-budget-req-solo; do
  read -r flash ram < <(size_of "$dir0/$b")
  printf '%-24s %10s %10s\n' "$b" "$flash" "$ram"
done
read -r m0base _ < <(size_of "$dir0/m0-budget-base")
read -r m0req _ < <(size_of "$dir0/m0-budget-req")
read -r m0req_solo _ < <(size_of "$dir0/m0-budget-req-solo")

check "a REQ client on the lean path (Solo; Cortex-M4F, thumbv7em)" $((req_solo - base)) "${FLASH_REQ_SOLO_MAX:-24576}"
check "a REP server on the lean path (Solo; Cortex-M4F)" $((rep_solo - base)) "${FLASH_REP_SOLO_MAX:-24576}"
check "a REQ client on the lean path (Solo; Cortex-M0+, thumbv6m)" $((m0req_solo - m0base)) "${FLASH_M0_REQ_SOLO_MAX:-26000}"
check "a REQ client (Cortex-M4F, thumbv7em)" $((req - base)) "${FLASH_REQ_MAX:-40300}"
check "a REP server (Cortex-M4F, thumbv7em)" $((rep - base)) "${FLASH_REP_MAX:-36250}"
check "a REQ client (Cortex-M0+, thumbv6m)" $((m0req - m0base)) "${FLASH_M0_REQ_MAX:-41400}"
echo "TLS 1.3 (embedded-tls) on that REQ client adds $((tls_ram - req_ram)) B of RAM (16 640 B record buffer in, 2 048 out, the handshake's state)"
check "TLS 1.3 on a REQ client (Cortex-M4F, flash over budget-req)" $((tls - req)) "${FLASH_TLS_MAX:-109900}"
exit $fail
