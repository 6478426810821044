#!/usr/bin/env bash
# The unit, CLI and guest-program tiers built with sanitizers, each in its own
# build directory. Any finding aborts the process, so the test fails.
#   address: AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
#   thread:  ThreadSanitizer, in build-tsan/ (every VCPU, worker and PIT
#            thread of ember, and the tests' own threads)
# Separate from the README's test command because each is a second full
# build; see README "Tests" for how long they take.
#
#   bash scripts/test-sanitizers.sh [address|thread|all]   (default: all;
#   as root on a machine with /dev/kvm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
which=${1:-all}
case "$which" in
  address | thread | all) ;;
  *) echo "usage: $0 [address|thread|all]" >&2; exit 2 ;;
esac
bash "$root/scripts/setup.sh"

# Builds in $1 with the sanitizer flags $2 (C++ only: the guest programs, C
# and assembly, stay freestanding) and runs the tiers with the environment
# given as the remaining arguments.
run_tiers() {
  local dir=$1 flags=$2
  shift 2
  cmake -S "$root" -B "$root/$dir" -DEMBER_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DEMBER_TSAN_TESTS=OFF -DEMBER_STATIC_LIBSTDCXX=OFF \
    -DCMAKE_CXX_FLAGS="$flags -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="${flags%% *}" >/dev/null
  cmake --build "$root/$dir" -j"$(nproc)"
  (cd "$root/$dir" && env "$@" ctest --output-on-failure -j"$(nproc)" -L 'unit|cli')
  # The kvm tier under a KVM: this machine's when it runs a guest program,
  # otherwise the nested VM's (scripts/nested-kvm.sh), as scripts/test.sh does.
  if (cd "$root/$dir" && ./ember run --kernel guests/hello.elf --timeout 60 >/dev/null 2>&1); then
    (cd "$root/$dir" && env "$@" ctest --output-on-failure -j"$(nproc)" -L kvm)
  else
    (cd "$root/$dir" && bash "$root/scripts/nested-kvm.sh" env "$@" ctest --output-on-failure -j"$(nproc)" -L kvm)
  fi
}

if [[ $which == address || $which == all ]]; then
  # ember's _Exit skips LeakSanitizer's exit hook; leaks are not checked here.
  run_tiers build-asan "-fsanitize=address,undefined -fno-sanitize-recover=all" \
    ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
if [[ $which == thread || $which == all ]]; then
  # exitcode 66: a report fails the test even where the process would have
  # exited 0. -Wno-tsan: the split virtqueue's fences (virtio 1.2 §2.7.13)
  # order ember's ring accesses against the guest, which TSan cannot see
  # anyway; ember's own threads synchronise through atomics and mutexes.
  run_tiers build-tsan "-fsanitize=thread -Wno-tsan" TSAN_OPTIONS=halt_on_error=1:exitcode=66
fi
