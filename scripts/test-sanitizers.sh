#!/usr/bin/env bash
# The unit, CLI and guest-program tiers built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any finding aborts the process, so the test
# fails), in build-asan/. Separate from the README's test command because it
# builds everything a second time; see README "Tests" for how long it takes.
#
#   bash scripts/test-sanitizers.sh      (as root on a machine with /dev/kvm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
# C++ only: the guest programs (C and assembly) stay freestanding.
cmake -S "$root" -B "$root/build-asan" -DEMBER_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DEMBER_TSAN_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$root/build-asan" -j"$(nproc)"
cd "$root/build-asan"
# ember's _Exit skips LeakSanitizer's exit hook; leaks are not checked here.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure -j"$(nproc)" -L 'unit|cli|kvm'
