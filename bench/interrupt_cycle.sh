#!/usr/bin/env bash
# The full interrupt cycle (device posts -> guest handler runs) under ember
# beside the raw KVM_INTERRUPT cycle, the same guest program on both, run
# alternately ROUNDS times (default 5). Prints each run's median in TSC
# cycles, the medians of those, and the ratio (target: ember <= 1.3x raw).
#
#   bench/interrupt_cycle.sh [ROUNDS]      (after scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
guest="$root/build/guests/irq_cycle_bench.elf"
cycles() { sed -n 's/^interrupt cycle median tsc cycles: //p'; }

ember_runs=() raw_runs=()
for ((i = 0; i < rounds; i++)); do
  ember_runs+=("$("$root/build/ember" run --kernel "$guest" --memory 64M --timeout 120 | cycles)")
  raw_runs+=("$("$root/build/bench/raw_interrupt_cycle" "$guest" | cycles)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ember=$(median "${ember_runs[@]}")
raw=$(median "${raw_runs[@]}")
mhz=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
echo "ember runs (TSC cycles): ${ember_runs[*]}"
echo "raw runs   (TSC cycles): ${raw_runs[*]}"
awk -v e="$ember" -v r="$raw" -v mhz="$mhz" 'BEGIN {
  printf "median: ember %d cycles (%.1f us), raw %d cycles (%.1f us), ratio %.2f\n", e, e / mhz, r, r / mhz, e / r }'
