// virtio-rng / entropy device (virtio 1.2 §5.4): fills each writable buffer
// the driver offers with bytes from the host's getrandom(2).
#pragma once

#include "virtio/virtio_device.h"

namespace ember::virtio {

class RngDevice final : public VirtioDevice {
 public:
  // Bytes served per request at most, so one huge buffer cannot keep the
  // worker (and a reset waiting for it) busy for long.
  static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

  std::string_view         name() const override { return "virtio-rng"; }
  uint32_t                 device_type() const override { return 4; }
  uint64_t                 device_features() const override { return 0; }
  uint16_t                 queue_count() const override { return 1; }
  std::span<const uint8_t> config_space() const override { return {}; }
  uint32_t                 handle(uint16_t queue, const DescriptorChain& chain) override;
};

}  // namespace ember::virtio
