#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 600) and prints
# one summary line per target (runs, runs/s, coverage, corpus). Any crash
# fails the script after all targets ran; the input is in fuzz/artifacts/.
#
#   tools/fuzz-all.sh [SECONDS] [--grow] [TARGET...]
#
# Without --grow (what CI does) each target runs on a temporary copy of its
# committed corpus plus a scratch directory for new inputs, so nothing under
# fuzz/ changes, whatever libFuzzer writes or reduces. With --grow new inputs
# are added to fuzz/corpus/<target>, which is then minimised on edges:
# commit the result. Needs cargo-fuzz (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=600
grow=0
targets=()
for a in "$@"; do
  case $a in
    --grow) grow=1 ;;
    *[!0-9]*) targets+=("$a") ;;
    *) secs=$a ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list --fuzz-dir fuzz)
fi

export RUSTC_BOOTSTRAP=1

failed=()
summary=()
for t in "${targets[@]}"; do
  log=$(mktemp)
  if [ $grow = 1 ]; then
    mkdir -p "fuzz/corpus/$t"
    dirs=("fuzz/corpus/$t")
  else
    scratch=$(mktemp -d)
    mkdir "$scratch/new" "$scratch/seed"
    if [ -d "fuzz/corpus/$t" ]; then cp -R "fuzz/corpus/$t/." "$scratch/seed/"; fi
    dirs=("$scratch/new" "$scratch/seed")
  fi
  echo "==> fuzz $t for ${secs}s"
  if cargo fuzz run --fuzz-dir fuzz "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|deadly signal|timeout' "$log" | head -n 20 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
  line="$t: $status, ${runs:-?} runs, ${rate:-?} runs/s, ${cov:-no coverage line}"
  echo "    $line"
  summary+=("$line")
  [ $grow = 1 ] || rm -rf "$scratch"
  rm -f "$log"
  if [ $grow = 1 ] && [ $status = ok ]; then
    # Like `cargo fuzz cmin`, but on edges alone (-use_counters=0): cmin keeps
    # an input per hit-count bucket too, ten times the files for the same
    # edges. Named seeds (not 40-hex-digit names) are kept as they are.
    min=$(mktemp -d)
    cargo fuzz run --fuzz-dir fuzz "$t" "$min" "fuzz/corpus/$t" -- -merge=1 -use_counters=0 2>&1 |
      grep -E 'MERGE-OUTER: [0-9]+ new files' | tail -n 1 || true
    find "fuzz/corpus/$t" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    cp -n "$min"/* "fuzz/corpus/$t/" 2>/dev/null || true
    rm -rf "$min"
    echo "    corpus/$t: $(ls "fuzz/corpus/$t" | wc -l) files after minimising"
  fi
done

echo
echo "fuzz summary (${secs}s each):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
