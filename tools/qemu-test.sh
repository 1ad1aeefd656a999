#!/usr/bin/env bash
# nanosp firmware on an emulated Cortex-M, against nngcat on the host.
#
# Builds examples/firmware-qemu (thumbv7em, release: the demo firmware the
# NUCLEO-F429ZI runs, on QEMU's MPS2-AN386 board with its LAN9118 Ethernet)
# and boots it in qemu-system-arm with its Ethernet on a TAP device, inside
# a network namespace this script makes (nothing outside it is touched):
# the firmware is 192.168.69.2, the host end 192.168.69.1. Then, with
# nngcat as the peer:
#   1. nngcat REQ dials the firmware's REP (port 5555): bodies of 1, 1500
#      and 4000 bytes (every byte value) come back as "ok: " + the body,
#      byte for byte;
#   2. a 5000-byte request, over the firmware's receive limit (4096 bytes
#      of body, plus room for the SP header), gets no answer (that pipe is
#      closed) and the next request is served;
#   3. nngcat SUB dials the firmware's PUB (port 5556) and receives three
#      consecutive "counter <n>" messages;
#   4. the firmware's REQ dials nngcat's REP listening on the host (port
#      5557): nngcat receives "ping 0".."ping 2", and the firmware's
#      console shows each "pong" it got back;
#   5. the same on the lean path (`nanosp_embassy::solo`, port 5558):
#      "lean 0".."lean 2", and three "pong"s on the console.
# Prints "N passed, N failed"; exits non-zero when a check fails. Needs
# qemu-system-arm, nngcat, iproute2 and unshare (root, or user namespaces).
# Every wait has a safety timeout; none is a sleep used to synchronise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != --inside ]; then
  (cd examples/firmware-qemu && cargo build --locked --release --quiet)
  if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  exec "${ns[@]}" "$0" --inside
fi

elf=target/thumbv7em-none-eabihf/release/nanosp-firmware-qemu
fw=192.168.69.2
host=192.168.69.1
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
ip tuntap add dev tap0 mode tap
ip addr add "$host/24" dev tap0
ip link set tap0 up

passed=0
failed=0
pass() { echo "ok:   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# Waits (at most $2 seconds) until file $1 has a line matching $3.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    grep -q -- "$3" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The host's REP for the firmware's REQ client, listening before the
# firmware boots (the firmware redials until it is there anyway).
nngcat --rep0 --listen "tcp://$host:5557" --data pong --quoted --count 3 \
  --recv-timeout 60 >"$work/rep.out" 2>&1 &
pids+=($!)
nngcat --rep0 --listen "tcp://$host:5558" --data pong --quoted --count 3 \
  --recv-timeout 60 >"$work/lean.out" 2>&1 &
pids+=($!)

qemu-system-arm -machine mps2-an386 -display none -monitor none \
  -serial "file:$work/console" \
  -nic tap,ifname=tap0,script=no,downscript=no \
  -kernel "$elf" >"$work/qemu.log" 2>&1 &
qemu=$!
pids+=("$qemu")

if wait_for "$work/console" 60 "nanosp firmware up"; then
  pass "the firmware boots and brings its network up"
else
  fail "the firmware did not come up; its console and QEMU's output:"
  cat "$work/console" "$work/qemu.log" 2>/dev/null || true
  echo "$passed passed, $((failed)) failed"
  exit 1
fi

# 3 runs while 1 and 2 do: the publisher's second-by-second counter.
nngcat --sub0 --dial "tcp://$fw:5556" --subscribe counter --quoted --count 3 \
  --recv-timeout 20 >"$work/sub.out" 2>&1 &
sub=$!
pids+=("$sub")

# 1: byte-exact round trips of every byte value.
for size in 1 1500 4000; do
  python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 7 + $size) % 256 for i in range($size)))" \
    >"$work/req.$size"
  { printf 'ok: '; cat "$work/req.$size"; } >"$work/want.$size"
  nngcat --req0 --dial "tcp://$fw:5555" --file "$work/req.$size" --raw \
    --recv-timeout 20 >"$work/got.$size" 2>"$work/err.$size" || true
  if cmp -s "$work/want.$size" "$work/got.$size"; then
    pass "REQ -> firmware REP, $size-byte body: the reply is byte-exact"
  else
    fail "REQ -> firmware REP, $size-byte body: got $(wc -c <"$work/got.$size") bytes, want $(wc -c <"$work/want.$size") ($(cat "$work/err.$size"))"
  fi
done

# 2: a request over the receive limit closes that pipe only.
head -c 5000 /dev/zero >"$work/big"
nngcat --req0 --dial "tcp://$fw:5555" --file "$work/big" --raw \
  --recv-timeout 2 >"$work/got.big" 2>&1 || true
if [ ! -s "$work/got.big" ]; then
  pass "a 5000-byte request (limit 4096) gets no reply"
else
  fail "a 5000-byte request was answered ($(wc -c <"$work/got.big") bytes)"
fi
nngcat --req0 --dial "tcp://$fw:5555" --data after --raw --recv-timeout 20 \
  >"$work/got.after" 2>&1 || true
if [ "$(cat "$work/got.after")" = "ok: after" ]; then
  pass "the firmware serves the next request"
else
  fail "after the oversized request: got '$(cat "$work/got.after")'"
fi

# 3: the subscriber's three messages.
wait "$sub" || true
mapfile -t lines <"$work/sub.out"
if [ "${#lines[@]}" = 3 ] && [[ ${lines[0]} =~ ^\"counter\ ([0-9]+)\"$ ]]; then
  n=${BASH_REMATCH[1]}
  if [ "${lines[1]}" = "\"counter $((n + 1))\"" ] && [ "${lines[2]}" = "\"counter $((n + 2))\"" ]; then
    pass "SUB <- firmware PUB: three consecutive counters from $n"
  else
    fail "SUB <- firmware PUB: not consecutive: ${lines[*]}"
  fi
else
  fail "SUB <- firmware PUB: got ${#lines[@]} lines: ${lines[*]:-}"
fi

# A REQ client of the firmware against a REP on the host: $1 names it, $2
# is its console's "done" line, $3 the word it asks with ("$3 0".."$3 2"),
# $4 nngcat's output, $5 the prefix of the console's reply lines.
check_asker() {
  if ! wait_for "$work/console" 30 "$2"; then
    fail "the firmware's $1 client did not finish; console:"
    cat "$work/console"
    return
  fi
  local want
  want=$(printf '"%s 0"\n"%s 1"\n"%s 2"' "$3" "$3" "$3")
  if [ "$(cat "$4")" = "$want" ]; then
    pass "firmware $1 -> host REP: nngcat received $3 0..2"
  else
    fail "firmware $1 -> host REP: nngcat received: $(cat "$4")"
  fi
  if [ "$(grep -c "^$5 [0-2]: pong\$" "$work/console")" = 3 ]; then
    pass "firmware $1 <- host REP: the firmware got three pongs"
  else
    fail "firmware $1 <- host REP: console: $(grep "^$5\|request" "$work/console")"
  fi
}

# 4: the firmware's REQ against the host's REP; 5: the same on the lean path.
check_asker REQ "^asker done" ping "$work/rep.out" reply
check_asker "lean REQ" "^lean asker done" lean "$work/lean.out" "lean reply"

if grep -q '^panic' "$work/console"; then
  fail "the firmware panicked: $(grep '^panic' "$work/console")"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
