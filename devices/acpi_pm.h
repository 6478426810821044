// The ACPI fixed-hardware registers ember's FADT announces (ACPI 6.5, 4.8
// "ACPI Hardware Model", 4.8.3 "PM1 Event Grouping", "PM1 Control
// Grouping", 4.8.3.3 "Power Management Timer"), at the I/O ports QEMU's
// ICH9 puts them (PMBASE 0x600):
//   0x600 PM1a status (write 1 to clear) and 0x602 PM1a enable,
//   0x604 PM1a control: SCI_EN always reads 1 (there is no SMI command
//         port, so the machine is always in ACPI mode); writing SLP_EN with
//         the S5 sleep type the DSDT's \_S5 names powers the machine off,
//   0x608 the 32-bit, 3.579545 MHz PM timer, read from the host's
//         monotonic clock.
// No event ever sets a status bit (no power button, no timer-carry or
// global-lock interrupt), so the SCI (IRQ 9) is never raised.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "bus/device.h"
#include "platform/address_map.h"
#include "run/outcome.h"
#include "snapshot/state_format.h"

namespace ember {

class AcpiPm final : public Device {
 public:
  static constexpr uint16_t kBasePort = platform::kAcpiPmPort;
  static constexpr uint16_t kPortCount = 12;
  static constexpr uint16_t kEventBlock = platform::kAcpiPmEventBlock, kEventBlockLength = platform::kAcpiPmEventBlockLength;
  static constexpr uint16_t kControlBlock = platform::kAcpiPmControlBlock,
                            kControlBlockLength = platform::kAcpiPmControlBlockLength;
  static constexpr uint16_t kTimerBlock = platform::kAcpiPmTimerBlock, kTimerBlockLength = platform::kAcpiPmTimerBlockLength;
  static constexpr uint8_t  kSciIrq = platform::kSciIrq;
  static constexpr uint8_t  kSleepTypeS5 = platform::kAcpiSleepTypeS5;
  static constexpr uint64_t kTimerHz = 3'579'545;

  // `now_ns` is a monotonic clock in nanoseconds.
  AcpiPm(MachineControl& control, std::function<uint64_t()> now_ns);

  std::string_view name() const override { return "acpi-pm"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  uint8_t register_byte(uint64_t offset, uint32_t timer_ticks) const;
  void    write_byte(uint64_t offset, uint8_t value);
  void    control_written();

  MachineControl&          control_;
  std::function<uint64_t()> now_ns_;
  std::mutex               mutex_;  // any VCPU may access these
  uint16_t                 enable_ = 0;
  uint16_t                 control_bits_ = 0;  // SLP_TYP and the OS-owned bits; SLP_EN is write-only
};

}  // namespace ember
