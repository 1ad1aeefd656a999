#!/usr/bin/env bash
# Builds the three peers (spperf in release, nngperf on the system libnng,
# rawperf) and runs bench/compare.py with the given arguments.
#   bench/compare.sh                 full run (about 25 minutes), results in bench/results/
#   bench/compare.sh --smoke         about 10 seconds, prints the table, writes nothing
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
cc -O2 -o target/bench/nngperf bench/c/nngperf.c -lnng -lpthread
cc -O2 -o target/bench/rawperf bench/c/rawperf.c
cargo build --locked -q --release -p nanosp-cli --bin spperf
if [ "${1:-}" = "--smoke" ]; then
  shift
  exec python3 bench/compare.py --reps 1 --div 20 --sizes 64,64k --pin no \
    --transports inproc,ipc,tcp,ws,tls --scale tcp --blocking tcp --out '' "$@"
fi
exec python3 bench/compare.py "$@"
