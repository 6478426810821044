#!/usr/bin/env bash
# Builds ember's libFuzzer targets with clang (ASan + UBSan) in build-fuzz/
# and runs each for SECONDS (default 60), starting from the seed corpus in
# tests/fuzz/corpus/TARGET. New inputs go to build-fuzz/corpus/TARGET; a
# crash leaves crash-* in build-fuzz/ and the script exits non-zero.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(virtqueue block_request kernel_loader arguments registers net_device console_rng vsock acpi vhost_user snapshot_state)
if ! command -v clang++ >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang >/dev/null
fi
cmake -S "$root" -B "$root/build-fuzz" -DEMBER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$root/build-fuzz" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
cd "$root/build-fuzz"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=0 "fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
    "corpus/$target" "$root/tests/fuzz/corpus/$target" 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==|SUMMARY)" || true
  if ls crash-* leak-* timeout-* >/dev/null 2>&1; then
    echo "fuzz: $target found a failing input: $(ls crash-* leak-* timeout-* 2>/dev/null | head -1)" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without findings"
