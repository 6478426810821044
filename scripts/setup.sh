#!/usr/bin/env bash
# Installs everything ember's build, tests and guest images need on Debian 12.
# Idempotent: packages already present are left alone, and apt is only asked
# when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # libraries ember links against
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libzydis-dev libfdt-dev libcap-ng-dev libseccomp-dev
  # guest images: kernel source and what building it needs, initramfs parts
  linux-source-6.1 bc bison flex libelf-dev libssl-dev cpio xz-utils
  busybox-static file
  # Debian's stock kernels as guests (scripts/build-stock-guest.sh): their
  # payloads are xz (generic) or lz4 (cloud) compressed
  lz4 zstd
  # ext4 disk images for the virtio-blk Linux test (mkfs.ext4 -d)
  e2fsprogs
  # the virtio-net tests configure their TAP device with ip (addr, link, neigh)
  iproute2
  # dtc: the device-tree tests read ember's --dump-dtb output back
  device-tree-compiler
  # iasl: the ACPI tests decompile ember's tables (iasl -d) to check them
  acpica-tools
  # the peer VMM: conformance runs of guest programs, boot-time comparisons
  qemu-system-x86
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}) and not root; run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
