#!/usr/bin/env bash
# Runs every test and check of the repository. Needs the toolchain set up
# (see .ci/run, which installs what is missing and then calls this).
# FUZZ_SECONDS (default 30) sets the length of each fuzz target's smoke run;
# 0 skips it. MEMCHECK=0 skips the valgrind subset. Cargo runs with --locked:
# a lock file that does not match its manifests fails instead of being
# rewritten. The run must leave the work tree as it found it (checked last).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

tree_before=$(git status --porcelain --untracked-files=all)

step "lock files current (host, wasm, fuzz, firmware and demo-server workspaces)"
for m in Cargo.toml bindings/wasm/Cargo.toml fuzz/Cargo.toml \
  examples/firmware-stm32/Cargo.toml examples/firmware-m0/Cargo.toml \
  examples/firmware-qemu/Cargo.toml \
  examples/browser/server/Cargo.toml; do
  cargo metadata --locked --format-version 1 --manifest-path "$m" >/dev/null \
    || { echo "$m: Cargo.lock is not current (run cargo metadata --manifest-path $m and commit it)"; exit 1; }
done

step "format"
cargo fmt --all -- --check

step "clippy (host, all targets)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "clippy (nanosp without its default feature 'tracing'; nanosp-embassy with its feature 'tls')"
cargo clippy --locked -p nanosp --no-default-features --all-targets -- -D warnings
cargo clippy --locked -p nanosp-embassy --features tls --all-targets -- -D warnings

step "docs of every crate (warnings are errors), and no link that breaks across crates"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --locked -p nanosp-embassy --features tls --no-deps --quiet
python3 tools/check-doc-links.py target/doc
# The wasm crates, for wasm32 as docs.rs builds nanosp-web (core beside them
# so their links to it resolve).
(cd bindings/wasm && RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet \
  -p nanosp-core -p nanosp-web -p nanosp-wasm)
python3 tools/check-doc-links.py target/wasm32-unknown-unknown/doc
# Every section of docs/wire.md that the code cites exists.
python3 tools/check-wire-refs.py

step "MSRV: every crate checked with the rust-version its manifest declares (tools/msrv.sh)"
tools/msrv.sh

step "tests: core alone (critical-section lock, no std)"
cargo test --locked -p nanosp-core

# nanosp's reliability tests run here too: fd exhaustion, the 10-second
# soaks (NANOSP_SOAK_SECS sets their length) and the network-namespace
# partition test (root and iproute2; NANOSP_REQUIRE_PEERS=1 makes a missing
# one a failure).
step "tests: workspace (std lock; nanosp loopback, reliability, nngcat, pynng and nanocat interop; spcat)"
cargo test --locked --workspace

step "nanosp-embassy's TLS 1.3 client (feature tls) against a nanosp tls+tcp:// listener, over TAP in a network namespace"
cargo test --locked -p nanosp-embassy --features tls --test tls

step "core builds for microcontrollers and the browser"
cargo build --locked -p nanosp-core --target thumbv7em-none-eabihf
cargo build --locked -p nanosp-core --target wasm32-unknown-unknown
cargo build --locked -p nanosp-core --target wasm32-unknown-unknown --features std
cargo build --locked -p nanosp-core --target thumbv6m-none-eabi --features portable-atomic/critical-section

step "core with protocols left out (cargo features): each protocol alone, none, and a socket of one left out"
for f in "" req0 rep0 pub0 sub0 push0 pull0 surveyor0 respondent0 bus0 pair0 pair1 star0 inproc device contexts raw all-protocols,contexts; do
  cargo clippy --locked -q -p nanosp-core --no-default-features --features "$f" \
    --target thumbv7em-none-eabihf -- -D warnings
done
cargo test --locked -q -p nanosp-core --no-default-features --features req0,push0,pull0,inproc --test features
cargo test --locked -q -p nanosp-core --no-default-features --features req0,rep0,inproc --test features
cargo clippy --locked -q -p nanosp-core --no-default-features --features all-protocols,inproc,device,std \
  --lib -- -D warnings

step "firmware examples: clippy (release profile, as they are built) and sizes"
(cd examples/firmware-stm32 && cargo clippy --locked --release --quiet -- -D warnings \
  && cargo clippy --locked --release --quiet --features tls -- -D warnings)
(cd examples/firmware-m0 && cargo clippy --locked --release --quiet -- -D warnings)
tools/firmware-size.sh

step "the demo firmware on an emulated Cortex-M4F (QEMU mps2-an386, LAN9118 on TAP in a network namespace) against nngcat"
(cd examples/firmware-qemu && cargo clippy --locked --release --quiet -- -D warnings)
timeout 600 tools/qemu-test.sh

step "spcat talks to nngcat"
sock="${TMPDIR:-/tmp}/nanosp-ci-$$.ipc"
out_file=$(mktemp)
# Built first; nngcat starts once spcat's socket file exists (a safety limit
# of 30 s, not a sleep to wait on).
cargo build --locked -q -p nanosp-cli --bin spcat
target/debug/spcat --pull0 --listen "ipc://$sock" --quoted --count 1 --recv-timeout 20 >"$out_file" &
spcat_pid=$!
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
nngcat --push0 --dial "ipc://$sock" --data "hello from nngcat" --send-timeout 10
wait "$spcat_pid"
out=$(cat "$out_file"); rm -f "$out_file"
[ "$out" = '"hello from nngcat"' ] || { echo "spcat received: $out"; exit 1; }

step "benchmark smoke: nanosp, nng and raw sockets side by side (numbers printed, not asserted)"
bench/compare.sh --smoke

step "idle pipes: 10,000 handshaken TCP connections to a REP listener cost at most 2 KiB each, on at most cores + 2 threads (issue 14)"
cargo build --locked -q --release -p nanosp-cli --bin spcat
python3 bench/idle.py --count 10000 --max-per-pipe 2048 --max-threads $(($(nproc) + 2)) --nng target/release/spcat

step "spperf faces nng's perf (libnng) both ways: each side's output lines must appear"
# The server (local_*) listens, the client (remote_*) redials until it is up.
perf_cross() { # server-binary client-binary mode url
  local srv_out
  srv_out=$(mktemp)
  "$1" "local_$3" "$4" 64 2000 >"$srv_out" &
  local pid=$!
  local cli_out
  cli_out=$(timeout 60 "$2" "remote_$3" "$4" 64 2000)
  wait "$pid"
  local all
  all="$(cat "$srv_out")$cli_out"
  rm -f "$srv_out"
  case "$3" in
    lat) want="average latency: " ;;
    thr) want="throughput: " ;;
  esac
  grep -q "$want" <<<"$all" || { echo "no '$want' from $1 <-> $2 ($3)"; echo "$all"; exit 1; }
  echo "$(basename "$1") local_$3 <-> $(basename "$2") remote_$3: $(grep -m1 "$want" <<<"$all")"
}
for mode in lat thr; do
  perf_cross target/release/spperf target/bench/nngperf "$mode" "ipc://${TMPDIR:-/tmp}/nanosp-x1-$$.ipc"
  perf_cross target/bench/nngperf target/release/spperf "$mode" "ipc://${TMPDIR:-/tmp}/nanosp-x2-$$.ipc"
done

step "nanosp examples"
timeout 300 cargo run --locked -q -p nanosp --example pubsub >/dev/null
timeout 300 cargo run --locked -q -p nanosp --example pipeline >/dev/null
timeout 300 cargo run --locked -q -p nanosp --example reqrep >/dev/null
timeout 300 cargo run --locked -q -p nanosp --example survey >/dev/null
timeout 300 cargo run --locked -q --release -p nanosp --example tour >/dev/null

step "demo"
timeout 300 cargo run --locked --release -p nanosp-examples --bin demo >/dev/null

step "browser: nanosp-web and nanosp-wasm (wasm32 workspace in bindings/wasm): format, clippy"
(cd bindings/wasm && cargo fmt --all -- --check && cargo clippy --locked --all-targets -- -D warnings \
  && cargo clippy --locked -p nanosp-web --all-targets -- -D warnings)

step "browser: npm package build and .wasm size"
bindings/wasm/build.sh
bindings/wasm/size.sh

step "packages: cargo package (verified) of every publishable crate, npm pack --dry-run (tools/package.sh)"
tools/package.sh

if [ -d transports/std ]; then
  step "browser: the nanosp demo server (examples/browser/server)"
  cargo build --locked --release --manifest-path examples/browser/server/Cargo.toml --target-dir target
fi

step "browser: headless Chromium and Node 20 against nngcat (and nanosp when built); demo page"
(cd bindings/wasm/tests && node browser.mjs && node node.mjs && node demo.mjs)

step "memcheck: a subset of the core and nanosp tests under valgrind"
if [ "${MEMCHECK:-1}" != 0 ]; then
  tools/memcheck.sh --quick
fi

secs=${FUZZ_SECONDS:-30}
if [ "$secs" != 0 ]; then
  step "fuzz smoke (${secs}s per target, every target; the committed corpora are not changed)"
  tools/fuzz-all.sh "$secs"
fi

step "the run left the work tree as it found it (in CI: clean)"
tree_after=$(git status --porcelain --untracked-files=all)
if [ "$tree_after" != "$tree_before" ]; then
  echo "the run changed the work tree:"
  diff <(echo "$tree_before") <(echo "$tree_after") | sed -n 's/^> /  /p'
  exit 1
fi

step "all checks passed"
