#!/usr/bin/env bash
# The full interrupt cycle (device posts -> guest handler runs) under ember
# beside the raw KVM_INTERRUPT cycle, the same guest program on both
# (tests/guests/irq_cycle_bench.c), run alternately ROUNDS times (default 5).
# Target: ember <= 1.3x raw.
#
#   bench/interrupt_cycle.sh [ROUNDS]      (after scripts/build.sh)
exec "$(dirname "$0")/versus_raw.sh" irq_cycle_bench "interrupt cycle median tsc cycles" "${1:-5}"
