// Port 0x80, the POST-code port. Linux writes it as an I/O delay on every
// slow port access; it must be mapped so those writes are not logged as
// stray, and a read returns 0xff as on real hardware without a POST card.
#pragma once

#include "bus/device.h"
#include "platform/address_map.h"

namespace ember {

class PostCodePort final : public Device {
 public:
  static constexpr uint16_t kPort = platform::kPostCodePort;
  std::string_view name() const override { return "post-code"; }
  void read(const Access&, std::span<uint8_t> data) override {
    for (auto& byte : data) byte = 0xff;
  }
  void write(const Access&, std::span<const uint8_t>) override {}
};

}  // namespace ember
