#!/usr/bin/env bash
# The README's first command: installs what is needed, builds ember and the
# guest kernel, and boots that kernel with its console on this terminal.
# Extra arguments are passed to `ember run` (e.g. --cpus 2, --timeout 60).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

bash "$root/scripts/setup.sh"
kernel_dir=$(bash "$root/scripts/build-guest-kernel.sh" | tail -n 1)
bash "$root/scripts/build.sh"

# The command line keeps the kernel away from instructions a nested host's
# KVM cannot emulate (src/emulation/instruction_emulator.h); it changes nothing on bare metal.
exec "$root/build/ember" run --kernel "$kernel_dir/vmlinux" --memory 128M \
  --cmdline "console=ttyS0 earlyprintk=serial noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1" "$@"
