#!/usr/bin/env bash
# Boot once, run many (issue 20): the whole `ember run ... -- true` round
# trip from a cold boot beside `ember run --restore DIR -- true` from a
# snapshot of the same machine (the project's vmlinux and initramfs, 256 MiB,
# one VCPU, the Linux tests' command line), alternating, in the same run; and
# the guest RAM each touched (--report json's guest_resident_kib: pages of
# guest RAM resident in ember at the end; for a restore, those it read or
# wrote of the copy-on-write mapping). Made for the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/snapshot_restore.sh [ROUNDS]
#
# Milliseconds by `date +%s%N` around each ember; medians, then the ratio
# cold/restore (target: at least 20). TCG timings are not hardware's: the
# ratio is what means something.
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

# ms touched_kib for one run of ember with ARGS.
one() {
  local start end kib
  start=$(date +%s%N)
  "$ember" "$@" --report json -- true > /dev/null 2> "$work/err" || { echo "failed failed"; return; }
  end=$(date +%s%N)
  kib=$(grep -o '"guest_resident_kib":[0-9]*' "$work/err" | tail -n 1 | cut -d: -f2)
  echo "$(( (end - start) / 1000000 )) $kib"
}

cold_ms=() restore_ms=() cold_kib=() restore_kib=()
for ((i = 0; i < rounds; i++)); do
  read -r ms kib < <(one run --kernel "$kernel" --initrd "$initramfs" --memory 256M --cmdline "$cmdline")
  cold_ms+=("$ms") cold_kib+=("$kib")
  read -r ms kib < <(one run --restore "$work/snapshot")
  restore_ms+=("$ms") restore_kib+=("$kib")
done
cold=$(median "${cold_ms[@]}") restore=$(median "${restore_ms[@]}")
echo "cold boot -- true:  ${cold_ms[*]} ms; median $cold ms; guest RAM touched median $(median "${cold_kib[@]}") KiB"
echo "restore   -- true:  ${restore_ms[*]} ms; median $restore ms; guest RAM touched median $(median "${restore_kib[@]}") KiB"
awk -v c="$cold" -v r="$restore" 'BEGIN { if (r > 0) printf "restore is %.1fx faster than the cold boot\n", c / r }'
