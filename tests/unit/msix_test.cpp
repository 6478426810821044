// MSI-X (PCI Local Bus 3.0, 6.8.2) on its own: entries start masked, a
// vector sent while masked waits in the PBA and goes when unmasked, and
// nothing is sent while MSI-X is disabled.
#include "pci/msix.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

constexpr uint32_t kTable = 0x4000, kPba = 0x5000;

class MsixTest : public ::testing::Test {
 protected:
  void write_control(uint16_t control) {
    std::array<uint8_t, 2> bytes{static_cast<uint8_t>(control), static_cast<uint8_t>(control >> 8)};
    config_.write(control_offset(), bytes);
    msix_.config_written(control_offset(), 2);
  }
  uint32_t control_offset() {
    // The capability list's first entry is MSI-X's.
    std::array<uint8_t, 1> pointer{};
    config_.read(PciConfigSpace::kCapabilitiesPointer, pointer);
    return pointer[0] + 2u;
  }
  std::optional<const char*> write32(uint64_t offset, uint32_t value) {
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &value, 4);
    return msix_.bar_access(offset, bytes, true);
  }
  uint64_t read_pba() {
    std::array<uint8_t, 8> bytes{};
    EXPECT_EQ(msix_.bar_access(kPba, bytes, false), std::optional<const char*>{nullptr});
    uint64_t bits = 0;
    std::memcpy(&bits, bytes.data(), 8);
    return bits;
  }

  PciConfigSpace     config_{0x1af4, 0x1042, 0x010000, 1};
  test::RecordingMsi msi_;
  Msix               msix_{config_, msi_, 3, kTable, kPba};
};

TEST_F(MsixTest, TheCapabilityGivesTheTableSizeAndWhereTableAndPbaAre) {
  std::array<uint8_t, 12> capability{};
  config_.read(control_offset() - 2, capability);
  EXPECT_EQ(capability[0], 0x11);
  EXPECT_EQ(capability[2] | capability[3] << 8, 2) << "table size - 1";
  uint32_t table = 0, pba = 0;
  std::memcpy(&table, &capability[4], 4);
  std::memcpy(&pba, &capability[8], 4);
  EXPECT_EQ(table, kTable);
  EXPECT_EQ(pba, kPba);
}

TEST_F(MsixTest, NothingIsSentWhileDisabledAndMaskedVectorsWaitInThePba) {
  ASSERT_EQ(write32(kTable + 16, 0xfee00000), std::optional<const char*>{nullptr});  // vector 1's address
  ASSERT_EQ(write32(kTable + 16 + 8, 0x41), std::optional<const char*>{nullptr});    // its data: vector 0x41
  msix_.send(1);
  EXPECT_TRUE(msi_.sent().empty()) << "MSI-X disabled: the driver polls";
  EXPECT_EQ(read_pba(), 0u);

  write_control(0x8000);  // enabled; entry 1 still masked, as every entry starts
  msix_.send(1);
  EXPECT_TRUE(msi_.sent().empty());
  EXPECT_EQ(read_pba(), 0b010u);
  ASSERT_EQ(write32(kTable + 16 + 12, 0), std::optional<const char*>{nullptr});  // unmask
  ASSERT_EQ(msi_.sent().size(), 1u);
  EXPECT_EQ(msi_.sent()[0], std::make_pair(uint64_t{0xfee00000}, uint32_t{0x41}));
  EXPECT_EQ(read_pba(), 0u);

  write_control(0xc000);  // function mask
  msix_.send(1);
  EXPECT_EQ(msi_.sent().size(), 1u);
  write_control(0x8000);
  EXPECT_EQ(msi_.sent().size(), 2u) << "the pending vector goes when the function is unmasked";
  msix_.send(7);
  EXPECT_EQ(msi_.sent().size(), 2u) << "no vector beyond the table";
}

TEST_F(MsixTest, AccessesOutsideTheRulesAreRefusedAndOthersAreNotOurs) {
  std::array<uint8_t, 2> two{};
  EXPECT_STREQ(msix_.bar_access(kTable, two, false).value(), "MSI-X table entries take aligned 32-bit accesses");
  EXPECT_STREQ(write32(kPba, 1).value(), "the PBA is read-only");
  std::array<uint8_t, 4> four{};
  EXPECT_FALSE(msix_.bar_access(kTable + 3 * 16, four, false).has_value()) << "past the table";
  EXPECT_FALSE(msix_.bar_access(0x1000, four, false).has_value());
}

TEST_F(MsixTest, OnlyAnUnmaskedNmiOrInitEntryRoutesWakeEvents) {
  write_control(0x8000);
  ASSERT_EQ(write32(kTable + 8, 0x400), std::optional<const char*>{nullptr});  // delivery mode 4: NMI
  EXPECT_FALSE(msix_.routes_wake_events()) << "masked";
  ASSERT_EQ(write32(kTable + 12, 0), std::optional<const char*>{nullptr});
  EXPECT_TRUE(msix_.routes_wake_events());
  write_control(0xc000);
  EXPECT_FALSE(msix_.routes_wake_events()) << "function masked";
}

}  // namespace
}  // namespace ember
