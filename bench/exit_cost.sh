#!/usr/bin/env bash
# One port-I/O exit (`out` to port 0x80) dispatched by ember beside the same
# exit answered by a bare KVM loop, the same guest program on both
# (tests/guests/exit_cost_bench.c), run alternately ROUNDS times (default 5).
# Target: ember <= 1.1x raw.
#
#   bench/exit_cost.sh [ROUNDS]      (after scripts/build.sh)
exec "$(dirname "$0")/versus_raw.sh" exit_cost_bench "port I\\/O exit median tsc cycles" "${1:-5}"
