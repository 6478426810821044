// The MC146818 real-time clock and its CMOS RAM behind ports 0x70 (index;
// bit 7 masks NMI on a PC) and 0x71 (data), as on every PC (Motorola
// MC146818A data sheet; the register map of QEMU's hw/rtc/mc146818rtc.c).
// Linux reads it at boot for the wall clock (mach_get_cmos_time) and its
// rtc_cmos driver probes it; without it every access was an unmapped-port
// warning and the clock read as all-ones.
//  - The time is the host's UTC wall clock, read at each access, plus an
//    offset the guest sets by writing the time registers; nothing is
//    written back to the host. While register B's SET bit is on, the clock
//    holds still and writes go to the held time, which becomes the clock
//    when SET clears (how Linux sets it: mc146818_set_time), so a date is
//    never normalised half-written (Feb 31 is not March).
//  - No update cycle is ever in progress (register A's UIP reads 0), so a
//    reader never waits; register D reports valid RAM and time.
//  - Binary or BCD and 12- or 24-hour formats follow register B.
//  - No interrupts: the periodic, alarm and update-ended interrupts (IRQ 8)
//    are not emulated, and register C reads 0.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>

#include "bus/device.h"

namespace ember {

class CmosRtc final : public Device {
 public:
  static constexpr uint16_t kIndexPort = 0x70;
  static constexpr uint16_t kPortCount = 2;
  // Registers (MC146818A data sheet, "Address map"); 0x32 is the century
  // byte ACPI's FADT names by default.
  static constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kDayOfWeek = 0x06, kDayOfMonth = 0x07,
                           kMonth = 0x08, kYear = 0x09, kRegisterA = 0x0a, kRegisterB = 0x0b, kRegisterC = 0x0c,
                           kRegisterD = 0x0d, kCentury = 0x32;
  static constexpr uint8_t kSet = 0x80, kBinaryMode = 0x04, k24HourMode = 0x02;

  // `now` gives the host's wall clock in seconds since the epoch (UTC).
  explicit CmosRtc(std::function<int64_t()> now = host_utc_seconds);

  std::string_view name() const override { return "cmos-rtc"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  static int64_t host_utc_seconds();

 private:
  uint8_t read_register(uint8_t index) const;
  void    write_register(uint8_t index, uint8_t value);
  uint8_t encode(int value) const;   // binary or BCD, as register B says
  int     decode(uint8_t value) const;
  std::tm guest_time() const;  // the held time while SET is on

  std::function<int64_t()> now_;
  mutable std::mutex       mutex_;  // any VCPU may access it
  uint8_t                  index_ = 0;
  int64_t                  offset_seconds_ = 0;  // the guest's clock minus the host's
  std::tm                  held_{};              // the time SET froze, as the guest wrote it
  std::array<uint8_t, 128> ram_{};
};

}  // namespace ember
