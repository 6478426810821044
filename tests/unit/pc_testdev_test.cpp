#include "devices/pc_testdev.h"

#include "unit/interrupt_fakes.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ember {
namespace {

using test::CountingKick;

// pc-testdev as QEMU's hw/misc/pc-testdev.c defines it, wired to a real
// IOAPIC whose pins deliver to one VCPU's mailbox.
class PcTestdevTest : public ::testing::Test {
 protected:
  PcTestdevTest() { router.attach({&mailbox, &addressing, &kick}); }
  void program_pin(unsigned pin, uint8_t vector) {
    write_ioapic(0x10 + 2 * pin + 1, 0);  // to APIC 0
    write_ioapic(0x10 + 2 * pin, vector);  // fixed, edge, unmasked
  }
  void write_ioapic(uint32_t index, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &index, 4);
    ioapic.write(Access{0, Ioapic::kMmioBase, 0}, bytes);
    std::memcpy(bytes, &value, 4);
    ioapic.write(Access{0x10, Ioapic::kMmioBase + 0x10, 0}, bytes);
  }
  void set_line(unsigned line, uint8_t level) {
    const uint8_t byte[1] = {level};
    testdev.irq_lines().write(Access{line, PcTestdev::kIrqLineBase + line, 0}, byte);
  }
  bool pending(uint8_t vector) { return (mailbox.drain().vectors[vector / 64] >> (vector % 64)) & 1; }
  std::vector<uint8_t> read_port(uint64_t offset, size_t size) {
    std::vector<uint8_t> data(size, 0);
    testdev.ports().read(Access{offset, PcTestdev::kPortBase + offset, 0}, data);
    return data;
  }
  void write_port(uint64_t offset, std::vector<uint8_t> data) {
    testdev.ports().write(Access{offset, PcTestdev::kPortBase + offset, 0}, data);
  }

  InjectionMailbox mailbox;
  ApicAddressing   addressing;
  CountingKick     kick;
  InterruptRouter  router;
  Ioapic           ioapic{router, 1};
  Pic8259Pair      pic;
  PcTestdev        testdev{pic, ioapic};
};

TEST_F(PcTestdevTest, ScratchRegisterAtAnyWidthAndByteByByte) {
  write_port(0, {0x78, 0x56, 0x34, 0x12});
  EXPECT_EQ(read_port(0, 4), (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12}));
  write_port(8 + 1, {0xab});
  EXPECT_EQ(read_port(0, 4), (std::vector<uint8_t>{0x78, 0xab, 0x34, 0x12})) << "0xe9 is byte 1 of the same register";
  EXPECT_EQ(read_port(8 + 2, 2), (std::vector<uint8_t>{0x34, 0x12}));
  EXPECT_EQ(read_port(3, 4), (std::vector<uint8_t>{0x12, 0, 0, 0})) << "bytes past the register's end read 0";
  write_port(3, {0xee, 0xee, 0xee, 0xee});
  EXPECT_EQ(read_port(0, 4), (std::vector<uint8_t>{0x78, 0xab, 0x34, 0xee})) << "and are not written";
}

TEST_F(PcTestdevTest, FlushPortTakesWritesAndReadsZero) {
  write_port(0, {1, 2, 3, 4});
  write_port(4, {0, 0x10, 0, 0});
  EXPECT_EQ(read_port(4, 4), (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_EQ(read_port(0, 4), (std::vector<uint8_t>{1, 2, 3, 4})) << "the scratch register is untouched";
}

TEST_F(PcTestdevTest, IrqLinesDriveIoapicPinsWithIrq0OnPin2) {
  program_pin(10, 0x50);
  program_pin(2, 0x52);
  program_pin(17, 0x57);
  set_line(10, 1);
  EXPECT_TRUE(pending(0x50));
  set_line(10, 7);
  EXPECT_FALSE(pending(0x50)) << "still high: no new edge";
  set_line(10, 0);
  set_line(10, 1);
  EXPECT_TRUE(pending(0x50));
  set_line(0, 1);
  EXPECT_TRUE(pending(0x52)) << "ISA IRQ 0 is IOAPIC pin 2";
  set_line(17, 1);
  EXPECT_TRUE(pending(0x57));
}

TEST_F(PcTestdevTest, IrqLinesTakeSingleBytesOnly) {
  program_pin(10, 0x50);
  const uint8_t wide[2] = {1, 1};
  testdev.irq_lines().write(Access{10, PcTestdev::kIrqLineBase + 10, 0}, wide);
  EXPECT_FALSE(pending(0x50));
  const uint8_t byte[1] = {1};
  testdev.irq_lines().write(Access{PcTestdev::kIrqLineCount, PcTestdev::kIrqLineBase + PcTestdev::kIrqLineCount, 0}, byte);
  EXPECT_FALSE(pending(0x50));
}

TEST_F(PcTestdevTest, IomemKeepsWhatIsWrittenAndStopsAtItsEnd) {
  const std::vector<uint8_t> word{1, 2, 3, 4, 5, 6, 7, 8};
  testdev.iomem().write(Access{0x100, PcTestdev::kIomemBase + 0x100, 0}, word);
  std::vector<uint8_t> back(8);
  testdev.iomem().read(Access{0x100, PcTestdev::kIomemBase + 0x100, 0}, back);
  EXPECT_EQ(back, word);
  const uint64_t last = PcTestdev::kIomemSize - 2;
  testdev.iomem().write(Access{last, PcTestdev::kIomemBase + last, 0}, word);  // straddles the end
  std::vector<uint8_t> tail(8, 0);
  testdev.iomem().read(Access{last, PcTestdev::kIomemBase + last, 0}, tail);
  EXPECT_EQ(tail, (std::vector<uint8_t>{1, 2, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace ember
