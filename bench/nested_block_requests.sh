#!/usr/bin/env bash
# virtio-blk request cost, one guest per VMM, for the nested tier:
#
#   bash scripts/nested-kvm.sh bash bench/nested_block_requests.sh [VMM...]
#
# VMMs (default all four): ember (virtio-mmio), ember-pci, qemu-pc,
# qemu-microvm (acpi=off: the project's kernel has no ACPI, so only then
# does QEMU put its virtio-mmio devices on the command line). Each boots the
# project's vmlinux and initramfs with 2 VCPUs and 256 MiB and a 64 MiB raw
# disk; the guest reads it with O_DIRECT, 1000 requests of 4 KiB one at a
# time and then 64 of 1 MiB, timed by its /proc/uptime (10 ms steps), and
# prints "block-result VMM ms-per-4k-request MB/s-at-1MiB", or "failed"
# when a dd failed or the guest did not answer within 300 s. Times under
# TCG are not hardware times: compare VMMs in the same run (bench/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/linux_guest.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
disk=$work/disk.img
dd if=/dev/urandom of="$disk" bs=1M count=64 status=none

up='$(cut -d" " -f1 /proc/uptime)'
command="a=$up; dd if=/dev/vda of=/dev/null bs=4k count=1000 iflag=direct && b=$up && \
dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct && echo block-times \$a \$b $up"
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
qemu() {  # qemu MACHINE DEVICE
  timeout 300 qemu-system-x86_64 -M "$1" -accel kvm -cpu qemu64 -smp 2 -m 256 -nodefaults -no-user-config \
    -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 -kernel "$kernel" \
    -initrd "$initramfs" -append "$cmdline ember.command=$(hex "sh -c '$command'")" \
    -drive "id=d0,file=$disk,format=raw,if=none,readonly=on" -device "$2,drive=d0" </dev/null 2>&1 || true
}
ember() {  # ember [OPTIONS...]
  "$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus 2 --memory 256M --cmdline "$cmdline" \
    --timeout 300 --disk "$disk,ro" "$@" -- sh -c "$command" </dev/null 2>&1 || true
}

for vmm in "${@:-ember ember-pci qemu-pc qemu-microvm}"; do
  for one in $vmm; do
    case $one in
      ember) output=$(ember) ;;
      ember-pci) output=$(ember --virtio-transport pci) ;;
      qemu-pc) output=$(qemu pc virtio-blk-pci) ;;
      qemu-microvm) output=$(qemu microvm,x-option-roms=off,rtc=off,acpi=off virtio-blk-device) ;;
      *) echo "nested_block_requests: unknown VMM '$one'" >&2; exit 2 ;;
    esac
    printf '%s\n' "$output" | tr -d '\r' | awk -v vmm="$one" '
      $1 == "block-times" && $3 > $2 && $4 > $3 {
        # seconds for 1000 requests are milliseconds per request
        printf "block-result %s %.2f %.1f\n", vmm, $3 - $2, 67108864 / ($4 - $3) / 1e6; ok = 1 }
      END { if (!ok) printf "block-result %s failed\n", vmm }'
  done
done
