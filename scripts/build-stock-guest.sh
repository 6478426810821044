#!/usr/bin/env bash
# Prepares one of Debian's stock kernels as an ember guest, for the tests of
# distribution kernels (tests/linux/stock_kernel_test.cpp) and for anyone
# who wants to try one:
#
#   scripts/build-stock-guest.sh FLAVOUR     # amd64 or cloud-amd64
#
# fetches linux-image-FLAVOUR's kernel package (once per version, cached
# under $EMBER_CACHE/nested, default ~/.cache/ember, beside the nested KVM
# VM's kernel), extracts the ELF vmlinux from its bzImage (ember boots it
# through its PVH entry), and builds an initramfs of busybox, images/stock/init
# and the modules that kernel needs for virtio-mmio, virtio-pci, virtio-blk
# and ext4. The last line of output is the directory holding vmlinuz,
# vmlinux and initramfs.cpio.gz (one per kernel version and initramfs
# content).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "build-stock-guest: $*" >&2; exit 1; }
flavour=${1:-}
[[ $flavour == amd64 || $flavour == cloud-amd64 ]] || fail "usage: scripts/build-stock-guest.sh amd64|cloud-amd64"
busybox=/bin/busybox
file "$busybox" 2>/dev/null | grep -q "statically linked" || fail "$busybox is not static; run scripts/setup.sh"
cache=${EMBER_CACHE:-$HOME/.cache/ember}/nested
staging=
trap '[[ -n $staging ]] && rm -rf "$staging"' EXIT  # a half-built file never stays in the cache

source "$root/scripts/lib/debian-kernel.sh"
debian_kernel_fetch "$flavour" "$cache"
# Whatever of these the flavour builds as modules (the rest are built in).
debian_kernel_modules virtio_mmio virtio_pci virtio_blk ext4 crc32c_generic

# The ELF kernel inside the bzImage: its payload (boot protocol 2.08+,
# payload_offset at 0x248 and payload_length at 0x24c, counted from the
# protected-mode code after the (setup_sects + 1) * 512-byte setup),
# decompressed by its own magic.
u32_at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
extract_vmlinux() {
  local image=$1 setup_sects offset length
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$image" | tr -d ' ')
  ((setup_sects == 0)) && setup_sects=4
  offset=$(( (setup_sects + 1) * 512 + $(u32_at "$image" $((0x248))) ))
  length=$(u32_at "$image" $((0x24c)))
  local magic
  magic=$(od -An -tx1 -j "$offset" -N4 "$image" | tr -d ' ')
  local decompress
  case $magic in
    fd377a58) decompress="xz -dc" ;;
    28b52ffd) decompress="zstd -dc" ;;
    1f8b*) decompress="gzip -dc" ;;
    02214c18) decompress="lz4 -dc" ;;  # the legacy LZ4 frame Debian's cloud kernel uses
    *) fail "the payload of $image is compressed in a way this script does not know (magic $magic)" ;;
  esac
  # A trailing size word after the compressed stream makes xz complain;
  # what it decompressed before is the whole kernel.
  tail -c +$((offset + 1)) "$image" | head -c "$length" | $decompress 2>/dev/null || true
}
if [[ ! -f $kernel_dir/vmlinux ]]; then
  staging=$(mktemp "$kernel_dir/.vmlinux.XXXXXX")
  extract_vmlinux "$kernel_dir/vmlinuz" > "$staging"
  [[ $(head -c 4 "$staging" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || { rm -f "$staging"; fail "no ELF kernel in $kernel_dir/vmlinuz"; }
  mv "$staging" "$kernel_dir/vmlinux"
fi

# One directory per initramfs content, so checkouts with different inits
# sharing this cache never see each other's.
key=$( { cat "$root/images/stock/init" "$0" "$root/scripts/lib/debian-kernel.sh"; sha256sum "$busybox"; echo "${module_order[*]}"; } | sha256sum | cut -c1-16)
guest_dir="$kernel_dir/guest-$key"
if [[ ! -f $guest_dir/initramfs.cpio.gz ]]; then
  staging=$(mktemp -d "$kernel_dir/.guest.XXXXXX")
  debian_module_initramfs "$root/images/stock/init" "$busybox" > "$staging/initramfs.cpio.gz"
  ln -s ../vmlinuz "$staging/vmlinuz"
  ln -s ../vmlinux "$staging/vmlinux"
  chmod 0755 "$staging"
  mv -T "$staging" "$guest_dir" 2>/dev/null || rm -rf "$staging"  # another run got there first
  staging=
fi
echo "$guest_dir"
