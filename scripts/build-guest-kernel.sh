#!/usr/bin/env bash
# Builds ember's guest kernel (bzImage and vmlinux) from Debian's linux-source-6.1
# with images/linux-guest.config, cached outside the source tree.
#
#   scripts/build-guest-kernel.sh [EXTRA_FRAGMENT]
#
# EXTRA_FRAGMENT (say images/linux-guest-of.config) is merged after the base
# fragment, for a variant of the same kernel.
#
# The cache key is a hash of the config fragments, this script and the installed
# linux-source package version, so a second run with the same inputs is instant.
# Prints the cache directory holding bzImage and vmlinux on its last line.
#
#   EMBER_CACHE   where builds are cached (default: ~/.cache/ember)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fragment="$root/images/linux-guest.config"
fragments=("$fragment")
if (($# > 0)); then
  [[ -r $1 ]] || { echo "build-guest-kernel: cannot read the fragment '$1'" >&2; exit 1; }
  fragments+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
fi
tarball=/usr/src/linux-source-6.1.tar.xz
[[ -r $tarball ]] || { echo "build-guest-kernel: $tarball missing; run scripts/setup.sh" >&2; exit 1; }

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { cat "${fragments[@]}" "$0"; echo "$src_version"; } | sha256sum | cut -c1-16)
cache=${EMBER_CACHE:-$HOME/.cache/ember}
out="$cache/linux-$key"

if [[ -f $out/bzImage && -f $out/vmlinux ]]; then
  echo "build-guest-kernel: cached" >&2
  echo "$out"
  exit 0
fi

work="$cache/linux-build-$key"
rm -rf "$work"
mkdir -p "$work"
echo "build-guest-kernel: unpacking $tarball" >&2
tar -C "$work" -xf "$tarball"
cd "$work/linux-source-6.1"

make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >/dev/null
make -s olddefconfig

# merge_config silently drops options whose dependencies are missing; fail
# loudly instead, so the fragment stays true.
missing=0
while IFS= read -r line; do
  if [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
    # Something selected it back on.
    if grep -q "^${BASH_REMATCH[1]}=" .config; then
      echo "build-guest-kernel: ${BASH_REMATCH[1]} is on despite 'is not set'" >&2
      missing=1
    fi
    continue
  fi
  [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]] || continue
  if ! grep -qx "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}" .config; then
    echo "build-guest-kernel: ${BASH_REMATCH[1]}=${BASH_REMATCH[2]} did not survive olddefconfig" >&2
    missing=1
  fi
done < <(cat "${fragments[@]}")
((missing == 0)) || exit 1

echo "build-guest-kernel: building (several minutes on 2 cores)" >&2
make -s -j"$(nproc)" bzImage vmlinux

mkdir -p "$out.tmp"
cp arch/x86/boot/bzImage vmlinux .config "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
cd /
rm -rf "$work"
echo "$out"
