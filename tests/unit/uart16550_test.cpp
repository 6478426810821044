#include "devices/uart16550.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember {
namespace {

class CapturedOutput final : public ConsoleOutput {
 public:
  void write(std::span<const uint8_t> bytes) override { text.append(bytes.begin(), bytes.end()); }
  std::string text;
};

class RecordedLine final : public InterruptLine {
 public:
  void set_level(bool asserted) override { level = asserted; }
  bool level = false;
};

class Uart16550Test : public ::testing::Test {
 protected:
  uint8_t read(uint64_t offset) {
    uint8_t value = 0;
    uart.read(Access{offset, 0x3f8 + offset, 0}, std::span{&value, 1});
    return value;
  }
  void write(uint64_t offset, uint8_t value) { uart.write(Access{offset, 0x3f8 + offset, 0}, std::span{&value, 1}); }

  CapturedOutput output;
  RecordedLine   irq;
  Uart16550      uart{output, irq};
};

constexpr uint64_t THR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

TEST_F(Uart16550Test, TransmitsThrBytesToTheConsole) {
  for (char c : std::string("hi\n")) write(THR, static_cast<uint8_t>(c));
  EXPECT_EQ(output.text, "hi\n");
}

TEST_F(Uart16550Test, LineStatusShowsTransmitterAlwaysReady) {
  EXPECT_EQ(read(LSR) & 0x60, 0x60);
  EXPECT_EQ(read(LSR) & 0x01, 0) << "no data ready yet";
}

TEST_F(Uart16550Test, DlabSwitchesDataAndIerToTheDivisor) {
  write(LCR, 0x80);
  write(THR, 0x01);
  write(IER, 0x02);
  EXPECT_EQ(read(THR), 0x01);
  EXPECT_EQ(read(IER), 0x02);
  EXPECT_TRUE(output.text.empty()) << "divisor writes are not output";
  write(LCR, 0x03);
  EXPECT_EQ(read(IER), 0x00) << "IER is untouched by divisor writes";
}

TEST_F(Uart16550Test, DivisorZeroIsHarmless) {
  write(LCR, 0x80);
  write(THR, 0);
  write(IER, 0);
  write(LCR, 0x03);
  write(THR, 'x');
  EXPECT_EQ(output.text, "x");
}

TEST_F(Uart16550Test, ScratchRegisterHoldsItsValue) {
  write(SCR, 0xa5);
  EXPECT_EQ(read(SCR), 0xa5);
}

TEST_F(Uart16550Test, LoopbackModemStatusMatchesLinuxProbe) {
  // Linux's 8250 autoconfig writes MCR = LOOP|OUT2|RTS and expects MSR & 0xf0 == 0x90.
  write(MCR, 0x1a);
  EXPECT_EQ(read(MSR) & 0xf0, 0x90);
  write(MCR, 0x1f);
  EXPECT_EQ(read(MSR) & 0xf0, 0xf0);
}

TEST_F(Uart16550Test, LoopbackSendsTransmittedBytesToTheReceiver) {
  write(MCR, 0x10);
  write(THR, 'q');
  EXPECT_TRUE(output.text.empty());
  EXPECT_EQ(read(LSR) & 0x01, 0x01);
  EXPECT_EQ(read(THR), 'q');
}

TEST_F(Uart16550Test, FifoEnabledShowsInIir) {
  write(IIR, 0x01);  // FCR: enable FIFOs
  EXPECT_EQ(read(IIR) & 0xc0, 0xc0) << "16550A identifies itself by IIR bits 7:6";
  write(IIR, 0x00);
  EXPECT_EQ(read(IIR) & 0xc0, 0x00);
}

TEST_F(Uart16550Test, ReceivedDataRaisesInterruptWhenEnabled) {
  EXPECT_EQ(read(IIR) & 0x0f, 0x01) << "no interrupt pending";
  write(IER, 0x01);
  const uint8_t input[] = {'a', 'b'};
  EXPECT_EQ(uart.receive(input), 2u);
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(read(IIR) & 0x0f, 0x04);
  EXPECT_EQ(read(THR), 'a');
  EXPECT_EQ(read(THR), 'b');
  EXPECT_FALSE(irq.level) << "drained: the line drops";
  EXPECT_EQ(read(IIR) & 0x0f, 0x01);
}

TEST_F(Uart16550Test, ThrEmptyInterruptClearsOnIirRead) {
  write(IER, 0x02);
  EXPECT_TRUE(irq.level) << "enabling ETBEI with an empty THR raises it";
  EXPECT_EQ(read(IIR) & 0x0f, 0x02);
  EXPECT_FALSE(irq.level) << "reading IIR clears the THRE source";
  write(THR, 'x');
  EXPECT_TRUE(irq.level) << "THR empties again after a write";
}

TEST_F(Uart16550Test, ReceivedDataOutranksThrEmpty) {
  write(IER, 0x03);
  const uint8_t input[] = {'z'};
  ASSERT_EQ(uart.receive(input), 1u);
  EXPECT_EQ(read(IIR) & 0x0f, 0x04);
}

TEST_F(Uart16550Test, ReceiveBufferIsBounded) {
  std::vector<uint8_t> flood(Uart16550::kReceiveCapacity + 100, 'x');
  EXPECT_EQ(uart.receive(flood), Uart16550::kReceiveCapacity);
  EXPECT_EQ(uart.receive(flood), 0u) << "full: the host must wait";
  read(THR);
  EXPECT_EQ(uart.receive(flood), 1u);
}

TEST_F(Uart16550Test, FcrClearsTheReceiver) {
  const uint8_t input[] = {'a', 'b'};
  ASSERT_EQ(uart.receive(input), 2u);
  write(IIR, 0x03);
  EXPECT_EQ(read(LSR) & 0x01, 0);
}

TEST_F(Uart16550Test, WideAndOutOfRangeAccessesAreIgnored) {
  uint32_t wide = 0xffffffff;
  uart.read(Access{0, 0x3f8, 0}, std::span{reinterpret_cast<uint8_t*>(&wide), 4});
  EXPECT_EQ(wide, 0xffffffffu) << "a 4-byte read leaves the zero-filled buffer as the bus gave it";
  const uint32_t value = 0x41414141;
  uart.write(Access{0, 0x3f8, 0}, std::span{reinterpret_cast<const uint8_t*>(&value), 4});
  uart.write(Access{8, 0x400, 0}, std::span{reinterpret_cast<const uint8_t*>(&value), 1});
  EXPECT_TRUE(output.text.empty());
}

}  // namespace
}  // namespace ember
