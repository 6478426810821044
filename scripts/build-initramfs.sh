#!/usr/bin/env bash
# Builds ember's guest initramfs (an uncompressed newc cpio) from
# busybox-static, the init in images/initramfs/ and its helpers (ember-exit,
# ember-vsock, ember-command), cached outside the source tree by a hash of its inputs.
# Prints its path.
#
# Uncompressed on purpose: where KVM runs guest kernel code in its
# instruction emulator (nested hosts, src/emulation/instruction_emulator.h), gunzip in
# the kernel takes minutes; the cpio costs about 2.4 MiB of guest RAM.
#
#   EMBER_CACHE   where builds are cached (default: ~/.cache/ember)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sources="$root/images/initramfs"
busybox=/bin/busybox
[[ -x $busybox ]] || { echo "build-initramfs: $busybox missing; run scripts/setup.sh" >&2; exit 1; }
file "$busybox" 2>/dev/null | grep -q "statically linked" || { echo "build-initramfs: $busybox is not static (install busybox-static)" >&2; exit 1; }

key=$( { cat "$sources"/* "$0"; sha256sum "$busybox"; } | sha256sum | cut -c1-16)
cache=${EMBER_CACHE:-$HOME/.cache/ember}
out="$cache/initramfs-$key.cpio"
if [[ -f $out ]]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/proc" "$work/sys" "$work/dev" "$work/tmp"
cp "$busybox" "$work/bin/busybox"
install -m 0755 "$sources/init" "$work/init"
gcc -static -O2 -Wall -Wextra -I "$sources" -o "$work/bin/ember-exit" "$sources/ember_exit.c"
gcc -static -O2 -Wall -Wextra -o "$work/bin/ember-vsock" "$sources/ember_vsock.c"
gcc -static -O2 -Wall -Wextra -I "$sources" -o "$work/bin/ember-command" "$sources/ember_command.c"
ln -s ember-exit "$work/bin/ember-boot-timer"
mkdir -p "$cache"
(cd "$work" && find . | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
