#!/usr/bin/env bash
# The README's test command: installs what is needed, builds ember, its guest
# programs and the guest Linux kernels, then runs every test tier:
#
#   1. host: the tiers that need no KVM (unit, cli, bench) on this machine;
#   2. host KVM: the kvm and linux tiers on this machine's /dev/kvm, when it
#      has one that runs a guest program (bare metal, or kvm_pvm);
#   3. nested KVM: the kvm and linux tiers again inside QEMU VMs whose
#      TCG-emulated CPU has AMD SVM, under Debian's stock kvm_amd
#      (scripts/nested-kvm.sh). Every machine has it, and it is the one KVM
#      where guest Linux user space always runs, so it always runs.
#      The VM's TCG emulates all its CPUs on one host thread, so one VM
#      keeps one host core busy: the tier runs one VM per host core
#      (EMBER_NESTED_SHARDS), each running every Nth test one at a time.
#      Two tests in one VM share that thread and each runs 2-3x slower
#      (a stock-kernel boot: 31 s alone, about 100 s beside another).
#
# Each tier prints ctest's per-test lines and summary; the command ends with
# one line counting every test of every tier, "N passed, N failed", and fails
# if any test failed, if a tier could not run, or if no KVM test ran.
#
#   EMBER_TEST_JOBS      ctest's parallelism on the host (default: nproc)
#   EMBER_NESTED_SHARDS  nested VMs run side by side (default: nproc, at most
#                        4), each with EMBER_NESTED_MEMORY of RAM (default 4G)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

bash "$root/scripts/setup.sh"
kernel_dir=$(bash "$root/scripts/build-guest-kernel.sh" | tail -n 1)
# The same kernel with CONFIG_OF, for the --describe-machine dtb test.
of_kernel_dir=$(bash "$root/scripts/build-guest-kernel.sh" "$root/images/linux-guest-of.config" | tail -n 1)
initramfs=$(bash "$root/scripts/build-initramfs.sh" | tail -n 1)
# Debian's own kernels, for the distribution-kernel tests.
stock_generic_dir=$(bash "$root/scripts/build-stock-guest.sh" amd64 | tail -n 1)
stock_cloud_dir=$(bash "$root/scripts/build-stock-guest.sh" cloud-amd64 | tail -n 1)
bash "$root/scripts/build.sh" -DEMBER_GUEST_KERNEL_DIR="$kernel_dir" -DEMBER_GUEST_OF_KERNEL_DIR="$of_kernel_dir" \
  -DEMBER_GUEST_INITRAMFS="$initramfs" -DEMBER_STOCK_GENERIC_DIR="$stock_generic_dir" -DEMBER_STOCK_CLOUD_DIR="$stock_cloud_dir"

cd "$root/build"
jobs=${EMBER_TEST_JOBS:-$(nproc)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
kvm_labels='kvm|linux'
tier_failed=()

# run_tier NAME COMMAND...: runs a ctest invocation, its output to the
# terminal and to $logs/NAME.log; a non-zero status marks the tier failed.
run_tier() {
  local name=$1
  shift
  echo
  echo "===== tier: $name ====="
  if ! "$@" 2>&1 | tee "$logs/$name.log"; then tier_failed+=("$name"); fi
}

run_tier host ctest --output-on-failure -j"$jobs" -LE "$kvm_labels"

# A host KVM counts only if ember runs a guest program on it.
if probe=$(./ember run --kernel guests/hello.elf --timeout 60 2>&1 >/dev/null); then
  run_tier host-kvm ctest --output-on-failure -j"$jobs" -L "$kvm_labels"
else
  echo
  echo "===== tier: host-kvm: not run, this machine's KVM does not run guests (${probe##*error: }) ====="
fi

# The nested VMs run side by side, each streaming its lines with its name in
# front; each shard's log is kept whole for the count below.
shards=${EMBER_NESTED_SHARDS:-$(nproc)}
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "EMBER_NESTED_SHARDS must be a whole number from 1, not '$shards'" >&2; exit 2; }
((shards > 4)) && shards=4
echo
echo "===== tier: nested-kvm, $shards VMs side by side ====="
for ((shard = 1; shard <= shards; shard++)); do
  (
    status=0
    bash "$root/scripts/nested-kvm.sh" ctest --output-on-failure -j1 -L "$kvm_labels" -I "$shard,,$shards" 2>&1 |
      tee "$logs/nested-kvm-$shard.log" | sed -u "s/^/[nested-kvm-$shard] /" || status=$?
    echo "$status" > "$logs/nested-kvm-$shard.status"
  ) &
done
wait
for ((shard = 1; shard <= shards; shard++)); do
  [[ $(cat "$logs/nested-kvm-$shard.status" 2>/dev/null) == 0 ]] || tier_failed+=("nested-kvm-$shard")
done

# The closing count, from ctest's own per-test lines of every tier: "12/96
# Test #40: NAME [# GetParam() = ...] .....   Passed    1.23 sec", or
# "***Failed", "***Timeout", "***Skipped", "***Not Run", "***Exception: ...".
echo
echo "===== all tiers ====="
summary=$(awk '
  { sub(/\r$/, "") }
  / Test +#[0-9]+: / {
    tier = FILENAME; sub(/.*\//, "", tier); sub(/\.log$/, "", tier)
    if ($0 ~ / +Passed +[0-9.]+ sec$/) { passed[tier]++; all_passed++ }
    else if ($0 ~ /\*\*\*(Skipped|Not Run)/) { skipped[tier]++; all_skipped++ }
    else { failed[tier]++; all_failed++ }
    total[tier]++
  }
  END {
    for (t in total) printf "%s: %d tests, %d passed, %d failed, %d skipped\n", t, total[t], passed[t], failed[t], skipped[t]
    printf "TOTALS %d %d %d\n", all_passed, all_failed, all_skipped
  }' "$logs"/*.log)
grep -v '^TOTALS' <<<"$summary" | sort || true
read -r _ passed failed skipped < <(grep '^TOTALS' <<<"$summary")
kvm_ran=$(cat "$logs"/host-kvm.log "$logs"/nested-kvm-*.log 2>/dev/null | tr -d '\r' | grep -cE ' Test +#[0-9]+: .* Passed +[0-9.]+ sec$' || true)
status=0
if ((${#tier_failed[@]})); then
  echo "tiers that failed or did not finish: ${tier_failed[*]}"
  status=1
fi
if ((kvm_ran == 0)); then
  echo "no test that needs KVM passed under any KVM"
  status=1
fi
((skipped == 0)) || echo "$skipped skipped (each names its reason above; ctest lists them under \"did not run\")"
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
