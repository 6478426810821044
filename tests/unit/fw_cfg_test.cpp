#include "devices/fw_cfg.h"

#include <endian.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "memory/memory_map.h"

namespace ember {
namespace {

class FwCfgTest : public ::testing::Test {
 protected:
  GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  FwCfg       device{memory};

  void select(uint16_t key) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(key), static_cast<uint8_t>(key >> 8)};
    device.write({0, FwCfg::kBasePort, 0}, bytes);
  }
  std::vector<uint8_t> read_data(size_t count) {
    std::vector<uint8_t> out(count);
    for (auto& byte : out) device.read({1, FwCfg::kBasePort + 1, 0}, std::span{&byte, 1});
    return out;
  }
  void write32(uint64_t offset, uint32_t value) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value >> 16),
                              static_cast<uint8_t>(value >> 24)};
    device.write({offset, FwCfg::kBasePort + offset, 0}, bytes);
  }
  // Writes a FWCfgDmaAccess at `at` and starts it; returns the control word after.
  uint32_t dma(uint64_t at, uint32_t control, uint32_t length, uint64_t address) {
    struct {
      uint32_t control, length;
      uint64_t address;
    } access{htobe32(control), htobe32(length), htobe64(address)};
    EXPECT_TRUE(memory.write_object(at, access));
    write32(4, htobe32(static_cast<uint32_t>(at >> 32)));
    write32(8, htobe32(static_cast<uint32_t>(at)));
    return be32toh(memory.read_object<uint32_t>(at).value());
  }
};

TEST_F(FwCfgTest, SignatureAndIdThroughThePorts) {
  select(FwCfg::kSignature);
  EXPECT_EQ(read_data(4), (std::vector<uint8_t>{'Q', 'E', 'M', 'U'}));
  select(FwCfg::kId);
  EXPECT_EQ(read_data(4), (std::vector<uint8_t>{3, 0, 0, 0})) << "traditional interface and DMA";
}

TEST_F(FwCfgTest, ReadsPastTheEndAndUnknownKeysGiveZeros) {
  device.add_item(FwCfg::kNbCpus, {4, 0});
  select(FwCfg::kNbCpus);
  EXPECT_EQ(read_data(4), (std::vector<uint8_t>{4, 0, 0, 0}));
  select(0x1234);
  EXPECT_EQ(read_data(3), (std::vector<uint8_t>{0, 0, 0}));
}

TEST_F(FwCfgTest, SelectingRestartsTheItem) {
  select(FwCfg::kSignature);
  read_data(2);
  select(FwCfg::kSignature);
  EXPECT_EQ(read_data(1), (std::vector<uint8_t>{'Q'}));
}

TEST_F(FwCfgTest, DmaPortReadsTheSignature) {
  std::vector<uint8_t> bytes(8);
  for (size_t i = 0; i < 8; ++i) device.read({4 + i, FwCfg::kBasePort + 4 + i, 0}, std::span{&bytes[i], 1});
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "QEMU CFG");
}

TEST_F(FwCfgTest, FileDirectoryListsFilesSortedWithBigEndianFields) {
  ASSERT_TRUE(device.add_file("opt/zeta", {1, 2, 3}).ok());
  ASSERT_TRUE(device.add_file("etc/e820", std::vector<uint8_t>(40)).ok());
  select(FwCfg::kFileDirectory);
  const auto dir = read_data(4 + 2 * 64);
  EXPECT_EQ(dir[3], 2);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&dir[4 + 8])), "etc/e820");
  EXPECT_EQ(dir[4 + 3], 40) << "size, big-endian";
  EXPECT_EQ((dir[4 + 4] << 8) | dir[4 + 5], FwCfg::kFirstFile + 1) << "selector of the second file added";
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&dir[4 + 64 + 8])), "opt/zeta");
  select(static_cast<uint16_t>(FwCfg::kFirstFile));
  EXPECT_EQ(read_data(3), (std::vector<uint8_t>{1, 2, 3}));
}

TEST_F(FwCfgTest, FileNamesAreChecked) {
  EXPECT_FALSE(device.add_file("", {}).ok());
  EXPECT_FALSE(device.add_file(std::string(56, 'x'), {}).ok());
  ASSERT_TRUE(device.add_file("opt/a", {}).ok());
  EXPECT_FALSE(device.add_file("opt/a", {}).ok()) << "duplicate";
}

TEST_F(FwCfgTest, DmaReadSelectsCopiesAndZeroFillsPastTheEnd) {
  device.add_item(FwCfg::kRamSize, {1, 2, 3, 4, 5, 6, 7, 8});
  ASSERT_TRUE(memory.write(0x3000, std::vector<uint8_t>(16, 0xee)));
  const uint32_t control = (uint32_t{FwCfg::kRamSize} << 16) | 0x08 | 0x02;
  EXPECT_EQ(dma(0x2000, control, 12, 0x3000), 0u);
  std::vector<uint8_t> out(16);
  ASSERT_TRUE(memory.read(0x3000, out));
  EXPECT_EQ(out, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0xee, 0xee, 0xee, 0xee}));
}

TEST_F(FwCfgTest, DmaSkipAdvancesAndReadContinues) {
  select(FwCfg::kSignature);
  EXPECT_EQ(dma(0x2000, 0x04, 2, 0), 0u);
  EXPECT_EQ(dma(0x2000, 0x02, 2, 0x3000), 0u);
  EXPECT_EQ(memory.read_object<uint16_t>(0x3000), 'M' | ('U' << 8));
}

TEST_F(FwCfgTest, DmaToAddressesOutsideRamFailsWithoutWriting) {
  const uint32_t control = (uint32_t{FwCfg::kSignature} << 16) | 0x08 | 0x02;
  EXPECT_EQ(dma(0x2000, control, 16, (16u << 20) - 8), 1u) << "error bit";
  EXPECT_EQ(dma(0x2000, control, 0xffffffff, 0x3000), 1u) << "a 4 GiB transfer into 16 MiB";
}

TEST_F(FwCfgTest, DmaWritesAreRefused) {
  EXPECT_EQ(dma(0x2000, (uint32_t{FwCfg::kSignature} << 16) | 0x08 | 0x10, 4, 0x3000), 1u);
}

TEST_F(FwCfgTest, DescriptorOutsideRamIsIgnored) {
  write32(4, 0);
  write32(8, htobe32(0x7fff0000));  // beyond 16 MiB: nothing to read or write back
  select(FwCfg::kSignature);
  EXPECT_EQ(read_data(1), (std::vector<uint8_t>{'Q'}));
}

}  // namespace
}  // namespace ember
