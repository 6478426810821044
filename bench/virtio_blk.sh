#!/usr/bin/env bash
# virtio-blk throughput and IOPS from inside a guest, beside QEMU and the
# host, in one run: ROUNDS (default 3) alternating rounds of
#   ember-mmio  tests/guests/virtio_blk_bench.c over virtio-mmio,
#   ember-pci   the same program as a multiboot image over virtio-pci,
#   qemu-pci    that multiboot image under qemu-system-x86_64 -M pc -accel kvm
#               with -device virtio-blk-pci,disable-legacy=on,
#   host        bench/host_disk_io: pread/pwrite on the same file,
# each on a 64 MiB image: sequential 64 KiB and 1 MiB reads and writes, and
# 4096 random 4 KiB reads and writes. Writes are timed up to a completed
# FLUSH (fdatasync on the host; QEMU's default cache mode is writeback too).
# All guests poll, one request at a time except in the *_q2 patterns (1 MiB,
# two in flight), which the host's single-threaded pread/pwrite loop meets
# with its plain 1 MiB figures. Targets: guest sequential >= 80% of the
# host's, and ember >= QEMU.
#
#   bench/virtio_blk.sh [ROUNDS]      (after scripts/build.sh; QEMU from scripts/setup.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-3}
build=$root/build
image=$(mktemp /tmp/ember-bench-disk-XXXXXX)
trap 'rm -f "$image"' EXIT
dd if=/dev/zero of="$image" bs=1M count=64 status=none

sides=(ember-mmio ember-pci qemu-pci host)
patterns=(seq_read seq_write seq_read_1m seq_write_1m seq_read_1m_q2 seq_write_1m_q2 rand_read rand_write)
# What the host prints for a pattern: one thread keeps one request in flight.
host_pattern() { echo "${1%_q2}"; }
declare -A cycles
run_side() {
  case $1 in
    ember-mmio) "$build/ember" run --kernel "$build/guests/virtio_blk_bench.elf" --disk "$image" --timeout 600 ;;
    ember-pci) "$build/ember" run --kernel "$build/guests/multiboot_virtio_blk_bench.elf" --disk "$image" \
                 --virtio-transport pci --timeout 600 ;;
    qemu-pci) timeout 600 qemu-system-x86_64 -M pc -accel kvm -m 256 -nographic -no-reboot \
                -kernel "$build/guests/multiboot_virtio_blk_bench.elf" \
                -drive "file=$image,if=none,id=disk,format=raw" -device virtio-blk-pci,drive=disk,disable-legacy=on \
                -device isa-debug-exit,iobase=0xf4 || true ;;  # isa-debug-exit makes even success non-zero
    host) "$build/bench/host_disk_io" "$image" ;;
  esac
}
tsc_hz=0
for ((round = 1; round <= rounds; round++)); do
  for side in "${sides[@]}"; do
    out=$(run_side "$side" | tr -d '\r')
    for p in "${patterns[@]}"; do
      printed=$p
      [[ $side == host ]] && printed=$(host_pattern "$p")
      value=$(sed -n "s/.*bench $printed .*cycles=\([0-9]*\).*/\1/p" <<<"$out")  # QEMU: after SeaBIOS text on the line
      [[ -n $value ]] || { echo "virtio_blk.sh: $side printed no $p result:" >&2; echo "$out" | tail -5 >&2; exit 1; }
      cycles[$side,$p]+=" $value"
    done
    [[ $side == host ]] && tsc_hz=$(sed -n 's/^tsc_hz=//p' <<<"$out")
  done
done

# Bytes and requests per pattern are fixed by the programs.
bytes_of() { case $1 in seq_*) echo $((64 << 20));; *) echo $((4096 * 4096));; esac; }
printf '%-16s %11s %11s %11s %11s %12s %12s\n' "MB/s" "${sides[@]}" "pci/qemu" "mmio/host"
for p in "${patterns[@]}"; do
  line=$(printf '%-16s' "$p")
  declare -A mbs=()
  for side in "${sides[@]}"; do
    c=$(median ${cycles[$side,$p]})
    mbs[$side]=$(awk -v c="$c" -v hz="$tsc_hz" -v b="$(bytes_of "$p")" 'BEGIN { printf "%.1f", b / (c / hz) / 1e6 }')
    line+=$(printf ' %11s' "${mbs[$side]}")
  done
  line+=$(awk -v e="${mbs[ember-pci]}" -v q="${mbs[qemu-pci]}" -v m="${mbs[ember-mmio]}" -v h="${mbs[host]}" \
    'BEGIN { printf " %11.2fx %11.0f%%", e / q, 100 * m / h }')
  echo "$line"
done
echo "(medians of $rounds alternating rounds; TSC ${tsc_hz} Hz; IOPS = MB/s x 1e6 / request size)"
