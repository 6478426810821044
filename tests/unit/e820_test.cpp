#include "boot/e820.h"

#include <gtest/gtest.h>

namespace ember::boot {
namespace {

TEST(E820, ReservesTheLegacyHoleBelow1MiB) {
  const auto memory = GuestMemory::create(ram_regions_for(64 << 20)).value();
  const auto map = e820_map(memory);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(uint64_t{map[0].address}, 0u);
  EXPECT_EQ(uint64_t{map[0].size}, 0x9fc00u);
  EXPECT_EQ(uint64_t{map[0].type}, kE820Ram);
  EXPECT_EQ(uint64_t{map[1].address}, 0x9fc00u);
  EXPECT_EQ(uint64_t{map[1].address + map[1].size}, 0x100000u);
  EXPECT_EQ(uint64_t{map[1].type}, kE820Reserved);
  EXPECT_EQ(uint64_t{map[2].address}, 0x100000u);
  EXPECT_EQ(uint64_t{map[2].address + map[2].size}, 64u << 20);
  EXPECT_EQ(uint64_t{map[2].type}, kE820Ram);
}

TEST(E820, RamAboveTheMmioHoleIsItsOwnEntry) {
  const auto memory = GuestMemory::create(ram_regions_for(3200ull << 20)).value();
  const auto map = e820_map(memory);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(uint64_t{map[2].address + map[2].size}, kMmioHoleStart);
  EXPECT_EQ(uint64_t{map[3].address}, kMmioHoleEnd);
  EXPECT_EQ(uint64_t{map[3].size}, (3200ull << 20) - kMmioHoleStart);
}

}  // namespace
}  // namespace ember::boot
