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

TEST_F(AcpiPmTest, EnableRegisterKeepsWhatTheOsWritesAndStatusStaysClear) {
  write16(AcpiPm::kEventBlock + 2, 0x0121);
  EXPECT_EQ(read(AcpiPm::kEventBlock + 2, 2), 0x0121u);
  write16(AcpiPm::kEventBlock, 0xffff);
  EXPECT_EQ(read(AcpiPm::kEventBlock, 2), 0u);
}

}  // namespace
}  // namespace ember
