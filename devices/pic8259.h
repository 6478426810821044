// The PC's pair of 8259A programmable interrupt controllers (Intel 8259A
// datasheet), master at 0x20/0x21 and slave at 0xa0/0xa1 cascaded on the
// master's IRQ 2, plus the edge/level control registers at 0x4d0/0x4d1.
//
// Initialisation words, masks, IRR/ISR with fixed or rotating priority,
// specific and non-specific EOI, automatic EOI, reading IRR/ISR, poll mode.
// The master's INT output reaches the boot VCPU's LINT0 (virtual-wire mode):
// when it rises the PIC kicks that VCPU, which asks acknowledge() for the
// vector as the CPU's interrupt-acknowledge cycle would.
//
// Devices (any thread) raise IRQs, VCPUs access registers: one mutex. Lock
// order: a device's mutex, then this one; the kick happens after it is
// released.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

#include "bus/device.h"
#include "irq/extint_source.h"
#include "irq/interrupt_router.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

class Pic8259Pair final : public Device, public ExtIntSource {
 public:
  static constexpr uint16_t kMasterPort = platform::kPicMasterPort, kSlavePort = platform::kPicSlavePort,
                            kElcrPort = platform::kPicElcrPort;

  std::string_view name() const override { return "pic8259"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Who is told when the INT output rises (the boot VCPU), set once during
  // machine assembly.
  void connect_output(Kickable& cpu) { cpu_ = &cpu; }

  // ISA IRQ 0-15 input.
  void set_irq(unsigned irq, bool level);
  // Whether the INT output is asserted.
  bool interrupt_pending() override;
  // The CPU's interrupt acknowledge: the vector to inject (IRR -> ISR).
  // nullopt if the request went away meanwhile.
  std::optional<uint8_t> acknowledge() override;

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  struct Chip {
    uint8_t irr = 0, isr = 0, imr = 0xff, elcr = 0;
    uint8_t input = 0;          // line levels, for edge detection
    uint8_t vector_base = 0;
    uint8_t lowest_priority = 7;  // the IRQ with the lowest priority (rotation)
    uint8_t init_step = 0;      // 0: initialised; 2, 3, 4: waiting for that ICW
    bool    needs_icw4 = false, single = false, auto_eoi = false, rotate_on_auto_eoi = false;
    bool    read_isr = false, poll = false, special_mask = false;
  };

  static int  highest_request(const Chip& chip);
  static int  highest_in_service(const Chip& chip);
  static int  priority(const Chip& chip, unsigned irq);
  static void set_input(Chip& chip, unsigned irq, bool level);
  void        write_command(Chip& chip, uint8_t value);
  void        write_data(Chip& chip, uint8_t value);
  uint8_t     read_command(Chip& chip);
  void        end_of_interrupt(Chip& chip, int irq, bool rotate);
  void        update_cascade();
  bool        output() const;
  uint8_t     acknowledge_chip(Chip& chip, unsigned irq);

  Kickable*  cpu_ = nullptr;
  std::mutex mutex_;  // guards chips_
  std::array<Chip, 2> chips_{};
};

}  // namespace ember
