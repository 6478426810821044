#!/usr/bin/env bash
# Runs COMMAND under a real, stock KVM on any x86-64 Linux machine, even one
# without /dev/kvm: inside a QEMU VM whose TCG-emulated CPU has AMD SVM with
# nested paging, running Debian's stock kernel (package linux-image-amd64)
# with kvm_amd loaded. The host's filesystem is shared read-only over
# virtio-9p under a tmpfs overlay, so COMMAND runs at the same paths, in the
# same directory, with the host's programs and build trees, and nothing it
# writes reaches the host. Its output streams to stdout; the script exits
# with COMMAND's status.
#
#   scripts/nested-kvm.sh COMMAND [ARGS...]
#
#   EMBER_CACHE           where the kernel package and the VM's initramfs are
#                         cached (default: ~/.cache/ember)
#   EMBER_NESTED_CPUS     the VM's CPUs (default: the host's, at most 4)
#   EMBER_NESTED_MEMORY   the VM's RAM (default: 4G)
#   EMBER_NESTED_TIMEOUT  seconds before the VM is stopped (default: 3600)
#   EMBER_NESTED_TCG_THREAD  single (default) or multi: QEMU's TCG threads.
#                         With multi (one host thread per VM CPU) the VM's
#                         kvm_amd was unreliable under load, on QEMU 7.2:
#                         guests triple-faulted at random early in boot (3 of
#                         14 Linux boots in one run, 0 of 26 with single),
#                         and once the VM's own kernel panicked with
#                         "corrupted stack end detected inside scheduler" in
#                         an ember thread. single costs about half the speed.
#
# Exit status: COMMAND's; 125 when the VM did not come up or had no /dev/kvm
# (stderr says which); 124 when EMBER_NESTED_TIMEOUT expired.
# Times: the VM is up in about 10 s on 2 cores; every KVM exit inside costs
# about 100 µs (QEMU emulates the world switch), so time ratios, not absolute
# times, mean something there (bench/README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
((${#@})) || { echo "usage: scripts/nested-kvm.sh COMMAND [ARGS...]" >&2; exit 2; }
fail() { echo "nested-kvm: $*" >&2; exit 125; }

qemu=$(command -v qemu-system-x86_64) || fail "qemu-system-x86_64 is missing; run scripts/setup.sh"
busybox=/bin/busybox
file "$busybox" 2>/dev/null | grep -q "statically linked" || fail "$busybox is not static; run scripts/setup.sh"
cache=${EMBER_CACHE:-$HOME/.cache/ember}/nested
mkdir -p "$cache"

# The stock kernel: whatever linux-image-amd64 depends on today.
source "$root/scripts/lib/debian-kernel.sh"
debian_kernel_fetch amd64 "$cache"
package=$kernel_package version=$kernel_version
# The modules the VM needs, each after the modules its depends= line names.
debian_kernel_modules kvm_amd 9pnet_virtio 9p virtio_pci overlay tun
order=("${module_order[@]}")

key=$( { cat "$root/images/nested/init" "$0" "$root/scripts/lib/debian-kernel.sh"; sha256sum "$busybox"; echo "$package $version ${order[*]}"; } | sha256sum | cut -c1-16)
initramfs="$cache/initramfs-$key.cpio.gz"
if [[ ! -f $initramfs ]]; then
  staging=$(mktemp "$cache/.initramfs.XXXXXX")
  debian_module_initramfs "$root/images/nested/init" "$busybox" > "$staging"
  mv "$staging" "$initramfs"
fi

# What runs inside: COMMAND in this directory with this environment. The
# script lives in a host directory the VM sees through the share.
run_dir=$(mktemp -d /tmp/ember-nested.XXXXXX)
trap 'rm -rf "$run_dir"' EXIT
{
  echo "set -e"
  export -p | grep -v -E '^declare -[a-z]*x[a-z]* (OLDPWD|PWD|SHLVL|_|TERM|SSH_[A-Z_]*|TMPDIR|SHELLOPTS|BASHOPTS|BASH_[A-Z_]*)(=|$)'
  printf 'cd %q\n' "$PWD"
  echo "set +e"
  printf '%q ' "$@"
  echo
} > "$run_dir/command.sh"
touch "$run_dir/status"

cpus=${EMBER_NESTED_CPUS:-$(nproc)}
((cpus > 4)) && cpus=4
set +e
timeout --foreground -k 10 "${EMBER_NESTED_TIMEOUT:-3600}" \
  "$qemu" -accel "tcg,thread=${EMBER_NESTED_TCG_THREAD:-single}" -cpu max -smp "$cpus" -m "${EMBER_NESTED_MEMORY:-4G}" \
  -M pc -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kernel_dir/vmlinuz" -initrd "$initramfs" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 nested.script=$run_dir/command.sh" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -serial stdio -serial "file:$run_dir/status" < /dev/null
qemu_status=$?
set -e
((qemu_status == 124)) && { echo "nested-kvm: the VM ran past EMBER_NESTED_TIMEOUT and was stopped" >&2; exit 124; }
status=$(sed -n 's/^nested-status \([a-z0-9]*\).*/\1/p' "$run_dir/status" | tail -n 1)
[[ -n $status ]] || fail "the VM ended (QEMU status $qemu_status) without reporting a status"
[[ $status == fail ]] && fail "the VM came up without a working KVM (see the message above)"
exit "$status"
