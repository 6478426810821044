#!/usr/bin/env bash
# Sequential read of a shared file over virtio-fs: ember (--share) beside
# QEMU with KVM (-M pc, vhost-user-fs-pci), both with the same virtiofsd
# (QEMU's, /usr/lib/qemu/virtiofsd, cache=auto), vmlinux, initramfs, memory,
# CPU count and kernel command line, in the same run. Made for the nested
# tier, where every machine has a stock KVM:
#
#   bash scripts/nested-kvm.sh bash bench/virtiofs_read.sh [ROUNDS]
#
# (after scripts/build.sh; builds the kernel and initramfs if needed). Each
# round boots a fresh guest, whose dd reads a 256 MiB file once in 1 MiB
# blocks (cold guest cache; the host's page cache is warm after the first
# round), timed by the guest's /proc/uptime (10 ms steps). VMMs alternate;
# medians in MB/s, then the ratio ember/QEMU. Times inside the nested VM are
# TCG's, not hardware's: the ratio is what means something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-3}
cpus=2 memory=512
source "$root/bench/linux_guest.sh"
limit=${EMBER_BENCH_LIMIT:-300}
virtiofsd=${EMBER_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
work=$(mktemp -d)
cleanup() {
  [[ -n ${daemon:-} ]] && kill "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/shared"
dd if=/dev/urandom of="$work/shared/big" bs=1M count=256 status=none

# The guest's dd, timed by its uptime: "BYTES START END".
command='s=$(cut -d" " -f1 /proc/uptime); dd if=/mnt/src/big of=/dev/null bs=1M 2>/dev/null; e=$(cut -d" " -f1 /proc/uptime); echo "read 268435456 $s $e"'
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# MB/s from the "read BYTES START END" line of a run's output.
rate() { sed -n 's/.*read \([0-9]*\) \([0-9.]*\) \([0-9.]*\).*/\1 \2 \3/p' "$1" | tr -d '\r' | tail -n 1 |
  awk '$3 > $2 {printf "%.1f\n", $1 / ($3 - $2) / 1e6; ok = 1} END {if (!ok) print "failed"}'; }

ember_round() {
  timeout "$limit" "$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus "$cpus" --memory "${memory}M" \
    --cmdline "$cmdline" --timeout "$limit" --share "$work/shared,tag=src" -- sh -c "$command" >"$work/out" 2>&1 </dev/null || true
  rate "$work/out"
}
qemu_round() {
  local socket=$work/qemu-fs.sock
  rm -f "$socket"
  "$virtiofsd" --socket-path="$socket" -o source="$work/shared" -o cache=auto -o sandbox=namespace -o log_level=err &
  daemon=$!
  for _ in $(seq 100); do [[ -S $socket ]] && break; sleep 0.1; done
  # ember's initramfs reads the command and the share from the command line.
  timeout "$limit" qemu-system-x86_64 -M pc -accel kvm -cpu qemu64 -smp "$cpus" -m "$memory" -nodefaults -no-user-config \
    -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 \
    -object memory-backend-memfd,id=mem,size="${memory}M",share=on -numa node,memdev=mem \
    -chardev socket,id=fs,path="$socket" -device vhost-user-fs-pci,chardev=fs,tag=src \
    -kernel "$kernel" -initrd "$initramfs" -append "$cmdline ember.shares=src ember.command=$(hex "sh -c '$command'")" \
    >"$work/out" 2>&1 </dev/null || true
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  daemon=
  rate "$work/out"
}

ember_rates=() qemu_rates=()
for ((round = 0; round < rounds; round++)); do
  ember_rates+=("$(ember_round)")
  qemu_rates+=("$(qemu_round)")
done
e=$(median_any "${ember_rates[@]}") q=$(median_any "${qemu_rates[@]}")
echo "virtio-fs sequential read, MB/s (median of $rounds; samples ember: ${ember_rates[*]}; qemu: ${qemu_rates[*]})"
echo "ember $e"
echo "qemu  $q"
if [[ $e != none && $q != none ]]; then awk -v e="$e" -v q="$q" 'BEGIN {printf "ratio ember/qemu %.2f\n", e / q}'; fi
