#!/usr/bin/env bash
# Configures and builds ember into build/ (the CLI ends up at build/ember).
# Extra arguments go to cmake's configure step, e.g.
#   scripts/build.sh -DEMBER_GUEST_KERNEL_DIR=/path/to/kernel
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$root/build" -DEMBER_WERROR=ON "$@" >/dev/null
cmake --build "$root/build" -j"$(nproc)"
