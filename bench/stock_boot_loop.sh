#!/usr/bin/env bash
# Boots Debian's generic stock kernel (its ELF vmlinux, through PVH) with 2
# VCPUs and a virtio-pci ext4 disk N times (default 50) and counts how each
# run ended: issue 22 saw 2 of 14 such boots triple-fault in the nested VM.
# Made for the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/stock_boot_loop.sh [N]
#
# (after scripts/build.sh). Prints one line per run (status, seconds) and a
# tally; the stderr of every run that did not exit 0 is kept and printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-50}
dir=$(bash "$root/scripts/build-stock-guest.sh" amd64 | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
echo marker > "$work/root/marker"
mkfs.ext4 -q -F -d "$work/root" "$work/disk.img" 16M
declare -A tally=()
for ((run = 1; run <= runs; run++)); do
  start=$(date +%s.%N)
  status=0
  "$root/build/ember" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio.gz" --cpus 2 --memory 512M \
    --disk "$work/disk.img,ro" --virtio-transport pci --timeout 300 --cmdline "console=ttyS0 quiet stock.disk" \
    > "$work/out" 2> "$work/err" || status=$?
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  marker=$(grep -c "stock: disk marker marker" "$work/out" || true)
  printf 'run %2d: status %3d in %5.1f s, disk %s\n' "$run" "$status" "$seconds" "$([[ $marker == 1 ]] && echo found || echo MISSING)"
  tally[$status]=$(( ${tally[$status]:-0} + 1 ))
  if ((status != 0)); then
    echo "--- run $run stderr:"
    cat "$work/err"
    echo "--- run $run console tail:"
    tail -n 20 "$work/out"
  fi
done
echo "tally (status: runs):"
for status in "${!tally[@]}"; do echo "  $status: ${tally[$status]}"; done
