#!/usr/bin/env bash
# What guest->host TCP costs ember in exits, in the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/nested_tcp_exits.sh [MIB]
#
# (after scripts/build.sh). For each virtio transport (mmio, pci) one run
# of the project's Linux, 2 VCPUs (EMBER_BENCH_CPUS), sends MIB MiB (default 16) from dd through
# busybox nc to a listener on the VM's side of a TAP device, and prints the
# transfer's time by the guest's /proc/uptime, the guest's packet counts and
# /proc/interrupts, ember's --report json exit counts (which include the
# boot's), and every exit of the guest during the transfer by SVM/VMX exit
# code, those KVM handles itself included (the kvm_exit tracepoint's
# histogram, read when the guest prints its start and end markers). The
# histogram's trigger runs on every exit, so the transfer times here are
# not comparable with nested_versus_qemu.sh's.
# bench/README.md records what it showed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/linux_guest.sh"
mib=${1:-16} limit=${EMBER_BENCH_LIMIT:-180} cpus=${EMBER_BENCH_CPUS:-2}
if [[ -z ${EMBER_BENCH_NETNS:-} ]]; then
  exec env EMBER_BENCH_NETNS=1 unshare -n bash "$0" "$@"
fi
work=$(mktemp -d)
tracing=/sys/kernel/tracing
histogram=$tracing/events/kvm/kvm_exit/hist trigger=$tracing/events/kvm/kvm_exit/trigger
trap '{ echo "!hist:keys=exit_reason" >> "$trigger"; } 2>/dev/null || true; rm -rf "$work"' EXIT
ip tuntap add embench0 mode tap
ip addr add 10.0.2.1/24 dev embench0
ip link set embench0 up
mountpoint -q "$tracing" || mount -t tracefs nodev "$tracing"
uptime='$(cut -d" " -f1 /proc/uptime)'
bytes=$((mib * 1048576))
command="ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; echo transfer-begins; sleep 1; a=$uptime; \
dd if=/dev/zero bs=64k count=$((mib * 16)) 2>/dev/null | nc 10.0.2.1 7000; echo transfer-seconds \$a $uptime; echo transfer-ends; sleep 1; \
echo packets-sent \$(cat /sys/class/net/eth0/statistics/tx_packets) packets-received \$(cat /sys/class/net/eth0/statistics/rx_packets); \
grep -E \"virtio|LOC\" /proc/interrupts"
for transport in mmio pci; do
  # The listener holds its stdin open (busybox nc -l ends the connection
  # when its stdin does) and counts what arrived.
  setsid bash -c "sleep $limit | busybox nc -l -p 7000 | wc -c > '$work/bytes'" &
  sink=$!
  rm -f "$work/exits-"*
  echo 'hist:keys=exit_reason' >> "$trigger"
  "$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus "$cpus" --memory 256M --cmdline "$cmdline" \
    --timeout "$limit" --report json --virtio-transport "$transport" --net tap=embench0 -- sh -c "$command" >"$work/out" 2>&1 &
  vmm=$!
  # Each marker is followed by an idle second in the guest: the snapshot
  # falls there. A marker that never came (ember ended first) leaves no
  # snapshot, and no count is printed.
  for marker in begins ends; do
    until grep -qa "transfer-$marker" "$work/out" || ! kill -0 $vmm 2>/dev/null; do sleep 0.1; done
    grep -qa "transfer-$marker" "$work/out" && cat "$histogram" > "$work/exits-$marker"
  done
  wait $vmm || true
  echo '!hist:keys=exit_reason' >> "$trigger"
  sleep 1
  kill -- -"$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  echo "== virtio-$transport: $(cat "$work/bytes" 2>/dev/null || echo 0) of $bytes bytes arrived"
  tr -d '\r' <"$work/out" | awk '/^transfer-seconds/ {printf "transfer: %.2f s, %.2f MB/s\n", $3 - $2, '"$bytes"' / ($3 - $2) / 1e6; next}
    /^packets-sent|virtio|LOC:|"exits"/ {print}'
  # hitcount per exit_reason, the end's minus the beginning's.
  # Lines read "{ exit_reason: 124 } hitcount: 6392". SVM's codes, in
  # decimal: 124 MSR, 96 INTR (a host interrupt), 1024 NPF (MMIO and
  # ioeventfd), 100 VINTR (interrupt window), 123 IOIO, 120 HLT, 114 CPUID.
  if [[ ! -f $work/exits-begins || ! -f $work/exits-ends ]]; then
    echo "  guest exits not counted: the guest's transfer markers did not both arrive"
    continue
  fi
  awk '/^\{ exit_reason:/ {n[$3] += (FILENAME ~ /ends$/ ? 1 : -1) * $NF}
    END {for (k in n) if (n[k] > 0) {printf "  %7d exit_reason %s\n", n[k], k; total += n[k]}; printf "  %7d guest exits during the transfer\n", total}' \
    "$work/exits-begins" "$work/exits-ends" | sort -rn
done
