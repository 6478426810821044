// The PC's i8042 keyboard controller with nothing plugged into its ports
// (ember has no keyboard or mouse to offer): enough of the controller that
// an OS probing it gets prompt answers instead of waiting on timeouts.
//  - Controller commands (port 0x64; IBM PS/2 Technical Reference, and the
//    commands Linux's drivers/input/serio/i8042.c sends): read/write the
//    controller configuration byte (0x20/0x60), self-test (0xAA -> 0x55),
//    keyboard and aux interface tests (0xAB, 0xA9 -> 0x00), enable/disable
//    either port (0xAE/0xAD, 0xA8/0xA7), loop a byte back as keyboard or
//    aux data (0xD2, 0xD3), read/write the output port (0xD0/0xD1), read
//    the input port (0xC0).
//  - Reset: pulsing the reset line (0xF0-0xFE with bit 0 clear, 0xFE being
//    what Linux's reboot and ember's FADT reset register use) or writing
//    the output port with bit 0 clear ends the VM as a reset (status 0).
//  - A byte for a device (port 0x60 without a pending command, or after
//    0xD4 for the aux port) finds no device: the controller answers 0xFE
//    with the timeout bit set, as a real one does when the device does not
//    clock back, so a driver gives up at once.
//  - Output is a short queue; while its head waits, IRQ 1 (keyboard data)
//    or IRQ 12 (aux data) is asserted if the configuration byte enables it.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "bus/device.h"
#include "irq/interrupt_line.h"
#include "platform/address_map.h"
#include "run/outcome.h"
#include "snapshot/state_format.h"

namespace ember {

class I8042 final : public Device {
 public:
  static constexpr uint16_t kDataPort = platform::kI8042DataPort;
  static constexpr uint16_t kCommandPort = platform::kI8042CommandPort;
  static constexpr uint8_t  kPulseResetLine = platform::kI8042ResetCommand;
  static constexpr size_t   kOutputQueueLimit = 16;  // more unread output than that is dropped

  I8042(MachineControl& control, InterruptLine& keyboard_irq, InterruptLine& aux_irq)
      : control_{control}, keyboard_irq_{keyboard_irq}, aux_irq_{aux_irq} {}

  std::string_view name() const override { return "i8042"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  struct Output {
    uint8_t byte;
    bool    aux;
    bool    timeout;
  };
  uint8_t status() const;
  // Each returns whether the machine is to be reset.
  bool command(uint8_t value);
  bool data(uint8_t value);
  void push(uint8_t byte, bool aux = false, bool timeout = false);
  void update_irqs();

  MachineControl&    control_;
  InterruptLine&     keyboard_irq_;
  InterruptLine&     aux_irq_;
  std::mutex         mutex_;  // any VCPU may access the ports; held while the IRQ lines change
  uint8_t            configuration_ = 0x47;  // keyboard and aux IRQs, system flag, translation: what firmware leaves
  uint8_t            output_port_ = 0x03;    // reset line high (running), A20 on
  uint8_t            pending_command_ = 0;   // a command awaiting its data byte, or 0
  bool               last_write_was_command_ = false;
  std::deque<Output> output_;
};

}  // namespace ember
