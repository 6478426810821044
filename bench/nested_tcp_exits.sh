#!/usr/bin/env bash
# What guest->host TCP costs ember in exits, in the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/nested_tcp_exits.sh [MIB]
#
# (after scripts/build.sh). For each virtio transport (mmio, pci) one run
# of the project's Linux, 2 VCPUs, sends MIB MiB (default 16) from dd through
# busybox nc to a listener on the VM's side of a TAP device, and prints the
# transfer's time by the guest's /proc/uptime, the guest's packet counts and
# /proc/interrupts, and ember's --report json exit counts (which include the
# boot's). bench/README.md records what it showed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/linux_guest.sh"
mib=${1:-16} limit=${EMBER_BENCH_LIMIT:-180}
if [[ -z ${EMBER_BENCH_NETNS:-} ]]; then
  exec env EMBER_BENCH_NETNS=1 unshare -n bash "$0" "$@"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ip tuntap add embench0 mode tap
ip addr add 10.0.2.1/24 dev embench0
ip link set embench0 up
uptime='$(cut -d" " -f1 /proc/uptime)'
bytes=$((mib * 1048576))
command="ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; sleep 1; a=$uptime; \
dd if=/dev/zero bs=64k count=$((mib * 16)) 2>/dev/null | nc 10.0.2.1 7000; echo transfer-seconds \$a $uptime; \
echo packets-sent \$(cat /sys/class/net/eth0/statistics/tx_packets) packets-received \$(cat /sys/class/net/eth0/statistics/rx_packets); \
grep -E \"virtio|LOC\" /proc/interrupts"
for transport in mmio pci; do
  # The listener holds its stdin open (busybox nc -l ends the connection
  # when its stdin does) and counts what arrived.
  setsid bash -c "sleep $limit | busybox nc -l -p 7000 | wc -c > '$work/bytes'" &
  sink=$!
  "$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus 2 --memory 256M --cmdline "$cmdline" \
    --timeout "$limit" --report json --virtio-transport "$transport" --net tap=embench0 -- sh -c "$command" >"$work/out" 2>&1 || true
  sleep 1
  kill -- -"$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  echo "== virtio-$transport: $(cat "$work/bytes" 2>/dev/null || echo 0) of $bytes bytes arrived"
  tr -d '\r' <"$work/out" | awk '/^transfer-seconds/ {printf "transfer: %.2f s, %.2f MB/s\n", $3 - $2, '"$bytes"' / ($3 - $2) / 1e6; next}
    /^packets-sent|virtio|LOC:|"exits"/ {print}'
done
