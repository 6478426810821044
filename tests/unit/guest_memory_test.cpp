#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>

namespace ember {
namespace {

// Whether the page at `address` is mapped at all (msync fails with ENOMEM
// on an unmapped range).
bool is_mapped(const uint8_t* address) {
  return ::msync(const_cast<uint8_t*>(address), 4096, MS_ASYNC) == 0;
}

GuestMemory two_regions() {
  // [0, 64 KiB) and [1 MiB, 1 MiB + 64 KiB): a hole between them.
  auto memory = GuestMemory::create({{0, 0x10000}, {0x100000, 0x10000}});
  EXPECT_TRUE(memory.ok());
  return std::move(memory.value());
}

TEST(GuestMemory, SliceInsideARegion) {
  const auto memory = two_regions();
  EXPECT_EQ(memory.slice(0, 0x10000).size(), 0x10000u);
  EXPECT_EQ(memory.slice(0x10ff00, 0x100).size(), 0x100u);
}

TEST(GuestMemory, SliceRefusesRangesPastTheEnd) {
  const auto memory = two_regions();
  EXPECT_TRUE(memory.slice(0xffff, 2).empty());
  EXPECT_TRUE(memory.slice(0x110000, 1).empty());
  EXPECT_TRUE(memory.slice(0x10ffff, 2).empty());
}

TEST(GuestMemory, SliceRefusesRangesStraddlingAHole) {
  const auto memory = two_regions();
  EXPECT_TRUE(memory.slice(0xff00, 0x100000).empty());
  EXPECT_TRUE(memory.slice(0x50000, 1).empty()) << "inside the hole";
}

TEST(GuestMemory, SliceRefusesRangesWrapping2To64) {
  const auto memory = two_regions();
  EXPECT_TRUE(memory.slice(UINT64_MAX, 2).empty());
  EXPECT_TRUE(memory.slice(0x100, UINT64_MAX).empty());
  EXPECT_TRUE(memory.slice(0x100, 0xffffffffull).empty()) << "length 0xFFFFFFFF";
}

TEST(GuestMemory, ZeroLengthSliceIsEmptyAndNotContained) {
  const auto memory = two_regions();
  EXPECT_TRUE(memory.slice(0x100, 0).empty());
  EXPECT_FALSE(memory.contains(0x100, 0));
}

TEST(GuestMemory, ReadBackWhatWasWritten) {
  const auto memory = two_regions();
  ASSERT_TRUE(memory.write_object<uint64_t>(0x100ff8, 0x1122334455667788ull));
  EXPECT_EQ(memory.read_object<uint64_t>(0x100ff8), 0x1122334455667788ull);
  EXPECT_FALSE(memory.write_object<uint64_t>(0x10fffc, 1)) << "would run past the region";
  EXPECT_FALSE(memory.read_object<uint64_t>(0x10fffc).has_value());
}

TEST(GuestMemory, FreshMemoryReadsAsZero) {
  const auto memory = two_regions();
  std::array<uint8_t, 16> bytes{};
  bytes.fill(0xff);
  ASSERT_TRUE(memory.read(0x1234, bytes));
  for (auto byte : bytes) EXPECT_EQ(byte, 0);
}

TEST(GuestMemory, RefusesUnalignedOrEmptyRegions) {
  EXPECT_FALSE(GuestMemory::create({{0, 0}}).ok());
  EXPECT_FALSE(GuestMemory::create({{0, 0x1001}}).ok());
  EXPECT_FALSE(GuestMemory::create({{0x800, 0x1000}}).ok());
}

TEST(GuestMemory, TotalSizeAndEnd) {
  const auto memory = two_regions();
  EXPECT_EQ(memory.total_size(), 0x20000u);
  EXPECT_EQ(memory.end(), 0x110000u);
}

TEST(GuestMemory, GuardPagesSurroundEachRegion) {
  const auto memory = two_regions();
  const auto* first = memory.regions()[0].host;
  const auto region_size = memory.regions()[0].size;
  // The bytes just outside must be inaccessible: touching them kills the process.
  EXPECT_DEATH({ [[maybe_unused]] volatile uint8_t byte = first[-1]; }, "");
  EXPECT_DEATH({ [[maybe_unused]] volatile uint8_t byte = first[region_size]; }, "");
}

// Host and guest addresses agree modulo 2 MiB, so transparent huge pages
// can back the RAM and KVM can map them whole; the guard pages stay.
TEST(GuestMemory, RegionsStartOnTwoMebibyteBoundariesBetweenGuardPages) {
  for (const auto sharing : {GuestMemory::Sharing::kPrivate, GuestMemory::Sharing::kShareable}) {
    auto memory = GuestMemory::create({{0, 4 << 20}, {uint64_t{1} << 32, 2 << 20}}, sharing);
    ASSERT_TRUE(memory.ok()) << memory.error().message;
    for (const auto& region : memory->regions()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(region.host) % (2 << 20), 0u);
      // The alignment's slack was given back: nothing of ember's mapping
      // lies beyond the guard pages.
      EXPECT_FALSE(is_mapped(region.host - 2 * 4096));
      EXPECT_FALSE(is_mapped(region.host + region.size + 4096));
      EXPECT_DEATH({ [[maybe_unused]] volatile uint8_t byte = region.host[-1]; }, "");
      EXPECT_DEATH({ [[maybe_unused]] volatile uint8_t byte = region.host[region.size]; }, "");
    }
    EXPECT_TRUE(memory->write_object(uint64_t{1} << 32, uint32_t{0x12345678}));
    EXPECT_EQ(memory->read_object<uint32_t>(uint64_t{1} << 32), 0x12345678u);
  }
}

TEST(MemoryMap, SmallRamIsOneRegionFromZero) {
  EXPECT_EQ(ram_regions_for(128ull << 20), (std::vector<RamRegion>{{0, 128ull << 20}}));
}

TEST(MemoryMap, RamBeyondTheHoleMovesAbove4GiB) {
  const uint64_t four_gib = 4ull << 30;
  EXPECT_EQ(ram_regions_for(four_gib),
            (std::vector<RamRegion>{{0, kMmioHoleStart}, {kMmioHoleEnd, four_gib - kMmioHoleStart}}));
  EXPECT_EQ(ram_regions_for(kMmioHoleStart), (std::vector<RamRegion>{{0, kMmioHoleStart}}));
}

}  // namespace
// vhost-user backends map guest RAM from the region's memfd: what ember
// writes through the slice is what the file holds, and the other way round.
TEST(GuestMemory, ShareableRegionsAreMemfdsBothSidesSee) {
  auto memory = GuestMemory::create({{0, 2 << 20}}, GuestMemory::Sharing::kShareable);
  ASSERT_TRUE(memory) << memory.error().message;
  const auto& region = memory->regions().at(0);
  ASSERT_GE(region.fd, 0);
  ASSERT_TRUE(memory->write_object<uint32_t>(0x1000, 0xfeedf00d));
  uint32_t seen = 0;
  ASSERT_EQ(::pread(region.fd, &seen, sizeof seen, 0x1000), 4);
  EXPECT_EQ(seen, 0xfeedf00du);
  const uint32_t written = 0x12345678;
  ASSERT_EQ(::pwrite(region.fd, &written, sizeof written, 0x2000), 4);
  EXPECT_EQ(memory->read_object<uint32_t>(0x2000), 0x12345678u);
  auto private_memory = GuestMemory::create({{0, 2 << 20}});
  EXPECT_EQ(private_memory->regions().at(0).fd, -1);
}

}  // namespace ember
