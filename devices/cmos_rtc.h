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
//  - Update cycles follow the host's second boundaries: register A's UIP
//    reads 1 in the last 244 us before each (the data sheet's t_BUC), so a
//    reader that waits for UIP to clear (Linux's mc146818_avoid_UIP) waits
//    at most that long; register D reports valid RAM and time.
//  - Binary or BCD and 12- or 24-hour formats follow register B.
//  - Interrupts (IRQ 8, through the 8259 and IOAPIC pin 8): periodic at
//    register A's rate (the 32.768 kHz divider only: 2 Hz to 8192 Hz),
//    alarm (hours, minutes and seconds, 0xc0-0xff meaning "any") and
//    update-ended, each flagged in register C and raising IRQF and the line
//    when enabled in register B; reading C clears them and lowers the line.
//    Flags of disabled interrupts are worked out when C is read; a thread
//    of the RTC's own wakes only while an interrupt is enabled.
//  - Bit 7 of the index port is a PC's NMI mask. It is kept but gates
//    nothing: ember has no NMI pin source (NMIs arrive as APIC messages).
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <thread>

#include "bus/device.h"
#include "irq/interrupt_line.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

class CmosRtc final : public Device {
 public:
  static constexpr uint16_t kIndexPort = platform::kCmosIndexPort;
  static constexpr uint16_t kPortCount = 2;
  static constexpr uint8_t  kIrq = platform::kRtcIrq;
  // Registers (MC146818A data sheet, "Address map"); 0x32 is the century
  // byte ACPI's FADT names by default.
  static constexpr uint8_t kSeconds = 0x00, kSecondsAlarm = 0x01, kMinutes = 0x02, kMinutesAlarm = 0x03, kHours = 0x04,
                           kHoursAlarm = 0x05, kDayOfWeek = 0x06, kDayOfMonth = 0x07, kMonth = 0x08, kYear = 0x09,
                           kRegisterA = 0x0a, kRegisterB = 0x0b, kRegisterC = 0x0c, kRegisterD = 0x0d,
                           kCentury = platform::kCmosCenturyRegister;
  // Register B.
  static constexpr uint8_t kSet = 0x80, kPeriodicEnable = 0x40, kAlarmEnable = 0x20, kUpdateEnable = 0x10,
                           kBinaryMode = 0x04, k24HourMode = 0x02;
  // Register C.
  static constexpr uint8_t kIrqFlag = 0x80, kPeriodicFlag = 0x40, kAlarmFlag = 0x20, kUpdateFlag = 0x10;
  static constexpr uint8_t kUpdateInProgress = 0x80;  // register A
  static constexpr int64_t kUpdateInProgressNs = 244'000;

  // `now_ns` gives the host's wall clock in nanoseconds since the epoch (UTC).
  explicit CmosRtc(InterruptLine& irq8, std::function<int64_t()> now_ns = host_utc_ns);
  ~CmosRtc() override;
  CmosRtc(const CmosRtc&) = delete;
  CmosRtc& operator=(const CmosRtc&) = delete;

  std::string_view name() const override { return "cmos-rtc"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Starts the interrupt thread (the machine does; unit tests call
  // update_interrupts() instead).
  void start();
  // Stops and joins the thread; idempotent (the destructor calls it too).
  void stop();
  // Raises what became due by now; the thread calls it at each deadline.
  void update_interrupts();
  bool nmi_masked() const;

  static int64_t host_utc_ns();

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  uint8_t read_register(uint8_t index, int64_t now);
  void    write_register(uint8_t index, uint8_t value, int64_t now);
  uint8_t encode(int value) const;   // binary or BCD, as register B says
  int     decode(uint8_t value) const;
  std::tm guest_time(int64_t now) const;  // the held time while SET is on
  int64_t period_ns() const;              // 0: no periodic interrupt
  bool    alarm_matches(const std::tm& time) const;
  // Sets register C's flags for what happened in (flags_checked_ns_, now].
  void    collect_flags(int64_t now);
  void    update_line();
  std::optional<int64_t> next_deadline(int64_t now) const;
  void    interrupt_thread();

  InterruptLine&           irq8_;
  std::function<int64_t()> now_;
  mutable std::mutex       mutex_;  // guards everything below; any VCPU and the thread. Held while the line changes
  std::condition_variable  changed_;
  uint8_t                  index_ = 0;
  bool                     nmi_masked_ = false;
  int64_t                  offset_seconds_ = 0;  // the guest's clock minus the host's
  std::tm                  held_{};              // the time SET froze, as the guest wrote it
  std::array<uint8_t, 128> ram_{};
  uint8_t                  flags_ = 0;              // register C's PF, AF, UF
  int64_t                  flags_checked_ns_ = 0;   // when collect_flags last looked
  int64_t                  periodic_anchor_ns_ = 0; // the periodic interrupt's phase
  bool                     line_ = false;
  bool                     stopping_ = false;
  std::thread              thread_;
};

}  // namespace ember
