#!/usr/bin/env bash
# Runs the core and nanosp test binaries under valgrind memcheck: any
# invalid read/write, use of uninitialised memory or definite leak fails.
#
#   tools/memcheck.sh            every test binary of nanosp-core and nanosp
#                                (those that spawn nngcat/python peers skipped)
#   tools/memcheck.sh --quick    the CI subset (a few minutes)
#   tools/memcheck.sh BIN [ARGS] only test binary BIN (e.g. loopback), with
#                                libtest ARGS (a filter, --skip ...)
#
# The binaries are the ordinary debug test builds (`cargo test --no-run`), so
# nothing is rebuilt with special flags. tools/valgrind.supp holds the
# suppressions for genuine false positives in third-party/runtime code (each
# commented). Core is #![forbid(unsafe_code)]: Miri is not needed for it.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }

# Test binaries that start external peers (nngcat, nanocat, python): the
# peers are not ours to check and their timing does not survive valgrind.
skip_re='^(nngcat|interop|tls)$'

quick=0
only=""
args=()
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
elif [ $# -gt 0 ]; then
  only=$1
  shift
  args=("$@")
fi

# name<TAB>path of each test binary, from cargo's own report.
list=$(cargo test --locked -p nanosp-core -p nanosp --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        t = m["target"]
        name = t["name"] if "test" in t["kind"] else t["name"] + "-lib"
        print(name + "\t" + m["executable"])
')

vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
  --show-leak-kinds=definite --suppressions=tools/valgrind.supp --gen-suppressions=all
  --num-callers=30)

# The CI subset: core's unit tests and framing, std's loopback (tcp, ipc, ws),
# hostile peers and the WebSocket handshake; two threads per binary.
quick_set='^(nanosp-lib|framing|stream_pipes|loopback|hostile|ws_handshake)$'

failed=()
start=$SECONDS
while IFS=$'\t' read -r name exe; do
  [ -n "$name" ] || continue
  if [ -n "$only" ]; then
    [ "$name" = "$only" ] || continue
  elif [[ $name =~ $skip_re ]]; then
    echo "--- $name: skipped (external peers)"
    continue
  elif [ $quick = 1 ] && ! [[ $name =~ $quick_set ]]; then
    continue
  fi
  t0=$SECONDS
  echo "--- $name"
  # Peers are optional for the remaining binaries.
  if NANOSP_REQUIRE_PEERS= "${vg[@]}" "$exe" --test-threads=2 -q "${args[@]}" 2>&1 |
    grep -v '^$' | tail -n 40; [ "${PIPESTATUS[0]}" = 0 ]; then
    echo "    ok ($((SECONDS - t0)) s)"
  else
    echo "    FAILED ($((SECONDS - t0)) s)"
    failed+=("$name")
  fi
done <<<"$list"

echo "memcheck: $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "memcheck failed: ${failed[*]}"
  exit 1
fi
echo "memcheck: clean"
