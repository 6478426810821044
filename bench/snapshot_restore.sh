#!/usr/bin/env bash
# Boot once, run many (issue 20): the whole `ember run ... -- true` round
# trip from a cold boot beside `ember run --restore DIR -- true` from a
# snapshot of the same machine (the project's vmlinux and initramfs, 256 MiB,
# one VCPU, the Linux tests' command line), alternating, in the same run;
# and the memory each holds while its guest runs (Rss and Private_Dirty of
# ember's /proc/PID/smaps_rollup, sampled while the guest sleeps: a restore's
# private pages are the guest RAM it wrote, the rest of what it read is the
# snapshot file's page cache, shared). Made for the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/snapshot_restore.sh [ROUNDS]
#
# Two times per run, in milliseconds: the whole process, by `date +%s%N`
# around it (in the nested VM, exec and exit alone take about 250 ms, a
# /bin/true 200 ms), and ember's own, main() to the guest's exit
# (--report json: startup_us + wall_ms). Medians, then the ratios
# cold/restore (target: at least 20). TCG timings are not hardware's: the
# ratios are what mean something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-10}
source "$root/bench/linux_guest.sh"
ember="$root/build/ember"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$ember" snapshot --kernel "$kernel" --initrd "$initramfs" --memory 256M --cmdline "$cmdline" --out "$work/snapshot" 2>/dev/null
echo "snapshot: $(du -sh --apparent-size "$work/snapshot/ram" | cut -f1) of RAM, $(du -sh "$work/snapshot/ram" | cut -f1) on disk (sparse)"

# "total_ms ember_ms" for one run of ember with ARGS.
one() {
  local start end startup wall
  start=$(date +%s%N)
  "$ember" "$@" --report json -- true > /dev/null 2> "$work/err" || { echo "failed failed"; return; }
  end=$(date +%s%N)
  startup=$(grep -o '"startup_us":[0-9]*' "$work/err" | tail -n 1 | cut -d: -f2)
  wall=$(grep -o '"wall_ms":[0-9]*' "$work/err" | tail -n 1 | cut -d: -f2)
  echo "$(( (end - start) / 1000000 )) $(( startup / 1000 + wall ))"
}

# "Rss Private_Dirty" (KiB) of ember while its guest sleeps, for ARGS.
memory() {
  "$ember" "$@" -- sh -c 'echo guest-asleep; sleep 5' > "$work/out" 2>&1 &
  local pid=$! i
  for ((i = 0; i < 600; i++)); do grep -q guest-asleep "$work/out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  awk '/^Rss:/ {r = $2} /^Private_Dirty:/ {p = $2} END {print r, p}' "/proc/$pid/smaps_rollup"
  wait "$pid" || true
}

cold_total=() cold_own=() restore_total=() restore_own=()
for ((i = 0; i < rounds; i++)); do
  read -r total own < <(one run --kernel "$kernel" --initrd "$initramfs" --memory 256M --cmdline "$cmdline")
  cold_total+=("$total") cold_own+=("$own")
  read -r total own < <(one run --restore "$work/snapshot")
  restore_total+=("$total") restore_own+=("$own")
done
ct=$(median "${cold_total[@]}") co=$(median "${cold_own[@]}") rt=$(median "${restore_total[@]}") ro=$(median "${restore_own[@]}")
echo "cold boot -- true: process ${cold_total[*]} ms (median $ct); ember main() to exit ${cold_own[*]} ms (median $co)"
echo "restore   -- true: process ${restore_total[*]} ms (median $rt); ember main() to exit ${restore_own[*]} ms (median $ro)"
awk -v c="$ct" -v r="$rt" 'BEGIN { if (r > 0) printf "whole process: restore is %.1fx faster\n", c / r }'
awk -v c="$co" -v r="$ro" 'BEGIN { if (r > 0) printf "ember main() to exit: restore is %.1fx faster\n", c / r }'
read -r rss dirty < <(memory run --kernel "$kernel" --initrd "$initramfs" --memory 256M --cmdline "$cmdline")
echo "cold boot, guest asleep: Rss $rss KiB, Private_Dirty $dirty KiB"
read -r rss dirty < <(memory run --restore "$work/snapshot")
echo "restore,   guest asleep: Rss $rss KiB, Private_Dirty $dirty KiB"
