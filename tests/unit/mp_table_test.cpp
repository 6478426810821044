#include "boot/mp_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

namespace ember::boot {
namespace {

std::vector<uint8_t> bytes_at(const GuestMemory& memory, uint64_t address, size_t length) {
  std::vector<uint8_t> bytes(length);
  EXPECT_TRUE(memory.read(address, bytes));
  return bytes;
}

uint8_t sum(const std::vector<uint8_t>& bytes) { return static_cast<uint8_t>(std::accumulate(bytes.begin(), bytes.end(), 0u)); }

TEST(MpTable, FloatingPointerAndConfigTableAreWellFormed) {
  const auto memory = GuestMemory::create(ram_regions_for(64 << 20)).value();
  ASSERT_TRUE(write_mp_table(memory, 4, 4).ok());

  const auto pointer = bytes_at(memory, kMpFloatingPointer, 16);
  EXPECT_EQ(std::memcmp(pointer.data(), "_MP_", 4), 0);
  EXPECT_EQ(sum(pointer), 0) << "MP spec 4.1: the bytes sum to zero";
  uint32_t config = 0;
  std::memcpy(&config, pointer.data() + 4, 4);
  EXPECT_EQ(pointer[9], 4) << "spec revision 1.4";
  EXPECT_EQ(pointer[11], 0) << "feature byte 1: a configuration table is present";

  const auto header = bytes_at(memory, config, 44);
  EXPECT_EQ(std::memcmp(header.data(), "PCMP", 4), 0);
  uint16_t length = 0, entries = 0;
  uint32_t lapic = 0;
  std::memcpy(&length, header.data() + 4, 2);
  std::memcpy(&entries, header.data() + 34, 2);
  std::memcpy(&lapic, header.data() + 36, 4);
  EXPECT_EQ(sum(bytes_at(memory, config, length)), 0) << "the whole base table sums to zero";
  EXPECT_EQ(lapic, 0xfee00000u);
  EXPECT_EQ(entries, 4 + 1 + 1 + 16 + 8 + 2);

  // Walk the entries: processors first, VCPU 0 the BSP.
  const auto table = bytes_at(memory, config, length);
  size_t offset = 44;
  unsigned processors = 0, ioapics = 0, irqs = 0;
  for (unsigned i = 0; i < entries; ++i) {
    ASSERT_LT(offset, table.size());
    const uint8_t type = table[offset];
    if (type == 0) {
      EXPECT_EQ(table[offset + 1], processors) << "APIC ID = VCPU index";
      EXPECT_EQ(table[offset + 3], processors == 0 ? 3 : 1) << "enabled, BSP flag on VCPU 0 only";
      ++processors;
      offset += 20;
    } else {
      if (type == 2) {
        ++ioapics;
        EXPECT_EQ(table[offset + 1], 4) << "IOAPIC ID";
      }
      if (type == 3) {
        EXPECT_EQ(table[offset + 7], table[offset + 5] == 0 ? 2 : table[offset + 5]) << "ISA IRQ 0 on pin 2, others identity";
        uint16_t flags;
        std::memcpy(&flags, table.data() + offset + 2, 2);
        // Pins 16-23 (virtio-mmio) are level-triggered, active high; ISA IRQs conform to the bus.
        EXPECT_EQ(flags, table[offset + 7] >= 16 ? 0x0d : 0) << "pin " << int{table[offset + 7]};
        ++irqs;
      }
      offset += 8;
    }
  }
  EXPECT_EQ(processors, 4u);
  EXPECT_EQ(ioapics, 1u);
  EXPECT_EQ(irqs, 16u + 8u);
  EXPECT_EQ(offset, length);
}

}  // namespace
}  // namespace ember::boot
