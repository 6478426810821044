#include "irq/msi.h"

#include "base/log.h"
#include "base/strings.h"

namespace ember {

std::optional<InterruptMessage> decode_msi(uint64_t address, uint32_t data) {
  if ((address & 0xfff00000) != 0xfee00000 || (address >> 32) != 0) return std::nullopt;
  InterruptMessage message;
  // Address: destination ID in bits 19:12, destination mode in bit 2
  // (SDM Figure 11-24). Data: vector 7:0, delivery mode 10:8, trigger
  // mode 15 (Figure 11-25).
  message.destination = static_cast<uint32_t>((address >> 12) & 0xff);
  message.logical = (address >> 2) & 1;
  message.vector = static_cast<uint8_t>(data & 0xff);
  message.mode = static_cast<DeliveryMode>((data >> 8) & 7);
  message.level_triggered = (data >> 15) & 1;
  return message;
}

unsigned deliver_msi(const InterruptRouter& router, uint64_t address, uint32_t data) {
  const auto message = decode_msi(address, data);
  if (!message) {
    EMBER_GUEST_WARNING("MSI to " + hex(address) + " is outside the 0xfee00000 window; dropped");
    return 0;
  }
  return router.deliver(*message);
}

}  // namespace ember
