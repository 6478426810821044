#include "devices/pic8259.h"

#include "unit/interrupt_fakes.h"

#include <gtest/gtest.h>

namespace ember {
namespace {

using test::CountingKick;
using test::RecordingEoi;

class Pic8259Test : public ::testing::Test {
 protected:
  Pic8259Test() {
    pic.connect_output(cpu);
    // The BIOS/Linux sequence: ICW1 edge+ICW4, ICW2 vector base, ICW3 cascade, ICW4 8086.
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01);
    out(0xa0, 0x11); out(0xa1, 0x28); out(0xa1, 0x02); out(0xa1, 0x01);
  }
  uint8_t in(uint16_t port) {
    uint8_t value = 0;
    pic.read(Access{0, port, 0}, std::span{&value, 1});
    return value;
  }
  void out(uint16_t port, uint8_t value) { pic.write(Access{0, port, 0}, std::span{&value, 1}); }
  void pulse(unsigned irq) {
    pic.set_irq(irq, true);
    pic.set_irq(irq, false);
  }

  CountingKick cpu;
  Pic8259Pair  pic;
};

TEST_F(Pic8259Test, ImrReadsBackForLinuxProbe) {
  out(0x21, 0xfb);
  EXPECT_EQ(in(0x21), 0xfb);
  out(0xa1, 0xff);
  EXPECT_EQ(in(0xa1), 0xff);
}

TEST_F(Pic8259Test, EdgeIrqIsAcknowledgedWithItsVectorAndRetiredByEoi) {
  pulse(3);
  EXPECT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(cpu.kicks, 1) << "INT rising kicks the CPU";
  EXPECT_EQ(pic.acknowledge(), 0x23);
  EXPECT_FALSE(pic.interrupt_pending());
  out(0x20, 0x0b);  // OCW3: read ISR
  EXPECT_EQ(in(0x20), 0x08);
  out(0x20, 0x20);  // non-specific EOI
  EXPECT_EQ(in(0x20), 0x00);
}

TEST_F(Pic8259Test, HigherPriorityFirstAndInServiceBlocksLower) {
  pulse(5);
  pulse(1);
  EXPECT_EQ(pic.acknowledge(), 0x21) << "IRQ 1 outranks IRQ 5";
  EXPECT_FALSE(pic.interrupt_pending()) << "IRQ 5 waits while IRQ 1 is in service";
  pulse(0);
  EXPECT_TRUE(pic.interrupt_pending()) << "IRQ 0 nests above IRQ 1";
  EXPECT_EQ(pic.acknowledge(), 0x20);
  out(0x20, 0x20);
  out(0x20, 0x20);
  EXPECT_EQ(pic.acknowledge(), 0x25);
}

TEST_F(Pic8259Test, SlaveIrqCascadesThroughMasterIrq2) {
  pulse(10);
  EXPECT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x2a);
  out(0xa0, 0x0b);
  EXPECT_EQ(in(0xa0), 0x04) << "slave ISR bit 2";
  out(0x20, 0x0b);
  EXPECT_EQ(in(0x20), 0x04) << "master ISR bit 2 (cascade)";
}

TEST_F(Pic8259Test, MaskedIrqStaysInIrrOnly) {
  out(0x21, 0xff);
  pulse(4);
  EXPECT_FALSE(pic.interrupt_pending());
  out(0x20, 0x0a);  // OCW3: read IRR
  EXPECT_EQ(in(0x20), 0x10);
  out(0x21, 0x00);
  EXPECT_TRUE(pic.interrupt_pending());
}

TEST_F(Pic8259Test, LevelModeFollowsTheLine) {
  out(0x4d0, 0x20);  // IRQ 5 level-triggered
  EXPECT_EQ(in(0x4d0), 0x20);
  pic.set_irq(5, true);
  EXPECT_EQ(pic.acknowledge(), 0x25);
  out(0x20, 0x20);
  EXPECT_TRUE(pic.interrupt_pending()) << "still asserted: requested again";
  pic.set_irq(5, false);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST_F(Pic8259Test, ElcrCannotMakeTimerOrCascadeLevelTriggered) {
  out(0x4d0, 0xff);
  EXPECT_EQ(in(0x4d0), 0xf8);
  out(0x4d1, 0xff);
  EXPECT_EQ(in(0x4d1), 0xde);
}

TEST_F(Pic8259Test, AutoEoiLeavesIsrClear) {
  out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x03);  // ICW4 with AEOI
  pulse(6);
  EXPECT_EQ(pic.acknowledge(), 0x26);
  out(0x20, 0x0b);
  EXPECT_EQ(in(0x20), 0x00);
}

TEST_F(Pic8259Test, SpecificEoiRetiresTheNamedIrq) {
  pulse(1);
  ASSERT_EQ(pic.acknowledge(), 0x21);
  out(0x20, 0x60 | 1);
  out(0x20, 0x0b);
  EXPECT_EQ(in(0x20), 0x00);
}

TEST_F(Pic8259Test, PollModeAcknowledgesOnRead) {
  pulse(2 + 1);
  out(0x20, 0x0c);  // OCW3: poll
  EXPECT_EQ(in(0x20), 0x83);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x00) << "nothing left to poll";
}

TEST_F(Pic8259Test, NoRequestNoVector) { EXPECT_EQ(pic.acknowledge(), std::nullopt); }

}  // namespace
}  // namespace ember
