// Message-signalled interrupts (Intel SDM Vol. 3A 11.11): a device writes
// `data` to `address` in the 0xfeexxxxx window and that becomes an
// interrupt message, routed like an IPI or an IOAPIC interrupt.
#pragma once

#include <cstdint>
#include <optional>

#include "irq/interrupt_message.h"
#include "irq/interrupt_router.h"

namespace ember {

// Where a device's message-signalled interrupts go (the Machine's router;
// a recording fake in tests).
class MsiSender {
 public:
  virtual ~MsiSender() = default;
  virtual void send_msi(uint64_t address, uint32_t data) = 0;
};

// Decodes an MSI; nullopt if the address is outside 0xfee00000-0xfeefffff.
std::optional<InterruptMessage> decode_msi(uint64_t address, uint32_t data);

// Decodes and delivers; returns how many VCPUs it reached (0 for a bad address).
unsigned deliver_msi(const InterruptRouter& router, uint64_t address, uint32_t data);

// Devices' MSIs into the machine's interrupt router.
class RouterMsiSender final : public MsiSender {
 public:
  explicit RouterMsiSender(const InterruptRouter& router) : router_{router} {}
  void send_msi(uint64_t address, uint32_t data) override { (void)deliver_msi(router_, address, data); }

 private:
  const InterruptRouter& router_;
};

}  // namespace ember
