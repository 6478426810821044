#!/usr/bin/env bash
# How long Debian's stock kernels spend probing the i8042 and the CMOS RTC
# under ember, beside QEMU with KVM (machine pc, the same kernel, initramfs,
# CPUs and command line), from the kernel's own initcall_debug timing.
# Issue 22's target: under 100 ms each (before ember answered them, the
# i8042 probe waited 1.2-3.9 s and the RTC probe 4-26 s). Made for the
# nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/stock_probe_times.sh [ROUNDS]
#
# (after scripts/build.sh; prepares the kernels with
# scripts/build-stock-guest.sh). One row per kernel, VMM and initcall,
# the median of ROUNDS boots (default 5), VMMs alternating, in µs. Inside
# the nested VM the guest's code runs under TCG, so these times are many
# times what hardware gives; QEMU's row shows what the environment itself
# costs (bench/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-5}
cpus=${EMBER_BENCH_CPUS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmdline="console=ttyS0 quiet initcall_debug"

initcall_us() {  # initcall_us NAME FILE: the µs initcall_debug reported, or "none"
  sed -n "s/.*initcall $1+[^ ]* returned -*[0-9]* after \([0-9]*\) usecs.*/\1/p" "$2" | head -n 1 | grep . || echo none
}

printf '%-8s %-6s %-11s %10s\n' kernel vmm initcall "median µs"
for flavour in amd64 cloud-amd64; do
  dir=$(bash "$root/scripts/build-stock-guest.sh" "$flavour" | tail -n 1)
  declare -A samples=()
  for ((round = 0; round < rounds; round++)); do
    "$root/build/ember" run --kernel "$dir/vmlinuz" --initrd "$dir/initramfs.cpio.gz" --cpus "$cpus" --memory 512M \
      --timeout 300 --cmdline "$cmdline" > "$work/ember.out" 2>/dev/null || true
    timeout 300 qemu-system-x86_64 -accel kvm -M pc -cpu host -smp "$cpus" -m 512M -nodefaults -no-user-config \
      -display none -no-reboot -serial stdio -kernel "$dir/vmlinuz" -initrd "$dir/initramfs.cpio.gz" \
      -append "$cmdline" < /dev/null > "$work/qemu.out" 2>/dev/null || true
    for vmm in ember qemu; do
      for initcall in i8042_init cmos_init; do
        samples[$vmm.$initcall]+="$(initcall_us "$initcall" "$work/$vmm.out") "
      done
    done
  done
  for vmm in ember qemu; do
    for initcall in i8042_init cmos_init; do
      # shellcheck disable=SC2086
      printf '%-8s %-6s %-11s %10s   (%s)\n' "${flavour%-amd64}" "$vmm" "$initcall" "$(median ${samples[$vmm.$initcall]})" \
        "${samples[$vmm.$initcall]% }"
    done
  done
  unset samples
done
