#!/usr/bin/env bash
# The README's test command: installs what is needed, builds ember, its guest
# programs and the guest Linux kernel, then runs every test tier (unit, cli,
# kvm, linux) and ends with ctest's summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

bash "$root/scripts/setup.sh"
kernel_dir=$(bash "$root/scripts/build-guest-kernel.sh" | tail -n 1)
# The same kernel with CONFIG_OF, for the --describe-machine dtb test.
of_kernel_dir=$(bash "$root/scripts/build-guest-kernel.sh" "$root/images/linux-guest-of.config" | tail -n 1)
# Built so a broken initramfs script shows up here; no test boots it yet (README).
initramfs=$(bash "$root/scripts/build-initramfs.sh" | tail -n 1)
bash "$root/scripts/build.sh" -DEMBER_GUEST_KERNEL_DIR="$kernel_dir" -DEMBER_GUEST_OF_KERNEL_DIR="$of_kernel_dir" \
  -DEMBER_GUEST_INITRAMFS="$initramfs"

cd "$root/build"
ctest --output-on-failure -j"$(nproc)"
