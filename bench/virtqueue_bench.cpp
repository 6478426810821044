// The descriptor-chain walker's cost per request: pop a chain of 1, 4 or 64
// descriptors (all checked, each buffer validated through GuestMemory) and
// push it back to the used ring, as a device's worker does for every request.
#include <benchmark/benchmark.h>

#include <cstring>

#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/split_virtqueue.h"

namespace {

using ember::GuestMemory;
using ember::virtio::QueueLayout;
using ember::virtio::SplitVirtqueue;

constexpr uint16_t kQueueSize = 256;
constexpr QueueLayout kLayout{kQueueSize, 0x10000, 0x20000, 0x30000};

void write16(const GuestMemory& memory, uint64_t address, uint16_t value) { (void)memory.write_object(address, value); }

void virtqueue_pop_push(benchmark::State& state) {
  const auto length = static_cast<uint16_t>(state.range(0));
  const auto memory = std::move(GuestMemory::create(ember::ram_regions_for(16 << 20)).value());
  // One chain from descriptor 0: readable buffers, the last one writable.
  for (uint16_t i = 0; i < length; ++i) {
    const uint64_t at = kLayout.descriptor_table + 16ull * i;
    const bool last = i + 1 == length;
    (void)memory.write_object<uint64_t>(at, 0x100000 + 0x1000ull * i);
    (void)memory.write_object<uint32_t>(at + 8, 512);
    write16(memory, at + 12, static_cast<uint16_t>(last ? 2 : 1));
    write16(memory, at + 14, static_cast<uint16_t>(i + 1));
  }
  for (uint16_t slot = 0; slot < kQueueSize; ++slot) write16(memory, kLayout.available_ring + 4 + 2ull * slot, 0);
  auto queue = std::move(SplitVirtqueue::create(memory, kLayout, {}).value());
  uint16_t available = 0;
  for (auto _ : state) {
    write16(memory, kLayout.available_ring + 2, ++available);  // the driver offers the chain again
    auto popped = queue.pop();
    if (!popped || !popped->has_value()) {
      state.SkipWithError("the walker refused the benchmark's chain");
      break;
    }
    queue.push((*popped)->head, 1);
    benchmark::DoNotOptimize(*popped);
  }
}
BENCHMARK(virtqueue_pop_push)->Arg(1)->Arg(4)->Arg(64);

}  // namespace
