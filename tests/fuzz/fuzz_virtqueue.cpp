// libFuzzer target: the descriptor-chain walker and the chain reader and
// writer, over rings whose every byte comes from the input. The invariant
// is tests/HOSTILE-INPUTS.md's: no crash, no access outside guest RAM (ASan), whatever
// the driver wrote.
#include <cstdint>
#include <cstring>

#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/split_virtqueue.h"

using namespace ember;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  if (size < 4) return 0;
  // Byte 0: features and queue size (1..256); the rest is RAM from 0, where
  // the rings live (descriptors at 0, available ring at 0x1000, used at 0x2000).
  const uint8_t control = data[0];
  const uint16_t queue_size = static_cast<uint16_t>(1u << (control & 7));
  const virtio::QueueFeatures features{.event_index = (control & 8) != 0, .indirect_descriptors = (control & 16) != 0};
  const auto ram = memory.slice(0, 1 << 20);
  std::memset(ram.data(), 0, 0x4000);
  std::memcpy(ram.data(), data + 1, std::min<size_t>(size - 1, ram.size()));

  auto queue = virtio::SplitVirtqueue::create(memory, {queue_size, 0, 0x1000, 0x2000}, features);
  if (!queue) return 0;
  for (int i = 0; i < 2 * queue_size + 2; ++i) {
    auto popped = queue->pop();
    if (!popped || !popped->has_value()) break;
    const virtio::DescriptorChain& chain = **popped;
    virtio::ChainReader reader{chain};
    uint8_t scratch[64];
    while (reader.remaining() > 0 && reader.read({scratch, std::min<size_t>(sizeof scratch, reader.remaining())})) {
    }
    virtio::ChainWriter writer{chain};
    std::memset(scratch, 0xa5, sizeof scratch);
    while (writer.remaining() > 0 && writer.write({scratch, std::min<size_t>(sizeof scratch, writer.remaining())})) {
    }
    queue->push(chain.head, writer.written());
    (void)queue->needs_interrupt();
    (void)queue->rearm_notification();
  }
  return 0;
}
