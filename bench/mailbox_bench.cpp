// The injection mailbox's hot paths: a device posting an interrupt and the
// VCPU thread draining it before KVM_RUN.
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "base/futex.h"
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

namespace {

// The kick path to a VCPU thread waiting in userspace, round trip: post,
// find whether a kick is owed, bump the wake generation and futex-wake the
// waiter (VcpuRunner::kick without the signal), which drains and answers.
// The waiter is not always asleep when the post lands (with two cores it
// often is still between its check and futex_wait), so this is the mix a
// busy guest sees, not a pure sleep-to-wake time. A VCPU inside KVM_RUN is
// measured by bench/kick_latency.
void kick_halted_vcpu_round_trip(benchmark::State& state) {
  ember::InjectionMailbox mailbox;
  std::atomic<uint32_t> generation{0}, answered{0};
  std::atomic<bool> done{false};
  std::thread vcpu{[&] {
    while (!done.load(std::memory_order_acquire)) {
      const uint32_t seen = generation.load(std::memory_order_acquire);
      if (!mailbox.drain().empty()) answered.fetch_add(1, std::memory_order_release);
      else ember::futex_wait(generation, seen);
    }
  }};
  uint32_t expected = 0;
  for (auto _ : state) {
    if (mailbox.post_vector(0x40, false)) {
      generation.fetch_add(1, std::memory_order_release);
      ember::futex_wake(generation);
    }
    ++expected;
    while (answered.load(std::memory_order_acquire) < expected) {}
  }
  done.store(true, std::memory_order_release);
  generation.fetch_add(1);
  ember::futex_wake(generation);
  vcpu.join();
}
BENCHMARK(kick_halted_vcpu_round_trip)->UseRealTime();

}  // namespace
