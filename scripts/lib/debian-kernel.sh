# Sourced by scripts that run one of Debian's stock kernels: the nested KVM
# VM's (scripts/nested-kvm.sh) and the stock guests ember boots
# (scripts/build-stock-guest.sh). Callers define fail() and set -euo pipefail.
#
# debian_kernel_fetch FLAVOUR CACHE_DIR
#   Resolves linux-image-FLAVOUR (amd64, cloud-amd64) to the package it
#   depends on today, fetches it once per version with apt-get download and
#   unpacks it (never installs it) into CACHE_DIR/PACKAGE_VERSION, with
#   vmlinuz and modules/. Sets kernel_package, kernel_version, kernel_dir.
#
# debian_kernel_modules NAME...
#   Sets module_order to NAME... and every module they depend on, each after
#   its dependencies, skipping those built into the kernel. module_contents
#   NAME prints a module uncompressed (Debian 12 ships NAME.ko; later
#   releases NAME.ko.xz or .zst), for busybox's insmod.
#
# debian_module_initramfs INIT BUSYBOX
#   Prints a gzipped newc initramfs: BUSYBOX as /bin/busybox, INIT as /init,
#   every module of module_order in /lib/modules, and their order in
#   /modules (the inits load them in that order).

debian_kernel_fetch() {
  local flavour=$1 cache=$2
  local meta=linux-image-$flavour
  kernel_package=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}') || true
  if [[ -z $kernel_package ]]; then
    apt-get update -qq >/dev/null 2>&1 || true
    kernel_package=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}') || true
  fi
  [[ -n $kernel_package ]] || fail "apt cannot resolve $meta (no package lists?)"
  kernel_version=$(apt-cache policy "$kernel_package" | awk '/Candidate:/ {print $2}')
  kernel_dir="$cache/${kernel_package}_$kernel_version"
  [[ -f $kernel_dir/vmlinuz ]] && return
  echo "debian-kernel: fetching $kernel_package $kernel_version" >&2
  mkdir -p "$cache"
  local download staging
  download=$(mktemp -d)
  (cd "$download" && apt-get download -q "$kernel_package" >/dev/null 2>&1) ||
    { rm -rf "$download"; fail "apt-get download $kernel_package failed"; }
  dpkg-deb -x "$download"/*.deb "$download/unpacked"
  # Built beside the cache entry and moved into place, so runs at the same
  # time never see half of one.
  staging=$(mktemp -d "$cache/.kernel.XXXXXX")
  cp "$download"/unpacked/boot/vmlinuz-* "$staging/vmlinuz"
  # Debian 12 ships /lib/modules/VERSION; later releases /usr/lib/modules.
  mv "$download"/unpacked/lib/modules/* "$staging/modules" 2>/dev/null ||
    mv "$download"/unpacked/usr/lib/modules/* "$staging/modules"
  rm -rf "$download"
  mv -T "$staging" "$kernel_dir" 2>/dev/null || rm -rf "$staging"  # another run got there first
}

module_contents() {
  local file=$kernel_dir/modules/${module_path[$1]}
  case $file in
    *.xz) xz -dc "$file" ;;
    *.zst) zstd -dc "$file" ;;
    *) cat "$file" ;;
  esac
}

debian_kernel_modules() {
  declare -gA module_path=() module_builtin=()
  declare -A added=()
  module_order=()
  local path name file
  while IFS= read -r path; do
    name=${path##*/}
    name=${name%.ko}
    for file in "$path" "$path.xz" "$path.zst"; do
      [[ -f $kernel_dir/modules/$file ]] && { module_path[${name//-/_}]=$file; break; }
    done
  done < "$kernel_dir/modules/modules.order"
  while IFS= read -r path; do
    name=${path##*/}
    name=${name%.ko}
    module_builtin[${name//-/_}]=1
  done < "$kernel_dir/modules/modules.builtin"
  add_module() {
    local name=${1//-/_}
    [[ -n ${added[$name]:-} || -n ${module_builtin[$name]:-} ]] && return
    [[ -n ${module_path[$name]:-} ]] || fail "module $name is not in $kernel_package"
    added[$name]=1
    local depends dependency
    depends=$(module_contents "$name" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1)
    for dependency in ${depends//,/ }; do add_module "$dependency"; done
    module_order+=("$name")
  }
  local module
  for module in "$@"; do add_module "$module"; done
}

debian_module_initramfs() {
  local init=$1 busybox=$2 work name
  work=$(mktemp -d)
  mkdir -p "$work/bin" "$work/lib/modules"
  cp "$busybox" "$work/bin/busybox"
  install -m 0755 "$init" "$work/init"
  for name in "${module_order[@]}"; do module_contents "$name" > "$work/lib/modules/$name.ko"; done
  printf '%s\n' "${module_order[@]}" > "$work/modules"
  (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1)
  rm -rf "$work"
}
