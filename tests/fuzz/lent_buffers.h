// The transport's lending of receive buffers (MmioTransport::LentBuffers),
// without its thread and locks, for fuzz targets that drive a device's
// receive() on rings made of the input.
#pragma once

#include <optional>

#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio::fuzzing {

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
