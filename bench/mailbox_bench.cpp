// The injection mailbox's hot paths: a device posting an interrupt and the
// VCPU thread draining it before KVM_RUN.
#include <benchmark/benchmark.h>

#include "irq/injection_mailbox.h"

namespace {

// One post and the drain that picks it up: the per-interrupt cost on the
// VCPU side when nothing else is pending.
void mailbox_post_then_drain(benchmark::State& state) {
  ember::InjectionMailbox mailbox;
  uint8_t vector = 32;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mailbox.post_vector(vector, false));
    benchmark::DoNotOptimize(mailbox.drain());
    vector = static_cast<uint8_t>(vector == 255 ? 32 : vector + 1);
  }
}
BENCHMARK(mailbox_post_then_drain);

// A post while a kick is already outstanding: the producer's cost in a burst.
void mailbox_post_coalesced(benchmark::State& state) {
  ember::InjectionMailbox mailbox;
  mailbox.post_vector(40, false);
  for (auto _ : state) benchmark::DoNotOptimize(mailbox.post_vector(41, true));
}
BENCHMARK(mailbox_post_coalesced);

// Draining an empty mailbox: what every VCPU loop iteration pays.
void mailbox_drain_empty(benchmark::State& state) {
  ember::InjectionMailbox mailbox;
  for (auto _ : state) benchmark::DoNotOptimize(mailbox.drain());
}
BENCHMARK(mailbox_drain_empty);

}  // namespace
