#!/usr/bin/env bash
# Boot-to-init of the project's Linux image: ember beside QEMU's microvm
# machine, same vmlinux (PVH entry), initramfs, memory, CPU count and kernel
# command line, run alternately ROUNDS times (default 3). A run's time is wall
# time from starting the VMM to the console line "Run /init as init process";
# the VMM is stopped there. A run that never gets there prints why (the last
# console/stderr line), e.g. QEMU stopping at a KVM emulation failure (where
# it pauses the guest rather than exiting, so the script stops it).
#
#   bench/boot_to_init.sh [ROUNDS]    (after scripts/build.sh; builds the
#                                      kernel and initramfs if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/median.sh"
rounds=${1:-3}
cpus=2 memory=128
source "$root/bench/linux_guest.sh"
limit=900

ember_cmd=("$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus "$cpus" --memory "${memory}M"
           --cmdline "$cmdline" --timeout "$limit")
qemu_cmd=(qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off -accel kvm -cpu qemu64 -smp "$cpus" -m "$memory"
          -nodefaults -no-user-config -display none -serial stdio -no-reboot
          -kernel "$kernel" -initrd "$initramfs" -append "$cmdline")

# Prints milliseconds to "Run /init", or "no (LAST LINE)".
measure() {
  local start last="" result
  start=$(date +%s%N)
  coproc VMM { exec timeout "$limit" "$@" 2>&1 </dev/null; }
  result=""
  while IFS= read -r line <&"${VMM[0]}"; do
    if [[ $line == *"Run /init as init process"* ]]; then
      result=$(( ($(date +%s%N) - start) / 1000000 ))
      break
    fi
    [[ -n ${line//[[:space:]]/} ]] && last=$line
    # QEMU keeps running, paused, after a KVM emulation failure.
    [[ $line == *"KVM internal error"* || $line == *"emulation failure"* ]] && break
  done
  kill "$VMM_PID" 2>/dev/null || true
  wait "$VMM_PID" 2>/dev/null || true
  if [[ -n $result ]]; then echo "$result"; else echo "no (${last:0:120})"; fi
}

ember_runs=() qemu_runs=()
for ((i = 0; i < rounds; i++)); do
  ember_runs+=("$(measure "${ember_cmd[@]}")")
  echo "round $((i + 1)) ember: ${ember_runs[-1]}" >&2
  qemu_runs+=("$(measure "${qemu_cmd[@]}")")
  echo "round $((i + 1)) qemu:  ${qemu_runs[-1]}" >&2
done

echo "ember boot-to-init (ms): ${ember_runs[*]}"
echo "qemu  boot-to-init (ms): ${qemu_runs[*]}"
echo "median: ember $(median "${ember_runs[@]}") ms, qemu microvm $(median "${qemu_runs[@]}") ms"
