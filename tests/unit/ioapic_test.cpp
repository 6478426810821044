#include "devices/ioapic.h"

#include "unit/interrupt_fakes.h"

#include <gtest/gtest.h>

#include <cstring>

namespace ember {
namespace {

using test::CountingKick;
using test::RecordingEoi;

class IoapicTest : public ::testing::Test {
 protected:
  IoapicTest() {
    for (unsigned i = 0; i < 2; ++i) {
      addressing[i].id = i;
      router.attach({&mailboxes[i], &addressing[i], &kicks[i]});
    }
  }
  void write_mmio(uint64_t offset, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    ioapic.write(Access{offset, Ioapic::kMmioBase + offset, 0}, bytes);
  }
  uint32_t read_mmio(uint64_t offset) {
    uint8_t bytes[4] = {};
    ioapic.read(Access{offset, Ioapic::kMmioBase + offset, 0}, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  void write_register(uint32_t index, uint32_t value) {
    write_mmio(0x00, index);
    write_mmio(0x10, value);
  }
  uint32_t read_register(uint32_t index) {
    write_mmio(0x00, index);
    return read_mmio(0x10);
  }
  // Routes `pin` to APIC `destination` with `vector`, unmasked.
  void route(unsigned pin, uint8_t vector, bool level, uint32_t destination = 0) {
    write_register(0x11 + 2 * pin, destination << 24);
    write_register(0x10 + 2 * pin, vector | (level ? 1u << 15 : 0));
  }
  bool pending(unsigned cpu, uint8_t vector, InjectionMailbox::Drained* out = nullptr) {
    const auto drained = mailboxes[cpu].drain();
    if (out) *out = drained;
    return (drained.vectors[vector / 64] >> (vector % 64)) & 1;
  }

  std::array<InjectionMailbox, 2> mailboxes;
  std::array<ApicAddressing, 2>   addressing;
  std::array<CountingKick, 2>           kicks;
  InterruptRouter                 router;
  Ioapic                          ioapic{router, 0};
};

TEST_F(IoapicTest, VersionAndPinCount) {
  EXPECT_EQ(read_register(1), 0x00170011u);
}

TEST_F(IoapicTest, PinsStartMasked) {
  for (unsigned pin = 0; pin < Ioapic::kPins; ++pin) EXPECT_TRUE(ioapic.redirection_entry(pin) & (1u << 16)) << pin;
  ioapic.set_pin(3, true);
  EXPECT_TRUE(mailboxes[0].drain().empty());
}

TEST_F(IoapicTest, EdgePinDeliversOnRisingEdgeOnly) {
  route(4, 0x34, false);
  ioapic.set_pin(4, true);
  EXPECT_TRUE(pending(0, 0x34));
  ioapic.set_pin(4, true);
  EXPECT_FALSE(pending(0, 0x34)) << "no edge, no interrupt";
  ioapic.set_pin(4, false);
  ioapic.set_pin(4, true);
  EXPECT_TRUE(pending(0, 0x34));
}

TEST_F(IoapicTest, LevelPinHoldsRemoteIrrUntilEoiThenRedelivers) {
  route(5, 0x35, true, 1);
  ioapic.set_pin(5, true);
  InjectionMailbox::Drained drained;
  EXPECT_TRUE(pending(1, 0x35, &drained));
  EXPECT_TRUE((drained.level[0] >> 0x35) & 1) << "posted as level-triggered";
  EXPECT_TRUE(ioapic.redirection_entry(5) & (1u << 14)) << "remote IRR set";
  ioapic.set_pin(5, true);
  EXPECT_FALSE(pending(1, 0x35)) << "remote IRR blocks re-delivery";
  ioapic.end_of_interrupt(0x35);
  EXPECT_TRUE(pending(1, 0x35)) << "still asserted after EOI: delivered again";
  ioapic.set_pin(5, false);
  ioapic.end_of_interrupt(0x35);
  EXPECT_FALSE(pending(1, 0x35)) << "deasserted: EOI only clears remote IRR";
  EXPECT_FALSE(ioapic.redirection_entry(5) & (1u << 14));
}

TEST_F(IoapicTest, UnmaskingAnAssertedLevelPinDeliversIt) {
  write_register(0x10 + 2 * 6, 0x36 | (1u << 15) | (1u << 16));
  ioapic.set_pin(6, true);
  EXPECT_FALSE(pending(0, 0x36));
  write_register(0x10 + 2 * 6, 0x36 | (1u << 15));
  EXPECT_TRUE(pending(0, 0x36));
}

TEST_F(IoapicTest, RemoteIrrAndDeliveryStatusAreReadOnly) {
  route(7, 0x37, true);
  write_register(0x10 + 2 * 7, 0x37 | (1u << 15) | (1u << 14) | (1u << 12));
  EXPECT_EQ(ioapic.redirection_entry(7) & ((1u << 14) | (1u << 12)), 0u);
}

TEST_F(IoapicTest, VectorsBelow16AreNotDelivered) {
  route(8, 0x05, false);
  ioapic.set_pin(8, true);
  EXPECT_TRUE(mailboxes[0].drain().empty());
}

// Issue 17, bug 3: delivery mode 3 is reserved. It reaches no APIC, and a
// level-triggered pin must not keep a remote IRR no EOI will ever clear:
// once the guest fixes the entry, the still-asserted pin is delivered.
TEST_F(IoapicTest, ReservedDeliveryModeReachesNobodyAndLeavesNoRemoteIrr) {
  write_register(0x11 + 2 * 5, 0);
  write_register(0x10 + 2 * 5, 0x45 | (3u << 8) | (1u << 15));  // mode 3, level
  ioapic.set_pin(5, true);
  EXPECT_TRUE(mailboxes[0].drain().empty());
  EXPECT_FALSE(ioapic.redirection_entry(5) & (1u << 14)) << "remote IRR stuck";
  route(5, 0x45, true);
  EXPECT_TRUE(pending(0, 0x45)) << "the pin, still asserted, is delivered once the entry is valid";
}

TEST_F(IoapicTest, OutOfRangeSelectReadsZeroAndIgnoresWrites) {
  write_register(0x10 + 2 * 24, 0x40);
  EXPECT_EQ(read_register(0x10 + 2 * 24), 0u);
  EXPECT_EQ(read_register(0xff), 0u);
  EXPECT_EQ(read_register(5), 0u);
}

TEST_F(IoapicTest, OddSizedAccessesAreIgnored) {
  uint8_t byte = 0x12;
  ioapic.write(Access{0, Ioapic::kMmioBase, 0}, std::span{&byte, 1});
  uint64_t wide = 0;
  ioapic.read(Access{0x10, Ioapic::kMmioBase + 0x10, 0}, std::span{reinterpret_cast<uint8_t*>(&wide), 8});
  EXPECT_EQ(wide, 0u);
  EXPECT_EQ(read_mmio(0), 0u) << "select unchanged by the 1-byte write";
}

TEST_F(IoapicTest, LogicalAndBroadcastDestinations) {
  addressing[0].ldr = 0x01u << 24;
  addressing[1].ldr = 0x02u << 24;
  write_register(0x11 + 2 * 9, 0x02u << 24);
  write_register(0x10 + 2 * 9, 0x39 | (1u << 11));  // logical
  ioapic.set_pin(9, true);
  EXPECT_FALSE(pending(0, 0x39));
  EXPECT_TRUE(pending(1, 0x39));
  route(10, 0x3a, false, 0xff);  // physical broadcast
  ioapic.set_pin(10, true);
  EXPECT_TRUE(pending(0, 0x3a));
  EXPECT_TRUE(pending(1, 0x3a));
}

}  // namespace
}  // namespace ember
