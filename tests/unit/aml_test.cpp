#include "boot/aml.h"

#include <gtest/gtest.h>

namespace ember::aml {
namespace {

using B = Bytes;

TEST(Aml, PackageLengthUsesOneToFourBytes) {
  // ACPI 6.5 20.2.4: the length counts its own bytes.
  EXPECT_EQ(package_length(0), (B{0x01}));
  EXPECT_EQ(package_length(62), (B{0x3f}));
  // 63 content bytes + 2 = 65 = 0x41: lead 0x40 | 1, then 0x41 >> 4.
  EXPECT_EQ(package_length(63), (B{0x41, 0x04}));
  EXPECT_EQ(package_length(4093), (B{0x4f, 0xff}));        // 4095, the most two bytes hold
  EXPECT_EQ(package_length(4094), (B{0x81, 0x00, 0x01}));  // 4097 = 0x1001
  EXPECT_EQ(package_length((1u << 20) - 4), (B{0x8f, 0xff, 0xff}));        // 0xfffff, the most three bytes hold
  EXPECT_EQ(package_length((1u << 20) - 3), (B{0xc1, 0x00, 0x00, 0x01}));  // 0x100001
}

TEST(Aml, NameStringsPadSegmentsAndPrefixPaths) {
  EXPECT_EQ(name_string("_HID"), (B{'_', 'H', 'I', 'D'}));
  EXPECT_EQ(name_string("_S5"), (B{'_', 'S', '5', '_'}));
  EXPECT_EQ(name_string("\\_SB"), (B{'\\', '_', 'S', 'B', '_'}));
  EXPECT_EQ(name_string("\\_SB.PCI0"), (B{'\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}));
  EXPECT_EQ(name_string("A.B.C"), (B{0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}));
}

TEST(AmlDeathTest, InvalidNamesAreInternalErrors) {
  EXPECT_DEATH(name_string("toolong"), "internal error");
  EXPECT_DEATH(name_string("1ABC"), "internal error");
  EXPECT_DEATH(name_string("ab"), "internal error");
  EXPECT_DEATH(name_string("A."), "internal error");
  EXPECT_DEATH(eisa_id("PNP0G03"), "internal error");
}

TEST(Aml, IntegersTakeTheShortestEncoding) {
  EXPECT_EQ(integer(0), (B{0x00}));
  EXPECT_EQ(integer(1), (B{0x01}));
  EXPECT_EQ(integer(2), (B{0x0a, 0x02}));
  EXPECT_EQ(integer(0x100), (B{0x0b, 0x00, 0x01}));
  EXPECT_EQ(integer(0x10000), (B{0x0c, 0x00, 0x00, 0x01, 0x00}));
  EXPECT_EQ(integer(0x100000000), (B{0x0e, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(Aml, EisaIdMatchesTheCompressedFormIaslWrites) {
  EXPECT_EQ(eisa_id("PNP0A03"), (B{0x0c, 0x41, 0xd0, 0x0a, 0x03}));  // 0x030AD041
  EXPECT_EQ(eisa_id("PNP0501"), (B{0x0c, 0x41, 0xd0, 0x05, 0x01}));
}

TEST(Aml, StringsAreNulTerminated) { EXPECT_EQ(string("AB"), (B{0x0d, 'A', 'B', 0})); }

TEST(Aml, DeviceWithNameAndBuffer) {
  // Device (DEV0) { Name (_UID, One) }: ExtOp 0x82, PkgLength, name, term.
  EXPECT_EQ(device("DEV0", {name("_UID", integer(1))}),
            (B{0x5b, 0x82, 0x0b, 'D', 'E', 'V', '0', 0x08, '_', 'U', 'I', 'D', 0x01}));
  EXPECT_EQ(buffer({0xaa, 0xbb}), (B{0x11, 0x05, 0x0a, 0x02, 0xaa, 0xbb}));
  EXPECT_EQ(package({integer(5), integer(0)}), (B{0x12, 0x05, 0x02, 0x0a, 0x05, 0x00}));
}

TEST(Aml, ResourceDescriptorsHaveTheirSpecifiedLayouts) {
  using namespace resource;
  EXPECT_EQ(io_port(0x3f8, 8), (B{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08}));
  EXPECT_EQ(irq_no_flags(4), (B{0x22, 0x10, 0x00}));
  EXPECT_EQ(memory32_fixed(0xd0000000, 0x1000), (B{0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xd0, 0, 0x10, 0, 0}));
  EXPECT_EQ(interrupt(16, Trigger::Level), (B{0x89, 0x06, 0x00, 0x01, 0x01, 16, 0, 0, 0}));
  EXPECT_EQ(interrupt(5, Trigger::Edge), (B{0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0}));
  const B bus = bus_number_range(0, 0);
  ASSERT_EQ(bus.size(), 16u);
  EXPECT_EQ(bus[0], 0x88);
  EXPECT_EQ(bus[3], 2) << "resource type: bus number";
  EXPECT_EQ(bus[14], 1) << "length: one bus";
  const B memory = memory_range(0xe0000000, 0xe0ffffff);
  ASSERT_EQ(memory.size(), 26u);
  EXPECT_EQ(memory[0], 0x87);
  EXPECT_EQ(memory[22] | memory[23] << 8 | memory[24] << 16 | memory[25] << 24, 0x01000000);
  EXPECT_EQ(template_of({irq_no_flags(4)}), (B{0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00}));
}

}  // namespace
}  // namespace ember::aml
