#!/usr/bin/env bash
# One benchmark guest program under ember and under the least-work KVM exit
# loop (build/bench/raw_exit_loop), run alternately ROUNDS times. The guest
# measures itself in TSC cycles and prints "LABEL: N"; this prints each run,
# the medians and the ratio ember/raw.
#
#   bench/versus_raw.sh PROGRAM LABEL ROUNDS    (after scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
program=$1 label=$2 rounds=$3
guest="$root/build/guests/$program.elf"
cycles() { sed -n "s/^$label: //p"; }

ember_runs=() raw_runs=()
for ((i = 0; i < rounds; i++)); do
  ember_runs+=("$("$root/build/ember" run --kernel "$guest" --memory 64M --timeout 120 | cycles)")
  raw_runs+=("$("$root/build/bench/raw_exit_loop" "$guest" | cycles)")
done
ember=$(median "${ember_runs[@]}")
raw=$(median "${raw_runs[@]}")
mhz=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
echo "ember runs (TSC cycles): ${ember_runs[*]}"
echo "raw runs   (TSC cycles): ${raw_runs[*]}"
awk -v e="$ember" -v r="$raw" -v mhz="$mhz" 'BEGIN {
  printf "median: ember %d cycles (%.2f us), raw %d cycles (%.2f us), ratio %.2f\n", e, e / mhz, r, r / mhz, e / r }'
