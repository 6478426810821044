#!/usr/bin/env bash
# VMM start-up and memory: ember boots tests/guests/hello.elf (64 MiB) RUNS
# times (default 20) with --report json and prints the medians of
#  - startup_us: main() to the boot VCPU's first KVM_RUN (target <= 5 ms),
#  - exec_us: wall time of a whole `ember --version` (exec, dynamic linking,
#    exit), an upper bound on what comes before main(),
#  - peak_rss_kib - guest_resident_kib: ember's own peak memory, not counting
#    the guest RAM the guest touched (target <= 4 MiB).
#
#   bench/startup.sh [RUNS]      (after scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
runs=${1:-20}
ember="$root/build/ember"
field() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"; }

startup=() own=() exec=()
for ((i = 0; i < runs; i++)); do
  report=$("$ember" run --kernel "$root/build/guests/hello.elf" --memory 64M --console none --report json 2>&1 >/dev/null | tail -n 1)
  startup+=("$(field startup_us <<<"$report")")
  own+=($(( $(field peak_rss_kib <<<"$report") - $(field guest_resident_kib <<<"$report") )))
  start=$EPOCHREALTIME
  "$ember" --version >/dev/null
  end=$EPOCHREALTIME
  exec+=($(( (${end/./} - ${start/./}) )))
done
echo "startup_us (main -> first KVM_RUN): ${startup[*]}"
echo "exec_us (whole 'ember --version'):   ${exec[*]}"
echo "own_kib (peak RSS - guest resident): ${own[*]}"
echo "median: startup $(median "${startup[@]}") us + at most $(median "${exec[@]}") us before main; own memory $(median "${own[@]}") KiB"
