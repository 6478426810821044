#include "devices/cmos_rtc.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

// 2026-12-02 09:41:57 UTC, a Wednesday.
constexpr int64_t kWednesday = 1796204517;

class CmosRtcTest : public ::testing::Test {
 protected:
  uint8_t read(uint8_t index) {
    select(index);
    uint8_t value = 0;
    rtc_.read(Access{1, CmosRtc::kIndexPort + 1, 0}, {&value, 1});
    return value;
  }
  void write(uint8_t index, uint8_t value) {
    select(index);
    rtc_.write(Access{1, CmosRtc::kIndexPort + 1, 0}, {&value, 1});
  }
  void select(uint8_t index) {
    const uint8_t byte = index;
    rtc_.write(Access{0, CmosRtc::kIndexPort, 0}, {&byte, 1});
  }

  int64_t             host_now_ = kWednesday;  // seconds
  int64_t             sub_ns_ = 0;             // and nanoseconds into the second
  test::RecordingLine irq_;
  CmosRtc             rtc_{irq_, [this] { return host_now_ * 1'000'000'000 + sub_ns_; }};
};

TEST_F(CmosRtcTest, ReadsTheHostsUtcTimeInBcdAnd24HourModeAsFirmwareLeavesIt) {
  EXPECT_EQ(read(CmosRtc::kSeconds), 0x57);
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x41);
  EXPECT_EQ(read(CmosRtc::kHours), 0x09);
  EXPECT_EQ(read(CmosRtc::kDayOfWeek), 0x04);  // Sunday is 1
  EXPECT_EQ(read(CmosRtc::kDayOfMonth), 0x02);
  EXPECT_EQ(read(CmosRtc::kMonth), 0x12);
  EXPECT_EQ(read(CmosRtc::kYear), 0x26);
  EXPECT_EQ(read(CmosRtc::kCentury), 0x20);
}

TEST_F(CmosRtcTest, TheClockAdvancesWithTheHosts) {
  host_now_ += 3;
  EXPECT_EQ(read(CmosRtc::kSeconds), 0x00);
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x42);
}

// UIP is set only in the last 244 us of each second, before the update, so
// a reader waiting for it to clear (Linux's mc146818_avoid_UIP) never
// waits longer; with SET the clock holds and never updates.
TEST_F(CmosRtcTest, AnUpdateIsInProgressOnlyJustBeforeEachSecond) {
  sub_ns_ = 999'755'000;
  EXPECT_EQ(read(CmosRtc::kRegisterA) & 0x80, 0);
  sub_ns_ = 999'757'000;
  EXPECT_EQ(read(CmosRtc::kRegisterA) & 0x80, 0x80);
  write(CmosRtc::kRegisterB, CmosRtc::kSet | CmosRtc::k24HourMode);
  EXPECT_EQ(read(CmosRtc::kRegisterA) & 0x80, 0) << "SET stops updates";
  write(CmosRtc::kRegisterB, CmosRtc::k24HourMode);
  sub_ns_ = 0;
  EXPECT_EQ(read(CmosRtc::kRegisterA) & 0x80, 0);
  write(CmosRtc::kRegisterA, 0xff);
  EXPECT_EQ(read(CmosRtc::kRegisterA), 0x7f) << "UIP is read-only";
  EXPECT_EQ(read(CmosRtc::kRegisterD), 0x80) << "VRT: valid RAM and time";
}

TEST_F(CmosRtcTest, FlagsOfDisabledInterruptsShowInRegisterCWithoutTheLine) {
  EXPECT_EQ(read(CmosRtc::kRegisterC), 0x00);
  sub_ns_ = 4'000'000;  // 4 ms: several 1024 Hz periods
  EXPECT_EQ(read(CmosRtc::kRegisterC), CmosRtc::kPeriodicFlag) << "PF, but no IRQF: PIE is off";
  EXPECT_EQ(read(CmosRtc::kRegisterC), 0x00) << "reading C cleared it";
  host_now_ += 1;
  EXPECT_EQ(read(CmosRtc::kRegisterC) & CmosRtc::kUpdateFlag, CmosRtc::kUpdateFlag) << "a second boundary passed";
  EXPECT_FALSE(irq_.level);
}

TEST_F(CmosRtcTest, UpdateEndedInterruptEverySecond) {
  write(CmosRtc::kRegisterB, CmosRtc::kUpdateEnable | CmosRtc::k24HourMode);
  rtc_.update_interrupts();
  EXPECT_FALSE(irq_.level) << "no second has ended yet";
  host_now_ += 1;
  rtc_.update_interrupts();
  EXPECT_TRUE(irq_.level);
  // PF is set too: the default 1024 Hz rate runs with PIE off.
  EXPECT_EQ(read(CmosRtc::kRegisterC), CmosRtc::kIrqFlag | CmosRtc::kUpdateFlag | CmosRtc::kPeriodicFlag);
  EXPECT_FALSE(irq_.level) << "reading C lowers IRQ 8";
  rtc_.update_interrupts();
  EXPECT_FALSE(irq_.level) << "nothing new within the same second";
  host_now_ += 1;
  rtc_.update_interrupts();
  EXPECT_EQ(irq_.rising_edges, 2);
}

TEST_F(CmosRtcTest, PeriodicInterruptAtRegisterAsRate) {
  write(CmosRtc::kRegisterA, 0x20 | 15);  // 32.768 kHz base, rate 15: 2 Hz
  write(CmosRtc::kRegisterB, CmosRtc::kPeriodicEnable | CmosRtc::k24HourMode);
  sub_ns_ = 499'000'000;
  rtc_.update_interrupts();
  EXPECT_FALSE(irq_.level) << "half a second has not passed";
  sub_ns_ = 500'000'000;
  rtc_.update_interrupts();
  EXPECT_TRUE(irq_.level);
  EXPECT_EQ(read(CmosRtc::kRegisterC) & (CmosRtc::kIrqFlag | CmosRtc::kPeriodicFlag), CmosRtc::kIrqFlag | CmosRtc::kPeriodicFlag);
  write(CmosRtc::kRegisterA, 0x20);  // rate 0: no periodic interrupt
  sub_ns_ = 999'000'000;
  rtc_.update_interrupts();
  EXPECT_FALSE(irq_.level);
}

TEST_F(CmosRtcTest, AlarmMatchesWithDontCareBytes) {
  // 09:41:57 now; alarm at hh:42:00 for any hour.
  write(CmosRtc::kHoursAlarm, 0xc0);
  write(CmosRtc::kMinutesAlarm, 0x42);
  write(CmosRtc::kSecondsAlarm, 0x00);
  write(CmosRtc::kRegisterB, CmosRtc::kAlarmEnable | CmosRtc::k24HourMode);
  for (int second = 0; second < 2; ++second) {
    host_now_ += 1;
    rtc_.update_interrupts();
    EXPECT_FALSE(irq_.level) << "09:41:5" << 8 + second;
  }
  host_now_ += 1;  // 09:42:00
  rtc_.update_interrupts();
  EXPECT_TRUE(irq_.level);
  EXPECT_EQ(read(CmosRtc::kRegisterC) & CmosRtc::kAlarmFlag, CmosRtc::kAlarmFlag);
}

TEST_F(CmosRtcTest, EnablingAnInterruptWhoseFlagIsSetRaisesItAtOnce) {
  host_now_ += 1;
  write(CmosRtc::kRegisterB, CmosRtc::kUpdateEnable | CmosRtc::k24HourMode);
  EXPECT_TRUE(irq_.level) << "UF was already set: IRQF = UF & UIE";
}

// An NTP step backwards must not silence IRQ 8 for the length of the step.
TEST_F(CmosRtcTest, AHostClockSteppingBackDoesNotStopTheInterrupts) {
  write(CmosRtc::kRegisterB, CmosRtc::kUpdateEnable | CmosRtc::k24HourMode);
  host_now_ -= 3600;
  rtc_.update_interrupts();
  EXPECT_FALSE(irq_.level);
  host_now_ += 1;
  rtc_.update_interrupts();
  EXPECT_TRUE(irq_.level) << "the next second after the step raises it";
}

TEST_F(CmosRtcTest, TheNmiMaskBitIsKept) {
  const uint8_t masked = 0x80 | CmosRtc::kSeconds;
  rtc_.write(Access{0, CmosRtc::kIndexPort, 0}, {&masked, 1});
  EXPECT_TRUE(rtc_.nmi_masked());
  select(CmosRtc::kSeconds);
  EXPECT_FALSE(rtc_.nmi_masked());
}

TEST_F(CmosRtcTest, BinaryAnd12HourModesFollowRegisterB) {
  write(CmosRtc::kRegisterB, CmosRtc::kBinaryMode | CmosRtc::k24HourMode);
  EXPECT_EQ(read(CmosRtc::kSeconds), 57);
  EXPECT_EQ(read(CmosRtc::kYear), 26);
  host_now_ += 5 * 3600;  // 14:41
  write(CmosRtc::kRegisterB, 0);  // BCD, 12-hour
  EXPECT_EQ(read(CmosRtc::kHours), 0x80 | 0x02) << "2 PM";
}

TEST_F(CmosRtcTest, TheGuestSetsItsClockWithoutChangingTheHosts) {
  write(CmosRtc::kYear, 0x30);
  write(CmosRtc::kHours, 0x23);
  EXPECT_EQ(read(CmosRtc::kYear), 0x30);
  EXPECT_EQ(read(CmosRtc::kHours), 0x23);
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x41);
  host_now_ += 60;
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x42) << "the set clock keeps running";
}

// Linux's order (mc146818_set_time): SET on, year, month, day, hours,
// minutes, seconds, SET off. On the 31st, month 2 alone would be Feb 31,
// which a clock that normalised each write would turn into March.
TEST_F(CmosRtcTest, WritesUnderSetTakeEffectTogetherWhenSetClears) {
  host_now_ = 1798678800;  // 2026-12-31 01:00:00 UTC
  ASSERT_EQ(read(CmosRtc::kDayOfMonth), 0x31);
  const uint8_t b = read(CmosRtc::kRegisterB);
  write(CmosRtc::kRegisterB, b | CmosRtc::kSet);
  host_now_ += 5;
  EXPECT_EQ(read(CmosRtc::kSeconds), 0x00) << "the clock holds still while SET is on";
  write(CmosRtc::kYear, 0x27);
  write(CmosRtc::kMonth, 0x02);
  write(CmosRtc::kDayOfMonth, 0x10);
  write(CmosRtc::kHours, 0x12);
  write(CmosRtc::kMinutes, 0x34);
  write(CmosRtc::kSeconds, 0x56);
  write(CmosRtc::kRegisterB, b);
  EXPECT_EQ(read(CmosRtc::kYear), 0x27);
  EXPECT_EQ(read(CmosRtc::kMonth), 0x02);
  EXPECT_EQ(read(CmosRtc::kDayOfMonth), 0x10);
  EXPECT_EQ(read(CmosRtc::kHours), 0x12);
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x34);
  EXPECT_EQ(read(CmosRtc::kSeconds), 0x56);
  host_now_ += 4;
  EXPECT_EQ(read(CmosRtc::kSeconds), 0x00) << "running again: 12:34:56 + 4 s";
  EXPECT_EQ(read(CmosRtc::kMinutes), 0x35);
}

TEST_F(CmosRtcTest, HourWritesIn12HourModeKeepAmAndPm) {
  write(CmosRtc::kRegisterB, CmosRtc::kBinaryMode);  // binary, 12-hour
  write(CmosRtc::kHours, 0x80 | 12);                 // 12 PM is noon
  EXPECT_EQ(read(CmosRtc::kHours), 0x80 | 12);
  write(CmosRtc::kRegisterB, CmosRtc::kBinaryMode | CmosRtc::k24HourMode);
  EXPECT_EQ(read(CmosRtc::kHours), 12);
  write(CmosRtc::kRegisterB, CmosRtc::kBinaryMode);
  write(CmosRtc::kHours, 12);  // 12 AM is midnight
  write(CmosRtc::kRegisterB, CmosRtc::kBinaryMode | CmosRtc::k24HourMode);
  EXPECT_EQ(read(CmosRtc::kHours), 0);
}

TEST_F(CmosRtcTest, RamBytesKeepWhatTheGuestWroteAndTheIndexIgnoresTheNmiBit) {
  write(0x40, 0xa5);
  EXPECT_EQ(read(0x40 | 0x80), 0xa5);
  write(0x7f, 0x5a);
  EXPECT_EQ(read(0xff), 0x5a);
}

TEST_F(CmosRtcTest, TheIndexPortReadsAllOnesAndWideAccessesStayInRange) {
  uint8_t wide[4] = {};
  rtc_.read(Access{0, CmosRtc::kIndexPort, 0}, wide);
  EXPECT_EQ(wide[0], 0xff) << "the index port";
  EXPECT_EQ(wide[1], 0x57) << "the data port, index 0: the seconds";
  EXPECT_EQ(wide[2], 0xff) << "past the device";
  EXPECT_EQ(wide[3], 0xff);
  const uint8_t values[4] = {0x40, 0x11, 0x22, 0x33};
  rtc_.write(Access{0, CmosRtc::kIndexPort, 0}, values);
  EXPECT_EQ(read(0x40), 0x11);
}

}  // namespace
}  // namespace ember
