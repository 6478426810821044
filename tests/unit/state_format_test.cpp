// The snapshot state file (snapshot/state_format.h): what is written reads
// back, and every way a file can be wrong (truncated, corrupted, another
// version, a section too short or too long, a lying value) is one clear
// refusal.
#include "snapshot/state_format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember::snapshot {
namespace {

std::vector<uint8_t> sample() {
  StateWriter writer;
  writer.section("pit").u8(3).u16(0x1234).u32(0xdeadbeef).u64(0x0123456789abcdefull).boolean(true);
  const std::vector<uint8_t> fifo{1, 2, 3};
  writer.section("uart").bytes(fifo).boolean(false);
  return writer.finish();
}

TEST(StateFormat, CrcIsCrc32c) {
  const std::string check = "123456789";  // the standard check value
  EXPECT_EQ(crc32c({reinterpret_cast<const uint8_t*>(check.data()), check.size()}), 0xe3069283u);
}

TEST(StateFormat, WhatIsWrittenReadsBack) {
  auto file = StateFile::parse(sample());
  ASSERT_TRUE(file) << file.error().message;
  auto pit = file->section("pit");
  ASSERT_TRUE(pit);
  EXPECT_EQ(pit->u8(), 3);
  EXPECT_EQ(pit->u16(), 0x1234);
  EXPECT_EQ(pit->u32(), 0xdeadbeefu);
  EXPECT_EQ(pit->u64(), 0x0123456789abcdefull);
  EXPECT_TRUE(pit->boolean());
  EXPECT_TRUE(pit->finish());
  auto uart = file->section("uart");
  ASSERT_TRUE(uart);
  EXPECT_EQ(uart->bytes(16), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(uart->boolean());
  EXPECT_TRUE(uart->finish());
  EXPECT_TRUE(file->has("pit"));
  EXPECT_FALSE(file->has("rtc"));
  EXPECT_EQ(file->section("rtc").error().message, "has no section 'rtc'");
}

TEST(StateFormat, EveryTruncationIsRefused) {
  const auto whole = sample();
  for (size_t size = 0; size < whole.size(); ++size) {
    auto file = StateFile::parse(std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<long>(size)));
    ASSERT_FALSE(file) << "a file cut to " << size << " bytes was accepted";
  }
}

TEST(StateFormat, EveryFlippedByteIsRefused) {
  const auto whole = sample();
  for (size_t at = 0; at < whole.size(); ++at) {
    auto corrupted = whole;
    corrupted[at] ^= 0x40;
    ASSERT_FALSE(StateFile::parse(std::move(corrupted))) << "a flipped byte at " << at << " went unnoticed";
  }
  auto payload_flip = whole;
  payload_flip.back() ^= 1;
  EXPECT_EQ(StateFile::parse(payload_flip).error().message, "is corrupted: its checksum does not match");
}

TEST(StateFormat, AnotherVersionIsNamed) {
  auto other = sample();
  other[8] = 7;
  EXPECT_EQ(StateFile::parse(other).error().message, "has format version 7; this ember reads version 3");
  EXPECT_EQ(StateFile::parse(std::vector<uint8_t>(40, 'x')).error().message, "is not an ember snapshot state file (no EMBERSNP header)");
}

TEST(StateFormat, ReadingPastASectionOrLeavingBytesFailsNamingIt) {
  auto file = StateFile::parse(sample());
  ASSERT_TRUE(file);
  auto uart = file->section("uart");
  (void)uart->bytes(16);
  (void)uart->boolean();
  EXPECT_EQ(uart->u64(), 0u) << "a read past the end gives zero";
  EXPECT_EQ(uart->finish().error().message, "the snapshot's section 'uart' ends early");
  auto pit = file->section("pit");
  (void)pit->u8();
  EXPECT_EQ(pit->finish().error().message, "the snapshot's section 'pit' has 15 bytes more than its fields");
}

TEST(StateFormat, LyingValuesAreRefused) {
  StateWriter writer;
  writer.section("bad").u8(2).bytes(std::vector<uint8_t>(100, 0));
  auto file = StateFile::parse(writer.finish());
  ASSERT_TRUE(file);
  auto bad = file->section("bad");
  (void)bad->boolean();
  EXPECT_EQ(bad->finish().error().message, "the snapshot's section 'bad' holds 2 where a boolean (0 or 1) belongs");
  auto again = file->section("bad");
  (void)again->u8();
  EXPECT_TRUE(again->bytes(10).empty());
  EXPECT_EQ(again->finish().error().message, "the snapshot's section 'bad' holds a byte string of 100 bytes where at most 10 belong");
  auto checked = file->section("bad");
  if (checked->u8() > 1) checked->refuse("has a mode of 2, not 0 or 1");
  EXPECT_EQ(checked->finish().error().message, "the snapshot's section 'bad' has a mode of 2, not 0 or 1");
}

TEST(StateFormat, TwoSectionsOfOneNameAreRefused) {
  StateWriter writer;
  writer.section("lapic0").u8(1);
  writer.section("lapic0").u8(2);
  EXPECT_EQ(StateFile::parse(writer.finish()).error().message, "has two sections named 'lapic0'");
}

}  // namespace
}  // namespace ember::snapshot
