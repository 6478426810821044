#!/usr/bin/env bash
# virtio-blk throughput and IOPS from inside a guest beside the same file
# read and written on the host, alternately, ROUNDS times (default 3):
# sequential 64 KiB and 1 MiB reads and writes over a 64 MiB image, and 4096 random
# 4 KiB reads and writes. Writes are timed up to a completed FLUSH
# (fdatasync on the host). Target: guest sequential >= 80% of the host's.
#
#   bench/virtio_blk.sh [ROUNDS]      (after scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-3}
build=$root/build
image=$(mktemp /tmp/ember-bench-disk-XXXXXX)
trap 'rm -f "$image"' EXIT
dd if=/dev/zero of="$image" bs=1M count=64 status=none

declare -A guest host
patterns=(seq_read seq_write seq_read_1m seq_write_1m rand_read rand_write)
tsc_hz=0
for ((round = 1; round <= rounds; round++)); do
  out=$("$build/ember" run --kernel "$build/guests/virtio_blk_bench.elf" --disk "$image" --timeout 600)
  for p in "${patterns[@]}"; do guest[$p]+=" $(sed -n "s/^bench $p .*cycles=\([0-9]*\).*/\1/p" <<<"$out")"; done
  out=$("$build/bench/host_disk_io" "$image")
  for p in "${patterns[@]}"; do host[$p]+=" $(sed -n "s/^bench $p .*cycles=\([0-9]*\).*/\1/p" <<<"$out")"; done
  tsc_hz=$(sed -n 's/^tsc_hz=//p' <<<"$out")
done

# Bytes and requests per pattern are fixed by the programs.
bytes_of() { case $1 in seq_*) echo $((64 << 20));; *) echo $((4096 * 4096));; esac; }
requests_of() { case $1 in seq_*_1m) echo 64;; seq_*) echo 1024;; *) echo 4096;; esac; }
printf '%-11s %14s %14s %12s %12s %9s\n' pattern "guest MB/s" "host MB/s" "guest IOPS" "host IOPS" "guest/host"
for p in "${patterns[@]}"; do
  g=$(median ${guest[$p]}) h=$(median ${host[$p]})
  awk -v g="$g" -v h="$h" -v hz="$tsc_hz" -v b="$(bytes_of $p)" -v r="$(requests_of $p)" -v p="$p" 'BEGIN {
    printf "%-11s %14.1f %14.1f %12.0f %12.0f %8.0f%%\n", p, b / (g / hz) / 1e6, b / (h / hz) / 1e6, r / (g / hz), r / (h / hz), 100 * h / g }'
done
echo "(medians of $rounds alternating rounds; TSC ${tsc_hz} Hz)"
