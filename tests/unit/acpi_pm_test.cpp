#include "devices/acpi_pm.h"

#include <gtest/gtest.h>

#include <array>

#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

using test::RecordingControl;

struct AcpiPmTest : ::testing::Test {
  uint64_t         now_ns = 0;
  RecordingControl control;
  AcpiPm           pm{control, [this] { return now_ns; }};

  uint32_t read(uint16_t port, size_t size) {
    std::array<uint8_t, 4> bytes{};
    pm.read(Access{uint64_t{port} - AcpiPm::kBasePort, port, 0}, std::span{bytes}.first(size));
    return bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
  }
  void write16(uint16_t port, uint16_t value) {
    const std::array<uint8_t, 2> bytes{static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    pm.write(Access{uint64_t{port} - AcpiPm::kBasePort, port, 0}, bytes);
  }
};

TEST_F(AcpiPmTest, SciEnReadsSetSoTheOsSeesAcpiModeWithoutAnSmiCommand) {
  EXPECT_EQ(read(AcpiPm::kControlBlock, 2) & 1, 1u);
}

TEST_F(AcpiPmTest, SleepEnableWithTheS5TypeIsAPowerOff) {
  // What Linux's acpi_hw_legacy_sleep writes: SLP_TYP first, then SLP_EN.
  write16(AcpiPm::kControlBlock, 5 << 10 | 1);
  EXPECT_FALSE(control.stopped) << "SLP_TYP alone is not a request";
  write16(AcpiPm::kControlBlock, 5 << 10 | 1 << 13 | 1);
  ASSERT_TRUE(control.stopped);
  EXPECT_EQ(control.stopped->kind, Outcome::Kind::PowerOff);
  EXPECT_EQ(control.stopped->value, 0);
  EXPECT_EQ(read(AcpiPm::kControlBlock, 2) & (1 << 13), 0u) << "SLP_EN is write-only";
}

TEST_F(AcpiPmTest, OtherSleepTypesAreIgnored) {
  write16(AcpiPm::kControlBlock, 3 << 10 | 1 << 13);
  EXPECT_FALSE(control.stopped);
}

TEST_F(AcpiPmTest, PmTimerCountsAt3579545HzIn32Bits) {
  now_ns = 1'000'000'000;
  EXPECT_EQ(read(AcpiPm::kTimerBlock, 4), 3'579'545u);
  now_ns = 2'000'000'000'000;  // 2000 s: 7.159e9 ticks wrap modulo 2^32
  EXPECT_EQ(read(AcpiPm::kTimerBlock, 4), static_cast<uint32_t>(7'159'090'000ull));
}

// One 32-bit read is one moment: with a clock that moves between calls,
// the four bytes still come from a single reading.
TEST_F(AcpiPmTest, A32BitTimerReadIsOneReading) {
  int calls = 0;
  AcpiPm moving{control, [&] { return (++calls) * 1'000'000'000ull + 999'999'000ull; }};
  std::array<uint8_t, 4> bytes{};
  moving.read(Access{8, AcpiPm::kTimerBlock, 0}, bytes);
  EXPECT_EQ(calls, 1);
  const uint32_t value = bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
  EXPECT_EQ(value, static_cast<uint32_t>(1'999'999'000ull * AcpiPm::kTimerHz / 1'000'000'000u));
}

TEST_F(AcpiPmTest, AccessesPastTheBlocksReadAsZero) {
  std::array<uint8_t, 8> bytes{};
  bytes.fill(0xee);
  pm.read(Access{6, AcpiPm::kBasePort + 6, 0}, std::span{bytes}.first(2));
  EXPECT_EQ(bytes[0] | bytes[1], 0) << "the gap between control and timer";
  bytes.fill(0xee);
  pm.read(Access{10, AcpiPm::kBasePort + 10, 0}, bytes);  // an 8-byte read from the timer's third byte
  for (size_t i = 2; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], 0) << "byte " << i << " is past the end";
}

TEST_F(AcpiPmTest, EnableRegisterKeepsWhatTheOsWritesAndStatusStaysClear) {
  write16(AcpiPm::kEventBlock + 2, 0x0121);
  EXPECT_EQ(read(AcpiPm::kEventBlock + 2, 2), 0x0121u);
  write16(AcpiPm::kEventBlock, 0xffff);
  EXPECT_EQ(read(AcpiPm::kEventBlock, 2), 0u);
}

}  // namespace
}  // namespace ember
