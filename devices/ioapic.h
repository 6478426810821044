// An 82093AA-style I/O APIC with 24 pins at 0xfec00000 (82093AA datasheet;
// Intel SDM Vol. 3A 11.1). Devices drive its pins; it turns pin changes into
// interrupt messages through the router.
//
// Edge pins deliver on a rising edge; level pins deliver while asserted and
// set remote IRR until the LAPIC broadcasts the vector's EOI, after which a
// still-asserted pin delivers again. Masked pins deliver nothing; unmasking
// an asserted level pin delivers it.
//
// Touched by VCPU threads (MMIO, EOI) and device threads (pins): one mutex.
// Lock order: a device's own mutex, then this one; the IOAPIC never calls
// back into a device.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "bus/device.h"
#include "irq/interrupt_line.h"
#include "irq/interrupt_router.h"
#include "irq/lapic.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

class Ioapic final : public Device, public EoiListener {
 public:
  static constexpr uint64_t kMmioBase = platform::kIoapicBase;
  static constexpr uint64_t kMmioSize = platform::kIoapicSize;
  static constexpr unsigned kPins = platform::kIoapicPins;

  // `id` is the IOAPIC's APIC-bus ID, as the MP table announces it.
  Ioapic(const InterruptRouter& router, uint8_t id);

  std::string_view name() const override { return "ioapic"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  void set_pin(unsigned pin, bool asserted);
  void end_of_interrupt(uint8_t vector) override;

  // For tests and diagnostics.
  uint64_t redirection_entry(unsigned pin);

  // Whether an unmasked pin would deliver an NMI or INIT, which wake a CPU
  // halted with interrupts off (HaltCensus).
  bool routes_wake_events();

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  uint32_t read_register(uint32_t index) const;
  void     write_register(uint32_t index, uint32_t value);
  void     deliver(unsigned pin);
  void     deliver_if_level_pending(unsigned pin);

  const InterruptRouter& router_;

  std::mutex                     mutex_;  // guards everything below
  uint32_t                       select_ = 0;
  uint32_t                       id_ = 0;
  std::array<uint64_t, kPins>    redirection_{};
  std::array<bool, kPins>        asserted_{};
};

// One IOAPIC input, as a device sees it.
class IoapicPin final : public InterruptLine {
 public:
  IoapicPin(Ioapic& ioapic, unsigned pin) : ioapic_{ioapic}, pin_{pin} {}
  void set_level(bool asserted) override { ioapic_.set_pin(pin_, asserted); }

 private:
  Ioapic&  ioapic_;
  unsigned pin_;
};

}  // namespace ember
