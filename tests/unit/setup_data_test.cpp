#include "boot/setup_data.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "boot/boot_params.h"
#include "boot/layout.h"

namespace ember::boot {
namespace {

GuestMemory memory_of(uint64_t bytes) { return std::move(GuestMemory::create(ram_regions_for(bytes)).value()); }

uint64_t chain_head(const GuestMemory& memory) {
  return memory.read_object<BootParams>(layout::kZeroPage).value().hdr.setup_data;
}

struct Node {
  uint64_t             next;
  uint32_t             type;
  std::vector<uint8_t> data;
};

// Reads a node as the kernel's parse_setup_data does: next, type, len, data.
Node read_node(const GuestMemory& memory, uint64_t address) {
  Node node{memory.read_object<uint64_t>(address).value(), memory.read_object<uint32_t>(address + 8).value(), {}};
  node.data.resize(memory.read_object<uint32_t>(address + 12).value());
  EXPECT_TRUE(memory.read(address + 16, node.data));
  return node;
}

TEST(SetupData, TheNodeBecomesTheChainHeadWithItsTypeLengthAndBytes) {
  const auto memory = memory_of(16 << 20);
  ASSERT_TRUE(memory.write_object(layout::kZeroPage, BootParams{}));
  const std::vector<uint8_t> tree{0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3};
  ASSERT_TRUE(add_setup_data(memory, layout::kZeroPage, layout::kSetupData, layout::kEbdaStart, kSetupDtb, tree).ok());

  EXPECT_EQ(chain_head(memory), layout::kSetupData);
  const auto node = read_node(memory, layout::kSetupData);
  EXPECT_EQ(node.next, 0u);  // the chain was empty
  EXPECT_EQ(node.type, 2u);  // SETUP_DTB in bootparam.h
  EXPECT_EQ(node.data, tree);
}

TEST(SetupData, AnExistingChainIsKeptBehindTheNewNode) {
  const auto memory = memory_of(16 << 20);
  BootParams params{};
  params.hdr.setup_data = 0x40000;
  ASSERT_TRUE(memory.write_object(layout::kZeroPage, params));
  const std::vector<uint8_t> payload(100, 0xab);
  ASSERT_TRUE(add_setup_data(memory, layout::kZeroPage, layout::kSetupData, 0x40000, kSetupDtb, payload).ok());
  EXPECT_EQ(chain_head(memory), layout::kSetupData);
  EXPECT_EQ(read_node(memory, layout::kSetupData).next, 0x40000u);
}

TEST(SetupData, APayloadThatDoesNotFitBeforeTheLimitIsRefusedAndNothingIsLinked) {
  const auto memory = memory_of(16 << 20);
  ASSERT_TRUE(memory.write_object(layout::kZeroPage, BootParams{}));
  const std::vector<uint8_t> payload(0x1000 - 16 + 1);  // one byte more than a 4 KiB area holds
  const auto added = add_setup_data(memory, layout::kZeroPage, 0x30000, 0x31000, kSetupDtb, payload);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, LoadFault::kDoesNotFit) << added.error().message;
  EXPECT_EQ(chain_head(memory), 0u);

  const std::vector<uint8_t> exact(0x1000 - 16);
  EXPECT_TRUE(add_setup_data(memory, layout::kZeroPage, 0x30000, 0x31000, kSetupDtb, exact).ok());
}

TEST(SetupData, ANodeOutsideRamIsAnError) {
  const auto memory = memory_of(1 << 20);
  ASSERT_TRUE(memory.write_object(layout::kZeroPage, BootParams{}));
  const std::vector<uint8_t> payload(16);
  const auto added = add_setup_data(memory, layout::kZeroPage, 0x200000, 0x300000, kSetupDtb, payload);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, LoadFault::kDoesNotFit) << added.error().message;
  EXPECT_EQ(chain_head(memory), 0u);
}

}  // namespace
}  // namespace ember::boot
