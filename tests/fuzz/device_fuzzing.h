// What the virtio device fuzz targets share: the input's layout (a control
// byte, a 16-bit size, then guest RAM), the transport's lending of receive
// buffers without its thread and locks, and a loop that serves a ring.
#pragma once

#include <algorithm>
#include <cstring>
#include <optional>

#include "memory/guest_memory.h"

#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio::fuzzing {

// An input's first three bytes: queue size (1..128, bits 0-2), features
// (bits 3-4), bit 5 for the target's own use, then a 16-bit size.
struct InputHeader {
  uint16_t      queue_size;
  QueueFeatures features;
  bool          flag;
  size_t        size;
};
inline constexpr size_t kInputHeaderBytes = 3;

// The header, and the rest of the input copied into RAM from address 0
// after [0, zeroed) is cleared. nullopt for inputs too short to use.
inline std::optional<InputHeader> load_input(const GuestMemory& memory, const uint8_t* data, size_t size, size_t zeroed) {
  if (size <= kInputHeaderBytes) return std::nullopt;
  const uint8_t control = data[0];
  const auto ram = memory.slice(0, memory.total_size());
  std::memset(ram.data(), 0, std::min(zeroed, ram.size()));
  std::memcpy(ram.data(), data + kInputHeaderBytes, std::min(size - kInputHeaderBytes, ram.size()));
  return InputHeader{static_cast<uint16_t>(1u << (control & 7)),
                     {.event_index = (control & 8) != 0, .indirect_descriptors = (control & 16) != 0},
                     (control & 32) != 0, static_cast<size_t>(data[1]) << 8 | data[2]};
}

class LentBuffers final : public ReceiveBuffers {
 public:
  explicit LentBuffers(SplitVirtqueue& ring) : ring_{ring} {}
  std::optional<DescriptorChain> take() override {
    auto next = ring_.pop();
    if (!next || !next->has_value()) return std::nullopt;
    return std::move(**next);
  }
  void give_back(uint16_t count) override { ring_.give_back(count); }
  void fill(std::span<const UsedElement> filled) override { ring_.push(filled); }

 private:
  SplitVirtqueue& ring_;
};

// Pops every chain `ring` offers (at most twice its size, so a ring whose
// index runs away still ends) and hands each to `device`'s handle().
inline void serve_all(SplitVirtqueue& ring, VirtioDevice& device, uint16_t queue, uint16_t queue_size) {
  for (int i = 0; i < 2 * queue_size + 2; ++i) {
    auto popped = ring.pop();
    if (!popped || !popped->has_value()) break;
    ring.push((*popped)->head, device.handle(queue, **popped));
  }
}

}  // namespace ember::virtio::fuzzing
