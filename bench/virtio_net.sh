#!/usr/bin/env bash
# virtio-net transmit throughput from inside a guest, ember beside QEMU in
# one run: ROUNDS (default 3) alternating rounds of the multiboot program
# tests/guests/multiboot/multiboot_virtio_net_bench.c (PACKETS UDP datagrams
# of 1472 bytes, 1514-byte frames, 4 in flight, polled) over virtio-net-pci on
# a TAP device, under
#   ember   --virtio-transport pci --net tap=embertap0,
#   qemu    qemu-system-x86_64 -M pc -accel kvm, -netdev tap (no vhost)
#           -device virtio-net-pci,disable-legacy=on,
# with bench/udp_sink counting what reaches 10.0.2.1:7000 on the host end.
# Runs inside a network namespace of its own (root).
#
#   bench/virtio_net.sh [ROUNDS] [PACKETS]   (after scripts/build.sh; root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
packets=${2:-20000}
if [[ ${EMBER_NET_BENCH_IN_NAMESPACE:-} != 1 ]]; then
  exec unshare -n env EMBER_NET_BENCH_IN_NAMESPACE=1 bash "$0" "$rounds" "$packets"
fi
source "$root/bench/median.sh"
build=$root/build
program=$build/guests/multiboot_virtio_net_bench.elf
tap=embertap0

ip link set lo up
ip tuntap add "$tap" mode tap
ip addr add 10.0.2.1/24 dev "$tap"
ip link set "$tap" up
ip neigh add 10.0.2.15 lladdr 52:54:00:12:34:56 dev "$tap" 2>/dev/null || true

run_side() {
  case $1 in
    ember) "$build/ember" run --kernel "$program" --net "tap=$tap" --virtio-transport pci --timeout 600 \
             --cmdline "packets=$packets" ;;
    qemu) timeout 600 qemu-system-x86_64 -M pc -accel kvm -m 256 -nographic -no-reboot -kernel "$program" \
            -append "packets=$packets" \
            -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no,vhost=off" \
            -device virtio-net-pci,netdev=net0,disable-legacy=on,mac=52:54:00:12:34:56 \
            -device isa-debug-exit,iobase=0xf4 2>/dev/null || true ;;  # isa-debug-exit: success is non-zero
  esac
}

declare -A cycles received
tsc_hz=0
for ((round = 1; round <= rounds; round++)); do
  for side in ember qemu; do
    sink_out=$(mktemp)
    "$build/bench/udp_sink" 10.0.2.1 7000 >"$sink_out" &
    sink=$!
    until grep -q listening "$sink_out"; do sleep 0.05; done
    out=$(run_side "$side" | tr -d '\r')
    wait "$sink"
    value=$(sed -n 's/.*bench udp_tx .*cycles=\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n $value ]] || { echo "virtio_net.sh: $side printed no result:" >&2; echo "$out" | tail -5 >&2; exit 1; }
    cycles[$side]+=" $value"
    received[$side]+=" $(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$sink_out")"
    tsc_hz=$(sed -n 's/^tsc_hz=//p' "$sink_out")
    rm -f "$sink_out"
  done
done
echo "side   guest-sent MB/s   packets/s   received by the host (per round, of $packets)"
for side in ember qemu; do
  c=$(median ${cycles[$side]})
  awk -v c="$c" -v hz="$tsc_hz" -v n="$packets" -v s="$side" -v r="${received[$side]}" 'BEGIN {
    printf "%-6s %15.1f %11.0f   %s\n", s, n * 1472 / (c / hz) / 1e6, n / (c / hz), r }'
done
echo "(medians of $rounds alternating rounds; TSC ${tsc_hz} Hz)"
