// A 16550A UART (National Semiconductor PC16550D datasheet): THR output to a
// ConsoleOutput, RBR input from the host with a bounded receive buffer,
// loopback, FIFO identification, and the IIR interrupt priorities.
//
// Touched by VCPU threads (register access) and the console-input thread
// (receive), so one mutex guards all state.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "bus/device.h"
#include "console/console_output.h"
#include "irq/interrupt_line.h"
#include "snapshot/state_format.h"

namespace ember {

class Uart16550 final : public Device {
 public:
  static constexpr uint64_t kRegisterCount = 8;
  // Host input waiting for the guest; beyond this the host side waits, so a
  // guest that never reads cannot make ember's memory grow.
  static constexpr size_t kReceiveCapacity = 4096;

  Uart16550(ConsoleOutput& output, InterruptLine& irq) : output_{output}, irq_{irq} {}

  std::string_view name() const override { return "uart16550"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Host input; returns how many bytes were accepted (the rest must be retried).
  size_t receive(std::span<const uint8_t> bytes);

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  uint8_t read_register(uint64_t offset);
  void    write_register(uint64_t offset, uint8_t value);
  uint8_t interrupt_identification() const;
  uint8_t modem_status() const;
  void    update_interrupt();
  void    transmit(uint8_t byte);

  ConsoleOutput& output_;
  InterruptLine& irq_;

  std::mutex          mutex_;  // guards every member below
  std::deque<uint8_t> receive_buffer_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t divisor_low_ = 0x0c, divisor_high_ = 0;  // 9600 baud at reset
  bool    overrun_ = false;
  bool    thr_empty_interrupt_ = false;  // THRE interrupt pending until IIR read or THR write
};

}  // namespace ember
