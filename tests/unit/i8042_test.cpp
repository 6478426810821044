#include "devices/i8042.h"

#include <gtest/gtest.h>

#include <array>

#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

using test::RecordingControl;
using test::RecordingLine;

struct I8042Test : ::testing::Test {
  RecordingControl control;
  RecordingLine    keyboard_irq, aux_irq;
  I8042            controller{control, keyboard_irq, aux_irq};

  uint8_t in(uint16_t port) {
    std::array<uint8_t, 1> byte{};
    controller.read(Access{0, port, 0}, byte);
    return byte[0];
  }
  void out(uint16_t port, uint8_t value) {
    const std::array<uint8_t, 1> byte{value};
    controller.write(Access{0, port, 0}, byte);
  }
  uint8_t status() { return in(I8042::kCommandPort); }
  // Linux's i8042_command: the command, then (for some) a byte, then the reply.
  uint8_t ask(uint8_t command) {
    out(I8042::kCommandPort, command);
    EXPECT_TRUE(status() & 0x01) << "command " << int{command} << " left no reply";
    return in(I8042::kDataPort);
  }
};

TEST_F(I8042Test, AnswersTheLinuxProbeSequence) {
  EXPECT_EQ(status() & 0x01, 0) << "nothing to flush";
  EXPECT_EQ(ask(0xaa), 0x55) << "self-test passed";
  const uint8_t ctr = ask(0x20);
  out(I8042::kCommandPort, 0x60);
  out(I8042::kDataPort, static_cast<uint8_t>(ctr & ~0x03));  // interrupts off, as i8042_controller_init does
  EXPECT_EQ(ask(0x20), ctr & ~0x03) << "the configuration byte reads back";
  EXPECT_EQ(ask(0xab), 0x00) << "keyboard interface test";
  EXPECT_EQ(ask(0xa9), 0x00) << "aux interface test";
  out(I8042::kCommandPort, 0xa7);
  EXPECT_TRUE(ask(0x20) & 0x20) << "aux disabled";
  out(I8042::kCommandPort, 0xa8);
  EXPECT_FALSE(ask(0x20) & 0x20) << "aux enabled";
  EXPECT_FALSE(control.stopped);
}

TEST_F(I8042Test, AuxLoopbackIsAuxDataAndRaisesIrq12WhenEnabled) {
  out(I8042::kCommandPort, 0x60);
  out(I8042::kDataPort, 0x03);  // both interrupts on
  out(I8042::kCommandPort, 0xd3);
  out(I8042::kDataPort, 0x5a);
  EXPECT_EQ(status() & 0x21, 0x21) << "output full, from the aux port";
  EXPECT_TRUE(aux_irq.level);
  EXPECT_FALSE(keyboard_irq.level);
  EXPECT_EQ(in(I8042::kDataPort), 0x5a);
  EXPECT_FALSE(aux_irq.level) << "reading empties the buffer";
}

TEST_F(I8042Test, EachQueuedByteIsANewEdge) {
  out(I8042::kCommandPort, 0x60);
  out(I8042::kDataPort, 0x01);
  out(I8042::kCommandPort, 0xd2);
  out(I8042::kDataPort, 0x11);
  out(I8042::kCommandPort, 0xd2);
  out(I8042::kDataPort, 0x22);
  EXPECT_EQ(keyboard_irq.rising_edges, 1);
  EXPECT_EQ(in(I8042::kDataPort), 0x11);
  EXPECT_EQ(keyboard_irq.rising_edges, 2) << "an edge-triggered IRQ 1 must see the second byte";
  EXPECT_EQ(in(I8042::kDataPort), 0x22);
  EXPECT_FALSE(keyboard_irq.level);
}

TEST_F(I8042Test, AByteForAMissingDeviceTimesOutAtOnce) {
  out(I8042::kDataPort, 0xf2);  // "identify": no keyboard is there
  EXPECT_EQ(status() & 0x41, 0x41) << "output full with the timeout bit";
  EXPECT_EQ(in(I8042::kDataPort), 0xfe);
  out(I8042::kCommandPort, 0xd4);
  out(I8042::kDataPort, 0xf4);
  EXPECT_EQ(status() & 0x61, 0x61) << "aux data, timed out";
}

TEST_F(I8042Test, OutputQueueIsBounded) {
  for (int i = 0; i < 1000; ++i) out(I8042::kDataPort, 0xf2);
  int bytes = 0;
  while (status() & 0x01) {
    in(I8042::kDataPort);
    ++bytes;
  }
  EXPECT_EQ(bytes, static_cast<int>(I8042::kOutputQueueLimit));
}

TEST_F(I8042Test, PulsingTheResetLineResetsTheMachine) {
  out(I8042::kCommandPort, 0xff);  // pulse nothing
  EXPECT_FALSE(control.stopped);
  out(I8042::kCommandPort, 0xfe);
  ASSERT_TRUE(control.stopped);
  EXPECT_EQ(control.stopped->kind, Outcome::Kind::Reset);
}

TEST_F(I8042Test, WritingTheOutputPortResetLineLowResets) {
  out(I8042::kCommandPort, 0xd1);
  out(I8042::kDataPort, 0x03);
  EXPECT_FALSE(control.stopped);
  out(I8042::kCommandPort, 0xd1);
  out(I8042::kDataPort, 0x02);
  ASSERT_TRUE(control.stopped);
  EXPECT_EQ(control.stopped->kind, Outcome::Kind::Reset);
}

}  // namespace
}  // namespace ember
